// Fuzzes what the broker parses from the stub: a datagram as the framing
// layer sees it, decoded as a StubMessage. Invariants, not only no crash:
// a Hello the validator accepts must yield a plan that is internally
// consistent, and a rejected message must carry an error.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "broker/planner.h"
#include "ipc/frame.h"
#include "ipc/limits.h"
#include "ipc/messages.h"

namespace {

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

void CheckPlan(const tether::broker::Plan& plan) {
  using tether::ipc::Action;
  using tether::ipc::Disposition;
  Check(!plan.steps.empty(), "plan has steps");
  Check(plan.steps.size() <= tether::ipc::kMaxPlanSteps, "plan within the step limit");
  Check(plan.steps.back().step.action == Action::kSeccompFilter, "seccomp is last");
  bool bounding_seen = false;
  bool uid_seen = false;
  for (const auto& planned : plan.steps) {
    const auto& step = planned.step;
    Check(static_cast<size_t>(planned.mechanism) < std::size(tether::broker::kMechanisms),
          "every step names a mechanism of the table");
    Check(step.tolerate_errnos.empty() || step.disposition == Disposition::kBestEffort,
          "only best-effort steps tolerate errnos");
    if (step.action == Action::kClearBoundingSet) {
      Check(!uid_seen, "bounding set is cleared before the uid change");
      bounding_seen = true;
    }
    if (step.action == Action::kSetResuid) {
      uid_seen = true;
      Check(step.id != 0, "never plans uid 0");
    }
    if (step.action == Action::kParentDeathSignal) {
      Check(uid_seen, "parent-death signal after the uid change");
    }
    if (step.action == Action::kLandlockRestrictSelf || step.action == Action::kSeccompFilter) {
      Check(step.fd_index <= tether::broker::kSeccompFdIndex, "fd index within the two fds");
    }
  }
  Check(bounding_seen && uid_seen, "plan has bounding-set and uid steps");
  // Whatever the broker plans must survive its own wire validation.
  tether::ipc::Plan wire = plan.ToWire();
  Check(wire.steps.size() == plan.steps.size(), "wire plan keeps every step");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tether::ipc::ReceivedFrame frame = tether::ipc::FrameFromBytes(data, size);
  if (!frame.ok()) return 0;
  tether::ipc::StubMessage message;
  std::string error;
  bool accepted = tether::ipc::Decode(frame, &message, &error);
  Check(accepted || !error.empty(), "a rejected message says why");
  if (!accepted || message.kind != tether::ipc::StubMessage::Kind::kHello) return 0;
  tether::broker::PlanInput input;
  input.hello = message.hello;
  input.target = {65534, 65534, {}};
  input.broker_pid = 1;
  input.working_directory = "/";
  input.argv = {"/bin/true"};
  absl::StatusOr<tether::broker::Plan> plan = tether::broker::BuildPlan(input);
  if (plan.ok()) {
    CheckPlan(*plan);
  } else {
    Check(!plan.status().message().empty(), "a refused plan says why");
  }
  return 0;
}
