#include "policy/supervisor_seccomp.h"

#include <errno.h>
#include <linux/netlink.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include <gtest/gtest.h>

namespace tether::policy {
namespace {

// Restricts a forked child and returns the errno `attempt` leaves (0 for
// success), or -1 when the restriction itself failed.
int ErrnoAsRestrictedSupervisor(const std::function<long()>& attempt) {
  absl::StatusOr<std::vector<sock_filter>> program = CompileSupervisorFilter();
  EXPECT_TRUE(program.ok()) << program.status();
  if (!program.ok()) return -1;
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return -2;
  pid_t pid = fork();
  if (pid == 0) {
    int result = -1;
    if (RestrictSelfWithSeccomp(*program).ok()) {
      errno = 0;
      result = attempt() < 0 ? errno : 0;
    }
    (void)!write(pipe_fds[1], &result, sizeof(result));
    _exit(0);
  }
  close(pipe_fds[1]);
  int result = -3;
  (void)!read(pipe_fds[0], &result, sizeof(result));
  close(pipe_fds[0]);
  waitpid(pid, nullptr, 0);
  return result;
}

TEST(SupervisorSeccompTest, PtraceFailsWithEperm) {
  EXPECT_EQ(ErrnoAsRestrictedSupervisor(
                [] { return ptrace(PTRACE_ATTACH, getppid(), nullptr, nullptr); }),
            EPERM);
}

TEST(SupervisorSeccompTest, BpfFailsWithEperm) {
  EXPECT_EQ(ErrnoAsRestrictedSupervisor([] { return syscall(SYS_bpf, 0, nullptr, 0); }), EPERM);
}

TEST(SupervisorSeccompTest, ExecveFailsWithEperm) {
  EXPECT_EQ(ErrnoAsRestrictedSupervisor([] {
              char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
              return static_cast<long>(execv("/bin/true", argv));
            }),
            EPERM);
}

TEST(SupervisorSeccompTest, KeyctlFailsWithEperm) {
  EXPECT_EQ(ErrnoAsRestrictedSupervisor([] { return syscall(SYS_keyctl, 0, 0, 0, 0, 0); }),
            EPERM);
}

TEST(SupervisorSeccompTest, WaitingForChildrenStillWorks) {
  EXPECT_EQ(ErrnoAsRestrictedSupervisor([] {
              pid_t child = fork();
              if (child == 0) _exit(0);
              return static_cast<long>(waitpid(child, nullptr, 0));
            }),
            0);
}

TEST(SupervisorSeccompTest, SignallingAChildThroughItsPidfdStillWorks) {
  EXPECT_EQ(ErrnoAsRestrictedSupervisor([] {
              pid_t child = fork();
              if (child == 0) {
                pause();
                _exit(0);
              }
              int pidfd = static_cast<int>(syscall(SYS_pidfd_open, child, 0));
              long sent = syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
              waitpid(child, nullptr, 0);
              return sent;
            }),
            0);
}

TEST(SupervisorSeccompTest, RouteNetlinkForTeardownStillWorks) {
  EXPECT_EQ(ErrnoAsRestrictedSupervisor(
                [] { return static_cast<long>(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)); }),
            0);
}

}  // namespace
}  // namespace tether::policy
