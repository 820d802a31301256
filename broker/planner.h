#ifndef TETHER_BROKER_PLANNER_H_
#define TETHER_BROKER_PLANNER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/identity.h"
#include "ipc/messages.h"

namespace tether::broker {

// The facts the planner decides from. `hello` has already been checked
// against /proc, so it is a fact here, not a claim.
struct PlanInput {
  ipc::Hello hello;
  TargetIdentity target;
  pid_t broker_pid = 0;
  std::string working_directory;
  std::vector<std::string> argv;
  std::vector<std::string> envp;
};

// Indexes of the fds sent with the plan.
inline constexpr uint8_t kLandlockFdIndex = 0;
inline constexpr uint8_t kSeccompFdIndex = 1;

// One step and the mechanism it belongs to, with the reason for its
// disposition, for the posture report.
struct PlannedStep {
  std::string mechanism;
  std::string reason;
  ipc::Step step;
};

struct Plan {
  std::vector<PlannedStep> steps;
  ipc::ExecRequest exec;

  ipc::Plan ToWire() const;
};

// Decides every step of the bootstrap, in an order that works: the bounding
// set is cleared while CAP_SETPCAP is still held, identity changes before
// the parent-death signal (a credential change clears it), and the seccomp
// filter comes last so that it never blocks a later step. Strict: anything
// the stub cannot do is an error now, before anything is sent.
absl::StatusOr<Plan> BuildPlan(const PlanInput& input);

}  // namespace tether::broker

#endif  // TETHER_BROKER_PLANNER_H_
