#include "broker/planner.h"

#include <linux/capability.h>
#include <signal.h>
#include <sys/resource.h>

#include <errno.h>

#include <algorithm>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tether::broker {
namespace {

bool HasEffective(const ipc::Hello& hello, int cap) {
  return (hello.caps.effective >> cap) & 1;
}

bool AllIds(const ipc::IdTriple& ids, uint32_t id) {
  return ids.real == id && ids.effective == id && ids.saved == id;
}

std::vector<uint32_t> Sorted(std::vector<uint32_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

PlannedStep MakeStep(std::string mechanism, ipc::Action action,
                     ipc::Disposition disposition, std::string reason) {
  PlannedStep planned;
  planned.mechanism = std::move(mechanism);
  planned.reason = std::move(reason);
  planned.step.action = action;
  planned.step.disposition = disposition;
  return planned;
}

PlannedStep Enforce(std::string mechanism, ipc::Action action, std::string reason) {
  return MakeStep(std::move(mechanism), action, ipc::Disposition::kEnforce,
                  std::move(reason));
}

PlannedStep Skip(std::string mechanism, ipc::Action action, std::string reason) {
  return MakeStep(std::move(mechanism), action,
                  ipc::Disposition::kSkipAlreadySatisfied, std::move(reason));
}

PlannedStep BestEffort(std::string mechanism, ipc::Action action, std::string reason,
                       std::vector<int32_t> tolerate) {
  PlannedStep planned = MakeStep(std::move(mechanism), action, ipc::Disposition::kBestEffort,
                                 std::move(reason));
  planned.step.tolerate_errnos = std::move(tolerate);
  return planned;
}

// Either a skip (already there) or an enforce the stub has the capability
// for; otherwise strict refuses and best effort tries, tolerating EPERM.
absl::StatusOr<PlannedStep> IdentityStep(const PlanInput& input, ipc::Action action,
                                         bool at_target, int needed_cap,
                                         absl::string_view what,
                                         absl::string_view target_text) {
  const ipc::Hello& hello = input.hello;
  if (at_target) {
    return Skip("privilege_drop", action, absl::StrCat("already at target ", what));
  }
  if (!HasEffective(hello, needed_cap)) {
    std::string why = absl::StrCat(
        "the stub runs as uid ", hello.uids.effective, " gid ", hello.gids.effective,
        ", not at the target ", what, " ", target_text, ", and lacks ",
        needed_cap == CAP_SETUID ? "CAP_SETUID" : "CAP_SETGID", " to change it");
    if (!input.enforcement.best_effort(Mechanism::kPrivilegeDrop)) {
      return absl::FailedPreconditionError(absl::StrCat("privilege_drop: ", why));
    }
    return BestEffort("privilege_drop", action, absl::StrCat("best effort: ", why), {EPERM});
  }
  return Enforce("privilege_drop", action, absl::StrCat("change ", what, " to ", target_text));
}

}  // namespace

const char* NetworkModeName(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::kIsolated: return "isolated";
    case NetworkMode::kHost: return "host";
    case NetworkMode::kAuto: return "auto";
  }
  return "unknown";
}

bool ParseNetworkMode(absl::string_view text, NetworkMode* mode) {
  for (NetworkMode candidate : {NetworkMode::kIsolated, NetworkMode::kHost, NetworkMode::kAuto}) {
    if (text == NetworkModeName(candidate)) {
      *mode = candidate;
      return true;
    }
  }
  return false;
}

ipc::Plan Plan::ToWire() const {
  ipc::Plan wire;
  for (const PlannedStep& planned : steps) wire.steps.push_back(planned.step);
  wire.exec = exec;
  return wire;
}

