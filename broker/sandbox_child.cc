#include "broker/sandbox_child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/files.h"
#include "base/status.h"
#include "broker/exit_codes.h"
#include "broker/netns.h"
#include "broker/view_builder.h"
#include "ipc/fd_passing.h"
#include "kernel/capabilities.h"
#include "kernel/exec.h"

namespace tether::broker {
namespace {

using kernel::kStubSocketFd;

void Complain(const char* message) { (void)!write(STDERR_FILENO, message, strlen(message)); }

// The sandbox's own network namespace (a non-root broker's): lo up and,
// for the egress proxy, its listener, then one datagram to the broker,
// which serves the listener from its own namespace. Returns whether the
// broker was told that all went well.
bool SetUpNetwork(const SandboxChild& setup) {
  NetworkOutcome outcome;
  UniqueFd listener;
  absl::Status status = BringLoopbackUpHere();
  if (status.ok() && setup.proxy_listener) {
    listener.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener.valid()) {
      status = ErrnoStatus(errno, "socket(AF_INET, SOCK_STREAM) in the sandbox's namespace");
    } else {
      absl::StatusOr<uint16_t> port = ListenOnLoopback(listener.get());
      if (port.ok()) outcome.port = *port;
      status = port.status();
    }
  }
  if (!status.ok()) {
    outcome.error = EIO;
    snprintf(outcome.message, sizeof(outcome.message), "%s", std::string(status.message()).c_str());
  }
  int fd = listener.get();
  bool sent = ipc::SendWithFds(setup.network_report_fd, &outcome, sizeof(outcome), &fd,
                               listener.valid() ? 1 : 0) == sizeof(outcome);
  return sent && status.ok();
}

}  // namespace

// Runs in the cloned child, the broker's code in the sandbox's new
// namespaces (the broker is single-threaded here): the hostname, the
// filesystem view, then the stub, executed from the fd that was checked
// (stub_binary.h). The stub itself never mounts.
[[noreturn]] void StartSandboxChild(const SandboxChild& setup) {
  for (int fd : setup.broker_ends) close(fd);
  // The broker handles no signal (signalfd), so exec leaves only what its
  // caller ignored, and the stub resets those before the workload starts
  // (stub/init.h: ResetSignalDispositions). The mask is the broker's own.
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
  // Dies with the broker from here on; the stub re-arms this after its
  // identity change, which clears it.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // A broker that died before that: outside a new pid namespace the parent
  // changed; inside, where the parent is not visible (0), the pipe from the
  // broker has hung up.
  struct pollfd broker = {setup.proceed_fd, POLLIN, 0};
  if (getppid() != (setup.new_pid_namespace ? 0 : setup.broker_pid) ||
      (poll(&broker, 1, 0) > 0 && (broker.revents & (POLLHUP | POLLERR)) != 0)) {
    _exit(kExitSetupFailed);
  }
  // Until the broker writes the id maps, this child is nobody here.
  char mapped = 0;
  if (setup.user_namespace && read(setup.proceed_fd, &mapped, 1) != 1) _exit(kExitSetupFailed);
  // The NIS domain name too: a new uts namespace starts with the host's.
  if (setup.hostname != nullptr && (sethostname(setup.hostname, strlen(setup.hostname)) != 0 ||
                                    setdomainname("(none)", 6) != 0)) {
    Complain("tether: sethostname in the sandbox's uts namespace failed\n");
    _exit(kExitSetupFailed);
  }
  if (setup.network_report_fd >= 0 && !SetUpNetwork(setup)) {
    Complain("tether: the sandbox's network could not be set up\n");
    _exit(kExitSetupFailed);
  }
  if (setup.view != nullptr) {
    std::vector<ViewMountOutcome> outcomes;
    outcomes.reserve(setup.view->mounts.size() + 1);
    int error = BuildView(*setup.view, &outcomes);
    if (error == 0) outcomes.push_back({kViewComplete, 0});
    // All outcomes in one write: each write wakes the broker, and a wake-up
    // on another CPU costs more than a mount (a child that dies before it
    // is taken as having reported none).
    absl::string_view bytes(reinterpret_cast<const char*>(outcomes.data()),
                            outcomes.size() * sizeof(outcomes[0]));
    if (!WriteFully(setup.view_report_fd, bytes, "view outcomes").ok() || error != 0) {
      _exit(kExitSetupFailed);
    }
    // The broker reads /proc/<pid>/mountinfo while only its own code runs
    // here, then lets the stub start (or closes the pipe: exit).
    char proceed = 0;
    if (read(setup.proceed_fd, &proceed, 1) != 1) _exit(kExitSetupFailed);
  }
  // Every capability this child holds is in its own user namespace, and
  // the stub loses them at exec; the bounding set goes too, so that nothing
  // started inside can gain one back.
  if (setup.user_namespace && kernel::ClearBoundingSet() != 0) {
    Complain("tether: the bounding set could not be cleared in the sandbox's user namespace\n");
    _exit(kExitSetupFailed);
  }
  // Both fds move above the ones they will become, so neither overwrites
  // the other; the binary's fd stays close-on-exec.
  int socket_copy = fcntl(setup.stub_socket, F_DUPFD_CLOEXEC, kStubSocketFd + 2);
  int binary = fcntl(setup.stub_binary, F_DUPFD_CLOEXEC, kStubSocketFd + 2);
  if (socket_copy < 0 || binary < 0 || dup2(socket_copy, kStubSocketFd) < 0 ||
      dup3(binary, kStubSocketFd + 1, O_CLOEXEC) < 0) {
    _exit(kExitSetupFailed);
  }
  syscall(SYS_close_range, kStubSocketFd + 2, ~0U, 0);
  char fd_text[] = "3";
  char* argv[] = {const_cast<char*>("tether-stub"), const_cast<char*>("--fd"), fd_text, nullptr};
  char* envp[] = {nullptr};
  syscall(SYS_execveat, kStubSocketFd + 1, "", argv, envp, AT_EMPTY_PATH);
  Complain("tether: cannot execute the stub\n");
  _exit(kExitSetupFailed);
}

}  // namespace tether::broker
