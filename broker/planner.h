#ifndef TETHER_BROKER_PLANNER_H_
#define TETHER_BROKER_PLANNER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "broker/enforcement.h"
#include "broker/host/probe_result.h"
#include "broker/identity.h"
#include "broker/mechanism.h"
#include "ipc/messages.h"
#include "policy/policy_types.h"

namespace tether::broker {

using policy::NetworkMode;
using policy::NetworkModeName;
using policy::ParseNetworkMode;

// The facts the planner decides from. `hello` has already been checked
// against /proc, so it is a fact here, not a claim. A probe result not set
// counts as a success.
struct PlanInput {
  ipc::Hello hello;
  NetworkMode network_mode = NetworkMode::kHost;
  // For isolated and auto: whether the broker made the namespace (loopback
  // only) and, if not, the evidence.
  ProbeResult network{true, 0, ""};
  // The stub was cloned into the sandbox's network namespace (a non-root
  // broker's, owned by the sandbox's user namespace): nothing to join.
  bool network_made_at_clone = false;
  // The broker's cloned child cleared the bounding set in the sandbox's
  // user namespace before it executed the stub.
  bool bounding_set_cleared_at_clone = false;
  Enforcement enforcement;
  ProbeResult bounding_set_probe{true, 0, ""};
  ProbeResult seccomp_probe{true, 0, ""};
  TargetIdentity target;
  pid_t broker_pid = 0;
  std::string working_directory;
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  struct Limit {
    std::string name;
    uint32_t resource = 0;
    uint64_t soft = 0;
    uint64_t hard = 0;
  };
  std::vector<Limit> rlimits;  // the policy's, on top of RLIMIT_CORE 0
  // The ABI whose rights the policy relies on (truncate 3, ioctl_dev 5,
  // scopes 6); below it, strict refuses and best effort says what is missing.
  int landlock_required_abi = 6;
  // Sidecar mode: the stub is not the broker's child, so there is no
  // parent-death signal to arm; the workload's runtime owns its lifetime.
  bool sidecar = false;
  // The stub is pid 1 of a new pid namespace: its parent is not visible
  // to it, and it stays on as the workload's init.
  bool new_pid_namespace = false;
  // tether run is the foreground job of its terminal: the workload may
  // take the terminal (a background job must never).
  bool foreground_terminal = false;
  std::string landlock_missing_rights;  // names, for a kernel below the required ABI
};

// Indexes of the fds sent with the plan.
inline constexpr uint8_t kLandlockFdIndex = 0;
inline constexpr uint8_t kSeccompFdIndex = 1;
inline constexpr uint8_t kNetworkNamespaceFdIndex = 2;

// One step and the mechanism it belongs to, with the reason for its
// disposition, for the posture report.
struct PlannedStep {
  Mechanism mechanism;
  std::string reason;
  ipc::Step step;
};

// A mechanism the plan leaves out, and why (best effort only).
struct SkippedMechanism {
  Mechanism mechanism;
  MechanismState state;  // unavailable, degraded or not requested
  std::string reason;
  int errno_value = 0;
};

struct Plan {
  std::vector<PlannedStep> steps;
  std::vector<SkippedMechanism> left_out;
  ipc::ExecRequest exec;

  ipc::Plan ToWire() const;
};

// Decides every step of the bootstrap, in an order that works (the list of
// Plan* steps in planner.cc reads as that order). Strict: anything the stub
// or the host cannot do is an error now, before anything is sent, carrying
// its mechanism (MechanismOf). Best effort: such a step tolerates the errno
// the probe saw, and every mechanism that is available is still enforced.
absl::StatusOr<Plan> BuildPlan(const PlanInput& input);

}  // namespace tether::broker

#endif  // TETHER_BROKER_PLANNER_H_
