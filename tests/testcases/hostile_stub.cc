// A stub that misbehaves on purpose. Which lie it tells comes from the name
// it was installed under (/proc/self/exe), because the broker always starts
// its stub with the same arguments.

#include <capnp/message.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "ipc/frame.h"
#include "ipc/messages.h"
#include "stub/self_facts.h"
#include "stub/session.h"

namespace {

constexpr int kSocket = 3;
using tether::ipc::StubMessage;

std::string Lie() {
  char path[PATH_MAX] = {};
  ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  std::string name(path, n > 0 ? n : 0);
  name = name.substr(name.rfind('/') + 1);
  const std::string prefix = "hostile-";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : "";
}

bool SendResult(uint32_t index, tether::ipc::Outcome outcome, int error = 0,
                const std::vector<int>& fds = {}) {
  StubMessage message;
  message.kind = StubMessage::Kind::kStepResult;
  message.step_result = {index, outcome, error};
  capnp::MallocMessageBuilder builder;
  tether::ipc::Encode(message, builder);
  return tether::ipc::SendFrame(kSocket, builder, fds).ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::strcmp(argv[1], "--fd") != 0) return 64;
  if (!tether::stub::PrepareDescriptors(std::atoi(argv[2]))) return 125;
  std::string lie = Lie();
  tether::ipc::Hello hello = tether::stub::CollectSelfFacts();
  if (lie == "wrong-caps") hello.caps = {};
  if (lie == "claims-no-new-privs") hello.no_new_privs = true;
  if (lie == "wrong-pid") hello.pid += 1;
  if (lie == "closes-after-hello") {
    tether::stub::SendHello(kSocket, hello);
    return 0;
  }
  if (!tether::stub::SendHello(kSocket, hello)) return 125;
  std::optional<tether::stub::ReceivedPlan> plan = tether::stub::ReceivePlan(kSocket);
  if (!plan.has_value()) return 125;
  size_t steps = plan->plan.steps.size();
  if (lie == "results-out-of-order") {
    SendResult(1, tether::ipc::Outcome::kOk);
    SendResult(0, tether::ipc::Outcome::kOk);
  } else if (lie == "skips-steps") {
    // Straight to Ready.
  } else if (lie == "fake-success") {
    // Claims every step as planned without touching the kernel.
    for (size_t i = 0; i < steps; ++i) {
      bool skip =
          plan->plan.steps[i].disposition == tether::ipc::Disposition::kSkipAlreadySatisfied;
      SendResult(i, skip ? tether::ipc::Outcome::kSkipped : tether::ipc::Outcome::kOk);
    }
  } else if (lie == "skips-an-enforced-step") {
    for (size_t i = 0; i < steps; ++i) SendResult(i, tether::ipc::Outcome::kSkipped);
  } else if (lie == "tolerates-without-permission") {
    for (size_t i = 0; i < steps; ++i) SendResult(i, tether::ipc::Outcome::kTolerated, 1);
  } else if (lie == "sends-fds") {
    int null_fd = open("/dev/null", O_RDONLY);
    SendResult(0, tether::ipc::Outcome::kOk, 0, {null_fd});
  } else if (lie == "closes-mid-plan") {
    SendResult(0, tether::ipc::Outcome::kOk);
    return 0;
  } else if (!tether::stub::RunPlan(kSocket, *plan)) {
    return 125;
  }
  if (!tether::stub::SendReady(kSocket)) return 125;
  return tether::stub::AwaitGoAndExec(kSocket, *plan);
}
