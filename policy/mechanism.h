#ifndef TETHER_POLICY_MECHANISM_H_
#define TETHER_POLICY_MECHANISM_H_

// The one vocabulary of what tether enforces. Every planned step, report
// record, OCSF event and strict refusal names one of these; the table says,
// once, what each one is. A new mechanism is one enumerator and one row.

#include <array>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tether::policy {

enum class Mechanism {
  // Relaxable: the policy, TETHER_BEST_EFFORT or --best-effort may make
  // these best effort. Kept first, in this order, for Enforcement's table.
  kNetworkNamespace,
  kBoundingSet,
  kSupervisorSeccomp,
  kWorkloadSeccomp,
  kLandlock,
  kPrivilegeDrop,
  kPidNamespace,
  kMountNamespace,
  kIpcNamespace,
  kUtsNamespace,
  kCgroupNamespace,
  kFilesystemView,
  kResourceLimits,
  kUserNamespace,
  // Always enforced where planned.
  kInheritableAndAmbientCaps,
  kParentDeathSignal,
  kWorkingDirectory,
  kCoreDumps,
  kRlimits,
  kNoNewPrivs,
  kGpu,
  kSandboxInit,
  kEgressProxy,
  // Subjects of events that are no single mechanism.
  kPlan,
  kPosture,
  kSetup,
  kSidecar,
  kProcess,
};

struct MechanismInfo {
  Mechanism mechanism;
  const char* name;  // in reports, events, flags and policy files
  bool relaxable;    // may be best effort
  // Its effect is read back from /proc/<stub> (status, limits, cwd) before
  // Go; the others are stub-attested at most.
  bool verifiable_from_proc;
};

inline constexpr MechanismInfo kMechanisms[] = {
    {Mechanism::kNetworkNamespace, "network_namespace", true, true},
    {Mechanism::kBoundingSet, "bounding_set", true, true},
    {Mechanism::kSupervisorSeccomp, "supervisor_seccomp", true, true},
    {Mechanism::kWorkloadSeccomp, "workload_seccomp", true, true},
    {Mechanism::kLandlock, "landlock", true, false},
    {Mechanism::kPrivilegeDrop, "privilege_drop", true, true},
    {Mechanism::kPidNamespace, "pid_namespace", true, true},
    {Mechanism::kMountNamespace, "mount_namespace", true, true},
    {Mechanism::kIpcNamespace, "ipc_namespace", true, true},
    {Mechanism::kUtsNamespace, "uts_namespace", true, true},
    {Mechanism::kCgroupNamespace, "cgroup_namespace", true, true},
    {Mechanism::kFilesystemView, "filesystem_view", true, true},
    {Mechanism::kResourceLimits, "resource_limits", true, false},
    {Mechanism::kUserNamespace, "user_namespace", true, true},
    {Mechanism::kInheritableAndAmbientCaps, "inheritable_and_ambient_caps", false, true},
    {Mechanism::kParentDeathSignal, "parent_death_signal", false, false},
    {Mechanism::kWorkingDirectory, "working_directory", false, true},
    {Mechanism::kCoreDumps, "core_dumps", false, true},
    {Mechanism::kRlimits, "rlimits", false, false},
    {Mechanism::kNoNewPrivs, "no_new_privs", false, true},
    {Mechanism::kGpu, "gpu", false, false},
    {Mechanism::kSandboxInit, "sandbox_init", false, true},
    {Mechanism::kEgressProxy, "egress_proxy", false, false},
    {Mechanism::kPlan, "plan", false, false},
    {Mechanism::kPosture, "posture", false, false},
    {Mechanism::kSetup, "setup", false, false},
    {Mechanism::kSidecar, "sidecar", false, false},
    {Mechanism::kProcess, "process", false, false},
};

// The relaxable ones, in enumerator order.
inline constexpr std::array<Mechanism, 14> kRelaxableMechanisms = {
    Mechanism::kNetworkNamespace, Mechanism::kBoundingSet,     Mechanism::kSupervisorSeccomp,
    Mechanism::kWorkloadSeccomp,  Mechanism::kLandlock,        Mechanism::kPrivilegeDrop,
    Mechanism::kPidNamespace,     Mechanism::kMountNamespace,  Mechanism::kIpcNamespace,
    Mechanism::kUtsNamespace,     Mechanism::kCgroupNamespace, Mechanism::kFilesystemView,
    Mechanism::kResourceLimits,   Mechanism::kUserNamespace};

const MechanismInfo& InfoOf(Mechanism mechanism);
inline const char* MechanismName(Mechanism mechanism) { return InfoOf(mechanism).name; }
inline bool VerifiableFromProc(Mechanism mechanism) {
  return InfoOf(mechanism).verifiable_from_proc;
}
// Only relaxable mechanisms can be named by users.
bool ParseRelaxableMechanism(absl::string_view text, Mechanism* mechanism);

// What happened to a mechanism, as the report says it.
enum class MechanismState {
  kEnforced,
  kSkipped,
  kDegraded,
  kUnavailable,
  kNotRequested,
  kFailed,
  kNotReached,
  // Sidecar: the outer container's own namespace or image, not tether's.
  kProvidedByContainer,
  // Sidecar: the stub shares the broker's namespace: nothing isolates it.
  kNotIsolated,
};
const char* MechanismStateName(MechanismState state);

// A failure that belongs to one mechanism: "name: why" as the message, and
// the mechanism itself attached to the status, so that callers (the strict
// refusal's hint) read it as a value, never from the text.
absl::Status MechanismError(Mechanism mechanism, absl::StatusCode code, absl::string_view why);
std::optional<Mechanism> MechanismOf(const absl::Status& status);

}  // namespace tether::policy

#endif  // TETHER_POLICY_MECHANISM_H_
