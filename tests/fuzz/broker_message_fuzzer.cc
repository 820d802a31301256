// Fuzzes what the stub parses from the broker. The broker is the trusted
// side, but the stub still must not crash or act on a malformed plan.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ipc/frame.h"
#include "ipc/limits.h"
#include "ipc/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tether::ipc::ReceivedFrame frame = tether::ipc::FrameFromBytes(data, size);
  if (!frame.ok()) return 0;
  tether::ipc::BrokerMessage message;
  std::string error;
  bool accepted = tether::ipc::Decode(frame, &message, &error);
  if (!accepted && error.empty()) std::abort();
  if (accepted && message.kind == tether::ipc::BrokerMessage::Kind::kPlan) {
    // A plan without fds can only be accepted if no step needs one.
    for (const auto& step : message.plan.steps) {
      if (step.action == tether::ipc::Action::kSeccompFilter ||
          step.action == tether::ipc::Action::kLandlockRestrictSelf) {
        std::abort();
      }
    }
    if (message.plan.exec.argv.empty() || message.plan.steps.size() > tether::ipc::kMaxPlanSteps) {
      std::abort();
    }
  }
  return 0;
}
