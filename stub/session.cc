#include "stub/session.h"

#include <capnp/message.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "ipc/frame.h"
#include "kernel/exec.h"
#include "stub/init.h"
#include "stub/self_facts.h"
#include "stub/step_runner.h"

extern char** environ;

namespace tether::stub {
namespace {

// A StepResult's message is a few words: its builder's first segment
// need not be the default 8 KB.
constexpr unsigned kStepResultWords = 32;

void Complain(const std::string& what) { std::fprintf(stderr, "tether-stub: %s\n", what.c_str()); }

bool Send(int socket_fd, const ipc::StubMessage& message) {
  capnp::MallocMessageBuilder builder;
  ipc::Encode(message, builder);
  ipc::SendResult sent = ipc::SendFrame(socket_fd, builder);
  if (!sent.ok()) {
    Complain(std::string("cannot send ") + ipc::StubMessageKindName(message.kind) + ": " +
             ipc::FrameErrorName(sent.error) + " " + std::strerror(sent.errno_value));
  }
  return sent.ok();
}

// Receives one broker message; nothing on EOF, abort or a bad message.
std::optional<ipc::BrokerMessage> Receive(int socket_fd, std::vector<UniqueFd>* fds) {
  ipc::ReceivedFrame frame = ipc::ReceiveFrame(socket_fd);
  if (frame.error == ipc::FrameError::kClosed) return std::nullopt;  // broker gone
  ipc::BrokerMessage message;
  std::string error;
  if (!ipc::Decode(frame, &message, &error)) {
    Complain("bad message from the broker: " + error);
    return std::nullopt;
  }
  if (message.kind == ipc::BrokerMessage::Kind::kAbort) return std::nullopt;
  if (fds != nullptr) *fds = std::move(frame.fds);
  return message;
}

}  // namespace

bool PrepareDescriptors(int socket_fd) {
  constexpr int kSocketFd = kernel::kStubSocketFd;
  if (socket_fd != kSocketFd) {
    if (dup2(socket_fd, kSocketFd) < 0) return false;
    close(socket_fd);
  }
  if (fcntl(kSocketFd, F_SETFD, FD_CLOEXEC) != 0) return false;
  return syscall(SYS_close_range, kSocketFd + 1, ~0U, 0) == 0;
}

bool SendHello(int socket_fd, const ipc::Hello& hello) {
  ipc::StubMessage message;
  message.kind = ipc::StubMessage::Kind::kHello;
  message.hello = hello;
  return Send(socket_fd, message);
}

std::optional<ReceivedPlan> ReceivePlan(int socket_fd) {
  ReceivedPlan received;
  std::optional<ipc::BrokerMessage> message = Receive(socket_fd, &received.fds);
  if (!message.has_value()) return std::nullopt;
  if (message->kind != ipc::BrokerMessage::Kind::kPlan) {
    Complain("expected a plan from the broker");
    return std::nullopt;
  }
  received.plan = std::move(message->plan);
  if (received.plan.exec.as_init) {
    // Its failure is the exec's to report (ENOMEM), after the steps.
    received.workload_stack = kernel::ChildStack::Map(
        WorkloadStackBytes(received.plan.exec.argv, received.plan.exec.envp));
  }
  return received;
}

namespace {

bool SendResults(int socket_fd, std::vector<kj::Array<capnp::word>>* results) {
  if (results->empty()) return true;
  ipc::SendResult sent = ipc::SendFrames(socket_fd, *results);
  results->clear();
  if (!sent.ok()) {
    Complain(std::string("cannot send the step results: ") + ipc::FrameErrorName(sent.error) + " " +
             std::strerror(sent.errno_value));
  }
  return sent.ok();
}

}  // namespace

bool RunPlan(int socket_fd, const ReceivedPlan& plan) {
  // The results go out together once the steps are done or one failed:
  // the broker, which waits for them, is woken once instead of once a step.
  // Those before a seccomp filter go out before it is loaded, so that what
  // the stub sends under the workload's filter is one sendmsg per message,
  // whatever else the policy denies.
  std::vector<kj::Array<capnp::word>> results;
  bool failed = false;
  for (size_t i = 0; i < plan.plan.steps.size() && !failed; ++i) {
    if (plan.plan.steps[i].action == ipc::Action::kSeccompFilter &&
        !SendResults(socket_fd, &results)) {
      return false;
    }
    ipc::StubMessage message;
    message.kind = ipc::StubMessage::Kind::kStepResult;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    message.step_result = RunStep(i, plan.plan.steps[i], plan.fds);
    clock_gettime(CLOCK_MONOTONIC, &end);
    int64_t micros = (end.tv_sec - start.tv_sec) * 1000000 + (end.tv_nsec - start.tv_nsec) / 1000;
    message.step_result.elapsed_micros = static_cast<uint32_t>(micros < 0 ? 0 : micros);
    capnp::MallocMessageBuilder builder(kStepResultWords);
    ipc::Encode(message, builder);
    results.push_back(ipc::EncodeFrame(builder));
    failed = message.step_result.outcome == ipc::Outcome::kFailed;
  }
  return SendResults(socket_fd, &results) && !failed;
}

bool SendReady(int socket_fd) {
  ipc::StubMessage message;
  message.kind = ipc::StubMessage::Kind::kReady;
  return Send(socket_fd, message);
}

namespace {

// Tells the broker why there is no workload, and returns the exit status
// for it.
int ReportExecFailed(int socket_fd, int error) {
  ipc::StubMessage failed;
  failed.kind = ipc::StubMessage::Kind::kExecFailed;
  failed.exec_errno = error;
  Send(socket_fd, failed);
  return kernel::ExitStatusForExecErrno(error);
}

}  // namespace

int AwaitGoAndExec(int socket_fd, const ReceivedPlan& plan) {
  const ipc::ExecRequest& exec = plan.plan.exec;
  std::optional<ipc::BrokerMessage> message = Receive(socket_fd, nullptr);
  if (!message.has_value() || message->kind != ipc::BrokerMessage::Kind::kGo) {
    return kSetupFailedExit;
  }
  std::vector<char*> argv;
  for (const std::string& arg : exec.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& var : exec.envp) envp.push_back(const_cast<char*>(var.c_str()));
  envp.push_back(nullptr);
  ResetSignalDispositions();
  // execvp searches the PATH of the environment it runs in: the workload's.
  environ = envp.data();
  if (!exec.as_init) {
    execvp(argv[0], argv.data());
    return ReportExecFailed(socket_fd, errno);
  }
  int status = RunAsInit(socket_fd, exec.take_terminal, plan.workload_stack, argv.data());
  if (status >= 0) return status;
  // No workload process at all (a child the uid's process limit refused,
  // or an exec that failed): the broker says why.
  return ReportExecFailed(socket_fd, -status);
}

namespace {

// Hello, plan, steps, Ready, Go: the part both modes share.
int Converse(const ipc::Hello& hello) {
  constexpr int kSocketFd = kernel::kStubSocketFd;
  if (!SendHello(kSocketFd, hello)) return kSetupFailedExit;
  std::optional<ReceivedPlan> plan = ReceivePlan(kSocketFd);
  if (!plan.has_value()) {
    Complain("the broker refused or closed the connection");
    return kSetupFailedExit;
  }
  if (!RunPlan(kSocketFd, *plan)) return kSetupFailedExit;
  plan->fds.clear();
  if (!SendReady(kSocketFd)) return kSetupFailedExit;
  return AwaitGoAndExec(kSocketFd, *plan);
}

}  // namespace

int RunStubConnected(const ConnectOptions& options) {
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  if (options.socket_path.size() >= sizeof(address.sun_path)) {
    Complain("the socket path is too long: " + options.socket_path);
    return kSetupFailedExit;
  }
  std::memcpy(address.sun_path, options.socket_path.c_str(), options.socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    Complain("cannot connect to " + options.socket_path + ": " + std::strerror(errno));
    return kSetupFailedExit;
  }
  // The kernel's word on who bound the socket, before a byte is sent.
  struct ucred server = {};
  socklen_t size = sizeof(server);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &server, &size) != 0) {
    Complain(std::string("SO_PEERCRED on ") + options.socket_path + ": " + std::strerror(errno));
    return kSetupFailedExit;
  }
  if (server.uid != options.broker_uid) {
    Complain("refusing " + options.socket_path + ": it is served by uid " +
             std::to_string(server.uid) + ", not by the broker's uid " +
             std::to_string(options.broker_uid) +
             " (name another with --broker-uid); nothing was sent");
    return kSetupFailedExit;
  }
  if (!PrepareDescriptors(fd)) {
    Complain(std::string("cannot prepare descriptors: ") + std::strerror(errno));
    return kSetupFailedExit;
  }
  ipc::Hello hello = CollectSelfFacts();
  hello.requested_argv = options.argv;
  hello.token = options.token;
  for (char** var = environ; var != nullptr && *var != nullptr; ++var) {
    hello.requested_envp.emplace_back(*var);
  }
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) != nullptr) hello.cwd = cwd;
  return Converse(hello);
}

int RunStub(int socket_fd) {
  if (!PrepareDescriptors(socket_fd)) {
    Complain(std::string("cannot prepare descriptors: ") + std::strerror(errno));
    return kSetupFailedExit;
  }
  return Converse(CollectSelfFacts());
}

}  // namespace tether::stub
