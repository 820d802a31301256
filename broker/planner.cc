#include "broker/planner.h"

#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "base/status.h"

namespace tether::broker {
namespace {

bool HasEffective(const ipc::Hello& hello, int cap) { return (hello.caps.effective >> cap) & 1; }

bool AllIds(const ipc::IdTriple& ids, uint32_t id) {
  return ids.real == id && ids.effective == id && ids.saved == id;
}

std::vector<uint32_t> Sorted(std::vector<uint32_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

PlannedStep MakeStep(Mechanism mechanism, ipc::Action action, ipc::Disposition disposition,
                     std::string reason) {
  PlannedStep planned;
  planned.mechanism = mechanism;
  planned.reason = std::move(reason);
  planned.step.action = action;
  planned.step.disposition = disposition;
  return planned;
}

PlannedStep Enforce(Mechanism mechanism, ipc::Action action, std::string reason) {
  return MakeStep(mechanism, action, ipc::Disposition::kEnforce, std::move(reason));
}

PlannedStep Skip(Mechanism mechanism, ipc::Action action, std::string reason) {
  return MakeStep(mechanism, action, ipc::Disposition::kSkipAlreadySatisfied, std::move(reason));
}

PlannedStep BestEffort(Mechanism mechanism, ipc::Action action, std::string reason,
                       std::vector<int32_t> tolerate) {
  PlannedStep planned =
      MakeStep(mechanism, action, ipc::Disposition::kBestEffort, std::move(reason));
  planned.step.tolerate_errnos = std::move(tolerate);
  return planned;
}

absl::Status Refuse(Mechanism mechanism, absl::string_view why) {
  return MechanismError(mechanism, absl::StatusCode::kFailedPrecondition, why);
}

// --- The steps, in bootstrap order ------------------------------------------

// Without Landlock only best effort goes on, with the filesystem open.
absl::Status PlanLandlockAvailability(const PlanInput& input, Plan* plan) {
  const ipc::Hello& hello = input.hello;
  if (hello.landlock_abi > 0) return absl::OkStatus();
  std::string why =
      absl::StrCat("the kernel does not offer Landlock (errno ", hello.landlock_errno, ")");
  if (!input.enforcement.best_effort(Mechanism::kLandlock)) {
    return Refuse(Mechanism::kLandlock, absl::StrCat(why, " and it is a hard requirement"));
  }
  plan->left_out.push_back(
      {Mechanism::kLandlock, MechanismState::kUnavailable,
       absl::StrCat("best effort: ", why, "; the filesystem is not restricted"),
       hello.landlock_errno});
  return absl::OkStatus();
}

// First: clearing the bounding set needs CAP_SETPCAP, which the uid change drops.
absl::Status PlanBoundingSet(const PlanInput& input, Plan* plan) {
  const ipc::Hello& hello = input.hello;
  if (hello.caps.bounding == 0) {
    plan->steps.push_back(Skip(Mechanism::kBoundingSet, ipc::Action::kClearBoundingSet,
                               input.bounding_set_cleared_at_clone
                                   ? "bounding set already empty: cleared in the sandbox's user "
                                     "namespace before the stub ran"
                                   : "bounding set already empty"));
    return absl::OkStatus();
  }
  if (HasEffective(hello, CAP_SETPCAP) && input.bounding_set_probe.ok) {
    plan->steps.push_back(Enforce(Mechanism::kBoundingSet, ipc::Action::kClearBoundingSet,
                                  "clear every capability from the bounding set"));
    return absl::OkStatus();
  }
  std::string why = !HasEffective(hello, CAP_SETPCAP) ? std::string("the stub lacks CAP_SETPCAP")
                                                      : input.bounding_set_probe.evidence;
  if (!input.enforcement.best_effort(Mechanism::kBoundingSet)) {
    return Refuse(Mechanism::kBoundingSet,
                  absl::StrCat("the bounding set is not empty and cannot be cleared: ", why));
  }
  plan->steps.push_back(BestEffort(Mechanism::kBoundingSet, ipc::Action::kClearBoundingSet,
                                   absl::StrCat("best effort: ", why), {EPERM}));
  return absl::OkStatus();
}

// Joining a network namespace needs CAP_SYS_ADMIN: before the uid change.
absl::Status PlanNetwork(const PlanInput& input, Plan* plan) {
  const ipc::Hello& hello = input.hello;
  if (input.network_mode == NetworkMode::kHost) {
    plan->left_out.push_back({Mechanism::kNetworkNamespace, MechanismState::kNotRequested,
                              "network mode host: the workload shares the host network", 0});
    return absl::OkStatus();
  }
  if (input.network.ok && input.network_made_at_clone) {
    plan->steps.push_back(Skip(Mechanism::kNetworkNamespace, ipc::Action::kJoinNetworkNamespace,
                               absl::StrCat("network mode ", NetworkModeName(input.network_mode),
                                            ": the stub was cloned into the sandbox's own "
                                            "namespace, loopback only")));
    return absl::OkStatus();
  }
  if (input.network.ok && HasEffective(hello, CAP_SYS_ADMIN)) {
    PlannedStep join = Enforce(Mechanism::kNetworkNamespace, ipc::Action::kJoinNetworkNamespace,
                               absl::StrCat("network mode ", NetworkModeName(input.network_mode),
                                            ": join the broker's namespace, loopback only"));
    join.step.fd_index = kNetworkNamespaceFdIndex;
    plan->steps.push_back(join);
    return absl::OkStatus();
  }
  ProbeResult why =
      input.network.ok
          ? ProbeResult{false, EPERM, "the stub lacks CAP_SYS_ADMIN to join a network namespace"}
          : input.network;
  if (input.network_mode == NetworkMode::kAuto ||
      input.enforcement.best_effort(Mechanism::kNetworkNamespace)) {
    plan->left_out.push_back(
        {Mechanism::kNetworkNamespace, MechanismState::kDegraded,
         absl::StrCat(input.network_mode == NetworkMode::kAuto ? "auto" : "best effort",
                      ": fell back to the host network: ", why.evidence),
         why.errno_value});
    return absl::OkStatus();
  }
  return Refuse(
      Mechanism::kNetworkNamespace,
      absl::StrCat("network mode isolated, but ",
                   input.network.ok ? why.evidence
                                    : absl::StrCat("the broker cannot make a network namespace: ",
                                                   input.network.evidence)));
}

// Either a skip (already there) or an enforce the stub has the capability
// for; otherwise strict refuses and best effort tries, tolerating EPERM.
absl::StatusOr<PlannedStep> IdentityStep(const PlanInput& input, ipc::Action action, bool at_target,
                                         int needed_cap, absl::string_view what,
                                         absl::string_view target_text) {
  const ipc::Hello& hello = input.hello;
  if (at_target) {
    return Skip(Mechanism::kPrivilegeDrop, action, absl::StrCat("already at target ", what));
  }
  if (!HasEffective(hello, needed_cap)) {
    std::string why =
        absl::StrCat("the stub runs as uid ", hello.uids.effective, " gid ", hello.gids.effective,
                     ", not at the target ", what, " ", target_text, ", and lacks ",
                     needed_cap == CAP_SETUID ? "CAP_SETUID" : "CAP_SETGID", " to change it");
    if (!input.enforcement.best_effort(Mechanism::kPrivilegeDrop)) {
      return Refuse(Mechanism::kPrivilegeDrop, why);
    }
    return BestEffort(Mechanism::kPrivilegeDrop, action, absl::StrCat("best effort: ", why),
                      {EPERM});
  }
  return Enforce(Mechanism::kPrivilegeDrop, action,
                 absl::StrCat("change ", what, " to ", target_text));
}

// Groups, then gid, then uid: each change needs privileges the next drops.
absl::Status PlanIdentity(const PlanInput& input, Plan* plan) {
  const ipc::Hello& hello = input.hello;
  const TargetIdentity& target = input.target;
  std::vector<uint32_t> target_groups = Sorted(target.groups);
  ASSIGN_OR_RETURN(PlannedStep groups,
                   IdentityStep(input, ipc::Action::kSetGroups,
                                Sorted(hello.groups) == target_groups, CAP_SETGID, "groups",
                                absl::StrCat("[", absl::StrJoin(target_groups, ","), "]")));
  groups.step.groups = target_groups;
  plan->steps.push_back(groups);

  ASSIGN_OR_RETURN(PlannedStep gid,
                   IdentityStep(input, ipc::Action::kSetResgid, AllIds(hello.gids, target.gid),
                                CAP_SETGID, "gid", absl::StrCat(target.gid)));
  gid.step.id = target.gid;
  plan->steps.push_back(gid);

  ASSIGN_OR_RETURN(PlannedStep uid,
                   IdentityStep(input, ipc::Action::kSetResuid, AllIds(hello.uids, target.uid),
                                CAP_SETUID, "uid", absl::StrCat(target.uid)));
  uid.step.id = target.uid;
  plan->steps.push_back(uid);
  return absl::OkStatus();
}

absl::Status PlanInheritableAndAmbientCaps(const PlanInput& input, Plan* plan) {
  const ipc::Hello& hello = input.hello;
  if (hello.caps.inheritable == 0 && hello.caps.ambient == 0) {
    plan->steps.push_back(Skip(Mechanism::kInheritableAndAmbientCaps,
                               ipc::Action::kClearInheritableAndAmbient,
                               "inheritable and ambient sets already empty"));
  } else {
    plan->steps.push_back(Enforce(Mechanism::kInheritableAndAmbientCaps,
                                  ipc::Action::kClearInheritableAndAmbient,
                                  "clear inheritable and ambient capabilities"));
  }
  return absl::OkStatus();
}

// After the identity change, which clears the parent-death signal.
absl::Status PlanParentDeathSignal(const PlanInput& input, Plan* plan) {
  if (input.sidecar) {
    plan->left_out.push_back({Mechanism::kParentDeathSignal, MechanismState::kNotRequested,
                              "sidecar: the stub is not the broker's child", 0});
    return absl::OkStatus();
  }
  PlannedStep pdeath = Enforce(Mechanism::kParentDeathSignal, ipc::Action::kParentDeathSignal,
                               "the workload is killed when the broker dies");
  pdeath.step.signal = SIGKILL;
  // In a new pid namespace the broker is not visible (getppid() is 0).
  pdeath.step.expected_parent = input.new_pid_namespace ? 0 : input.broker_pid;
  plan->steps.push_back(pdeath);
  return absl::OkStatus();
}

// After the identity change, so that the workload's own permissions apply.
absl::Status PlanWorkingDirectory(const PlanInput& input, Plan* plan) {
  PlannedStep chdir_step = Enforce(Mechanism::kWorkingDirectory, ipc::Action::kChangeDirectory,
                                   "enter the working directory as the target user");
  chdir_step.step.path = input.working_directory;
  plan->steps.push_back(chdir_step);
  return absl::OkStatus();
}

absl::Status PlanResourceLimits(const PlanInput& input, Plan* plan) {
  PlannedStep core =
      Enforce(Mechanism::kCoreDumps, ipc::Action::kSetRlimit, "RLIMIT_CORE 0: no core dumps");
  core.step.rlimit_resource = RLIMIT_CORE;
  plan->steps.push_back(core);
  for (const PlanInput::Limit& limit : input.rlimits) {
    PlannedStep step = Enforce(Mechanism::kRlimits, ipc::Action::kSetRlimit,
                               absl::StrCat("RLIMIT ", limit.name, " from the policy"));
    step.step.rlimit_resource = limit.resource;
    step.step.rlimit_soft = limit.soft;
    step.step.rlimit_hard = limit.hard;
    plan->steps.push_back(step);
  }
  return absl::OkStatus();
}

absl::Status PlanNoNewPrivs(const PlanInput& input, Plan* plan) {
  if (input.hello.no_new_privs) {
    plan->steps.push_back(
        Skip(Mechanism::kNoNewPrivs, ipc::Action::kSetNoNewPrivs, "no_new_privs already set"));
  } else {
    plan->steps.push_back(
        Enforce(Mechanism::kNoNewPrivs, ipc::Action::kSetNoNewPrivs, "set no_new_privs"));
  }
  return absl::OkStatus();
}

absl::Status PlanLandlock(const PlanInput& input, Plan* plan) {
  const ipc::Hello& hello = input.hello;
  if (hello.landlock_abi <= 0) return absl::OkStatus();  // PlanLandlockAvailability decided
  if (hello.landlock_abi < input.landlock_required_abi) {
    std::string why = absl::StrCat("the kernel's Landlock ABI ", hello.landlock_abi,
                                   " does not enforce ", input.landlock_missing_rights, " (ABI ",
                                   input.landlock_required_abi, " would)");
    if (!input.enforcement.best_effort(Mechanism::kLandlock)) {
      return Refuse(Mechanism::kLandlock,
                    absl::StrCat(why, "; the policy makes Landlock a hard requirement"));
    }
    plan->left_out.push_back(
        {Mechanism::kLandlock, MechanismState::kDegraded, absl::StrCat("best effort: ", why), 0});
  }
  PlannedStep landlock =
      Enforce(Mechanism::kLandlock, ipc::Action::kLandlockRestrictSelf,
              absl::StrCat("restrict the filesystem with Landlock ABI ", hello.landlock_abi));
  landlock.step.fd_index = kLandlockFdIndex;
  plan->steps.push_back(landlock);
  return absl::OkStatus();
}

// Last: the filter must not stand in the way of any step before it.
absl::Status PlanWorkloadSeccomp(const PlanInput& input, Plan* plan) {
  PlannedStep seccomp = Enforce(Mechanism::kWorkloadSeccomp, ipc::Action::kSeccompFilter,
                                "load the workload seccomp filter");
  if (!input.seccomp_probe.ok) {
    if (!input.enforcement.best_effort(Mechanism::kWorkloadSeccomp)) {
      return Refuse(Mechanism::kWorkloadSeccomp,
                    absl::StrCat("the host refuses the filter: ", input.seccomp_probe.evidence));
    }
    seccomp =
        BestEffort(Mechanism::kWorkloadSeccomp, ipc::Action::kSeccompFilter,
                   absl::StrCat("best effort: ", input.seccomp_probe.evidence), {EINVAL, EPERM});
  }
  seccomp.step.fd_index = kSeccompFdIndex;
  plan->steps.push_back(seccomp);
  return absl::OkStatus();
}

}  // namespace

ipc::Plan Plan::ToWire() const {
  ipc::Plan wire;
  for (const PlannedStep& planned : steps) wire.steps.push_back(planned.step);
  wire.exec = exec;
  return wire;
}

// The bootstrap order, one kernel concern per step.
absl::StatusOr<Plan> BuildPlan(const PlanInput& input) {
  Plan plan;
  RETURN_IF_ERROR(PlanLandlockAvailability(input, &plan));
  RETURN_IF_ERROR(PlanBoundingSet(input, &plan));
  RETURN_IF_ERROR(PlanNetwork(input, &plan));
  RETURN_IF_ERROR(PlanIdentity(input, &plan));
  RETURN_IF_ERROR(PlanInheritableAndAmbientCaps(input, &plan));
  RETURN_IF_ERROR(PlanParentDeathSignal(input, &plan));
  RETURN_IF_ERROR(PlanWorkingDirectory(input, &plan));
  RETURN_IF_ERROR(PlanResourceLimits(input, &plan));
  RETURN_IF_ERROR(PlanNoNewPrivs(input, &plan));
  RETURN_IF_ERROR(PlanLandlock(input, &plan));
  RETURN_IF_ERROR(PlanWorkloadSeccomp(input, &plan));
  plan.exec.argv = input.argv;
  plan.exec.envp = input.envp;
  plan.exec.as_init = input.new_pid_namespace;
  plan.exec.take_terminal = input.new_pid_namespace && input.foreground_terminal;
  return plan;
}

}  // namespace tether::broker