absl::StatusOr<Plan> BuildPlan(const PlanInput& input) {
  const ipc::Hello& hello = input.hello;
  const TargetIdentity& target = input.target;
  Plan plan;

  bool landlock_available = hello.landlock_abi > 0;
  if (!landlock_available) {
    std::string why = absl::StrCat("the kernel does not offer Landlock (errno ",
                                   hello.landlock_errno, ")");
    if (!input.enforcement.best_effort(Mechanism::kLandlock)) {
      return absl::FailedPreconditionError(
          absl::StrCat("landlock: ", why, " and it is a hard requirement"));
    }
    plan.left_out.push_back({"landlock", "unavailable",
                             absl::StrCat("best effort: ", why,
                                          "; the filesystem is not restricted"),
                             hello.landlock_errno});
  }

  // Bounding set first: clearing it needs CAP_SETPCAP, which the uid change drops.
  if (hello.caps.bounding == 0) {
    plan.steps.push_back(Skip("bounding_set", ipc::Action::kClearBoundingSet,
                              "bounding set already empty"));
  } else if (!HasEffective(hello, CAP_SETPCAP) || !input.bounding_set_probe.ok) {
    std::string why = !HasEffective(hello, CAP_SETPCAP)
                          ? std::string("the stub lacks CAP_SETPCAP")
                          : input.bounding_set_probe.evidence;
    if (!input.enforcement.best_effort(Mechanism::kBoundingSet)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "bounding_set: the bounding set is not empty and cannot be cleared: ", why));
    }
    plan.steps.push_back(BestEffort("bounding_set", ipc::Action::kClearBoundingSet,
                                    absl::StrCat("best effort: ", why), {EPERM}));
  } else {
    plan.steps.push_back(Enforce("bounding_set", ipc::Action::kClearBoundingSet,
                                 "clear every capability from the bounding set"));
  }

  // Joining a network namespace needs CAP_SYS_ADMIN: before the uid change.
  if (input.network_mode == NetworkMode::kHost) {
    plan.left_out.push_back({"network_namespace", "not_requested",
                             "network mode host: the workload shares the host network", 0});
  } else if (input.network.ok && HasEffective(hello, CAP_SYS_ADMIN)) {
    PlannedStep join = Enforce("network_namespace", ipc::Action::kJoinNetworkNamespace,
                               absl::StrCat("network mode ", NetworkModeName(input.network_mode),
                                            ": join the broker's namespace with loopback "
                                            "and one veth"));
    join.step.fd_index = kNetworkNamespaceFdIndex;
    plan.steps.push_back(join);
  } else if (ProbeOutcome why = input.network.ok
                                   ? ProbeOutcome{false, EPERM,
                                                  "the stub lacks CAP_SYS_ADMIN to join a network "
                                                  "namespace"}
                                   : input.network;
             input.network_mode == NetworkMode::kAuto ||
             input.enforcement.best_effort(Mechanism::kNetworkNamespace)) {
    plan.left_out.push_back(
        {"network_namespace", "degraded",
         absl::StrCat(input.network_mode == NetworkMode::kAuto ? "auto" : "best effort",
                      ": fell back to the host network: ", why.evidence),
         why.errno_value});
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        "network_namespace: network mode isolated, but ",
        input.network.ok ? "the stub lacks CAP_SYS_ADMIN to join a network namespace"
                         : absl::StrCat("the broker cannot make a network namespace: ",
                                        input.network.evidence)));
  }

  std::vector<uint32_t> target_groups = Sorted(target.groups);
  std::string groups_text = absl::StrCat("[", absl::StrJoin(target_groups, ","), "]");
  absl::StatusOr<PlannedStep> groups =
      IdentityStep(input, ipc::Action::kSetGroups,
                   Sorted(hello.groups) == target_groups, CAP_SETGID, "groups", groups_text);
  if (!groups.ok()) return groups.status();
  groups->step.groups = target_groups;
  plan.steps.push_back(*groups);

  absl::StatusOr<PlannedStep> gid =
      IdentityStep(input, ipc::Action::kSetResgid, AllIds(hello.gids, target.gid),
                   CAP_SETGID, "gid", absl::StrCat(target.gid));
  if (!gid.ok()) return gid.status();
  gid->step.id = target.gid;
  plan.steps.push_back(*gid);

  absl::StatusOr<PlannedStep> uid =
      IdentityStep(input, ipc::Action::kSetResuid, AllIds(hello.uids, target.uid),
                   CAP_SETUID, "uid", absl::StrCat(target.uid));
  if (!uid.ok()) return uid.status();
  uid->step.id = target.uid;
  plan.steps.push_back(*uid);

  if (hello.caps.inheritable == 0 && hello.caps.ambient == 0) {
    plan.steps.push_back(Skip("inheritable_and_ambient_caps",
                              ipc::Action::kClearInheritableAndAmbient,
                              "inheritable and ambient sets already empty"));
  } else {
    plan.steps.push_back(Enforce("inheritable_and_ambient_caps",
                                 ipc::Action::kClearInheritableAndAmbient,
                                 "clear inheritable and ambient capabilities"));
  }

  // After the identity change, which clears the parent-death signal.
  if (input.sidecar) {
    plan.left_out.push_back({"parent_death_signal", "not_requested",
                             "sidecar: the stub is not the broker's child", 0});
  } else {
    PlannedStep pdeath = Enforce("parent_death_signal", ipc::Action::kParentDeathSignal,
                                 "the workload is killed when the broker dies");
    pdeath.step.signal = SIGKILL;
    pdeath.step.expected_parent = input.broker_pid;
    plan.steps.push_back(pdeath);
  }

  // After the identity change, so that the workload's own permissions apply.
  PlannedStep chdir_step = Enforce("working_directory", ipc::Action::kChangeDirectory,
                                   "enter the working directory as the target user");
  chdir_step.step.path = input.working_directory;
  plan.steps.push_back(chdir_step);

  PlannedStep core = Enforce("core_dumps", ipc::Action::kSetRlimit,
                             "RLIMIT_CORE 0: no core dumps");
  core.step.rlimit_resource = RLIMIT_CORE;
  plan.steps.push_back(core);

  for (const PlanInput::Limit& limit : input.rlimits) {
    PlannedStep step = Enforce("rlimits", ipc::Action::kSetRlimit,
                               absl::StrCat("RLIMIT ", limit.name, " from the policy"));
    step.step.rlimit_resource = limit.resource;
    step.step.rlimit_soft = limit.soft;
    step.step.rlimit_hard = limit.hard;
    plan.steps.push_back(step);
  }

  if (hello.no_new_privs) {
    plan.steps.push_back(Skip("no_new_privs", ipc::Action::kSetNoNewPrivs,
                              "no_new_privs already set"));
  } else {
    plan.steps.push_back(Enforce("no_new_privs", ipc::Action::kSetNoNewPrivs,
                                 "set no_new_privs"));
  }

  if (landlock_available && hello.landlock_abi < input.landlock_required_abi) {
    std::string why = absl::StrCat("the kernel's Landlock ABI ", hello.landlock_abi,
                                   " does not enforce ", input.landlock_missing_rights,
                                   " (ABI ", input.landlock_required_abi, " would)");
    if (!input.enforcement.best_effort(Mechanism::kLandlock)) {
      return absl::FailedPreconditionError(
          absl::StrCat("landlock: ", why, "; the policy makes Landlock a hard requirement"));
    }
    plan.left_out.push_back({"landlock", "degraded", absl::StrCat("best effort: ", why), 0});
  }
  if (landlock_available) {
    PlannedStep landlock = Enforce(
        "landlock", ipc::Action::kLandlockRestrictSelf,
        absl::StrCat("restrict the filesystem with Landlock ABI ", hello.landlock_abi));
    landlock.step.fd_index = kLandlockFdIndex;
    plan.steps.push_back(landlock);
  }

  // Last: the filter must not stand in the way of any step before it.
  PlannedStep seccomp = Enforce("workload_seccomp", ipc::Action::kSeccompFilter,
                                "load the workload seccomp filter");
  if (!input.seccomp_probe.ok) {
    if (!input.enforcement.best_effort(Mechanism::kWorkloadSeccomp)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "workload_seccomp: the host refuses the filter: ", input.seccomp_probe.evidence));
    }
    seccomp = BestEffort("workload_seccomp", ipc::Action::kSeccompFilter,
                         absl::StrCat("best effort: ", input.seccomp_probe.evidence),
                         {EINVAL, EPERM});
  }
  seccomp.step.fd_index = kSeccompFdIndex;
  plan.steps.push_back(seccomp);

  plan.exec.argv = input.argv;
  plan.exec.envp = input.envp;
  return plan;
}

}  // namespace tether::broker
