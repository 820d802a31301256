#include "policy/supervisor_seccomp.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "tests/support/child_outcome.h"

namespace tether::policy {
namespace {

// Restricts a forked child and returns the errno `attempt` leaves (0 for
// success), or -1 when the restriction itself failed.
int ErrnoAsRestrictedSupervisor(const std::function<long()>& attempt) {
  absl::StatusOr<std::vector<sock_filter>> program = CompileSupervisorFilter();
  EXPECT_TRUE(program.ok()) << program.status();
  if (!program.ok()) return -1;
  test_support::ChildOutcome outcome = test_support::RunInChild([&]() -> std::pair<int, int> {
    absl::Status restricted = RestrictSelfWithSeccomp(*program);
    if (!restricted.ok()) return {1, 0};
    errno = 0;
    return {0, attempt() < 0 ? errno : 0};
  });
  EXPECT_TRUE(outcome.report.has_value()) << "wait status " << outcome.wait_status;
  if (!outcome.report.has_value() || outcome.report->first != 0) return -1;
  return outcome.report->second;
}

// What the broker never needs again once it is restricted: each attempt
// must fail with EPERM.
struct DeniedCall {
  const char* name;
  long (*attempt)();
};

class SupervisorDeniesTest : public ::testing::TestWithParam<DeniedCall> {};

TEST_P(SupervisorDeniesTest, CallFailsWithEperm) {
  EXPECT_EQ(ErrnoAsRestrictedSupervisor(GetParam().attempt), EPERM);
}

INSTANTIATE_TEST_SUITE_P(
    Calls, SupervisorDeniesTest,
    ::testing::Values(DeniedCall{"Ptrace",
                                 [] { return ptrace(PTRACE_ATTACH, getppid(), nullptr, nullptr); }},
                      DeniedCall{"Bpf", [] { return syscall(SYS_bpf, 0, nullptr, 0); }},
                      DeniedCall{"Execve",
                                 [] {
                                   char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
                                   return static_cast<long>(execv("/bin/true", argv));
                                 }},
                      DeniedCall{"Keyctl", [] { return syscall(SYS_keyctl, 0, 0, 0, 0, 0); }}),
    [](const ::testing::TestParamInfo<DeniedCall>& info) { return std::string(info.param.name); });

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
