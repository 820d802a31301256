#include <errno.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel/capabilities.h"
#include "kernel/exec.h"
#include "kernel/landlock.h"
#include "kernel/seccomp.h"

namespace tether::kernel {
namespace {

// Runs `body` in a forked child and returns its exit status.
int InChild(int (*body)()) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(Capabilities, ClearedBoundingSetIsEmptyOrTheKernelSaysWhy) {
  EXPECT_EQ(InChild([] {
              int error = ClearBoundingSet();
              if (error != 0) return error == EPERM ? 0 : 1;  // no CAP_SETPCAP here
              return prctl(PR_CAPBSET_READ, 0, 0, 0, 0) == 0 ? 0 : 2;
            }),
            0);
}

TEST(Seccomp, AnAllowAllFilterLoadsAfterNoNewPrivs) {
  EXPECT_EQ(InChild([] {
              struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, 0x7fff0000U);
              if (SetNoNewPrivsAndLoadSeccompFilter(&allow, 1) != 0) return 1;
              return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2 ? 0 : 2;
            }),
            0);
}

TEST(Seccomp, AnEmptyProgramIsRefusedBeforeTheKernel) {
  EXPECT_EQ(LoadSeccompFilter(nullptr, 0), EINVAL);
}

TEST(Landlock, AbiIsPositiveOrAnErrno) {
  int abi = QueryLandlockAbi();
  EXPECT_NE(abi, 0);
  if (abi > 0) EXPECT_NE(HandledFsAccess(abi), 0u);
}

TEST(Landlock, RightsMissingBelowNamesOnlyTheGap) {
  EXPECT_EQ(RightsMissingBelow(4, 6), "ioctl_dev, abstract_unix_socket and signal scoping");
  EXPECT_EQ(RightsMissingBelow(1, 3), "refer, truncate");
  EXPECT_EQ(RightsMissingBelow(6, 6), "");
}

TEST(Exec, NotFoundIs127AndEverythingElse126) {
  EXPECT_EQ(ExitStatusForExecErrno(ENOENT), 127);
  EXPECT_EQ(ExitStatusForExecErrno(EACCES), 126);
  EXPECT_EQ(ExitStatusForExecErrno(ENOEXEC), 126);
}

}  // namespace
}  // namespace tether::kernel
