#include <errno.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "kernel/capabilities.h"
#include "kernel/exec.h"
#include "kernel/landlock.h"
#include "kernel/seccomp.h"
#include "kernel/spawn.h"

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

// As InChild, with CAP_SETPCAP: root's, or all capabilities in a user
// namespace of the child's own.
int InChildWithSetpcap(int (*body)()) {
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() != 0 && unshare(CLONE_NEWUSER) != 0) _exit(99);
    _exit(body());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The kernel's last capability, as it says itself.
int LastCapability() {
  FILE* file = std::fopen("/proc/sys/kernel/cap_last_cap", "re");
  int last = -1;
  if (file != nullptr) {
    if (std::fscanf(file, "%d", &last) != 1) last = -1;
    std::fclose(file);
  }
  return last;
}

TEST(Capabilities, ClearedBoundingSetHoldsNoneOfTheKernelsCapabilities) {
  int last = LastCapability();
  ASSERT_GE(last, 37);
  EXPECT_EQ(InChildWithSetpcap([] {
              if (ClearBoundingSet() != 0) return 1;
              for (int cap = 0; cap <= LastCapability(); ++cap) {
                if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0) return 2;
              }
              return 0;
            }),
            0);
}

// Has prctl(option) fail with `error` (a host's errno filter), everything
// else allowed.
int RefusePrctl(int option, int error) {
  struct sock_filter program[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(option), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | static_cast<uint32_t>(error)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  return SetNoNewPrivsAndLoadSeccompFilter(program, sizeof(program) / sizeof(program[0]));
}

// The attack: a host answering EINVAL to every drop must not pass for a
// kernel whose capabilities all went.
TEST(Capabilities, AHostRefusingEveryDropWithEinvalIsAFailureNotTheEnd) {
  EXPECT_EQ(InChildWithSetpcap([] {
              if (RefusePrctl(PR_CAPBSET_DROP, EINVAL) != 0) return 3;
              return ClearBoundingSet() == EINVAL ? 0 : 1;
            }),
            0);
}

TEST(Capabilities, ReadsRefusedByTheHostDoNotStopTheDrops) {
  EXPECT_EQ(InChildWithSetpcap([] {
              if (RefusePrctl(PR_CAPBSET_READ, EINVAL) != 0) return 3;
              if (ClearBoundingSet() != 0) return 1;
              // Read back through /proc, which the filter does not cover.
              FILE* status = std::fopen("/proc/self/status", "re");
              if (status == nullptr) return 4;
              char line[256];
              bool empty = false;
              while (std::fgets(line, sizeof(line), status) != nullptr) {
                if (std::strncmp(line, "CapBnd:", 7) == 0) {
                  empty = std::strtoull(line + 7, nullptr, 16) == 0;
                }
              }
              std::fclose(status);
              return empty ? 0 : 2;
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

// What a CloneSharingMemory child saw, written into the caller's memory.
struct SharedReport {
  pid_t pid = 0;
  sigset_t mask;
  int exit_after = 0;
};

int ReportAndExit(void* raw) {
  auto* report = static_cast<SharedReport*>(raw);
  report->pid = static_cast<pid_t>(syscall(SYS_getpid));
  sigprocmask(SIG_SETMASK, nullptr, &report->mask);
  _exit(report->exit_after);
}

// The child writes the caller's memory (no copy of it), has run to its end
// when the call returns (the caller waited), and ran with every signal
// blocked, which the caller no longer has.
TEST(CloneSharingMemoryTest, TheChildWritesTheCallersMemoryWithEverySignalBlocked) {
  SharedReport report;
  report.exit_after = 7;
  sigemptyset(&report.mask);
  pid_t pid = CloneSharingMemory(ReportAndExit, &report);
  ASSERT_GT(pid, 0) << strerror(-pid);
  EXPECT_EQ(report.pid, pid) << "the child's write did not reach the caller";
  for (int signo : {SIGTERM, SIGINT, SIGCHLD, SIGUSR1, SIGHUP}) {
    EXPECT_TRUE(sigismember(&report.mask, signo)) << "signal " << signo << " was not blocked";
  }
  sigset_t mine;
  sigprocmask(SIG_SETMASK, nullptr, &mine);
  EXPECT_FALSE(sigismember(&mine, SIGTERM)) << "the caller's mask was not restored";
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7) << status;
}

int ExecTrue(void*) {
  char* argv[] = {const_cast<char*>("true"), nullptr};
  execv("/bin/true", argv);
  _exit(127);
}

TEST(CloneSharingMemoryTest, AChildThatExecsIsReapedLikeAFork) {
  pid_t pid = CloneSharingMemory(ExecTrue, nullptr);
  ASSERT_GT(pid, 0) << strerror(-pid);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// A child that says where its stack is, then stops until killed.
struct StoppedChild {
  std::atomic<uintptr_t> frame{0};
  std::atomic<pid_t> pid{0};
};

int SayWhereAndStop(void* raw) {
  auto* child = static_cast<StoppedChild*>(raw);
  child->pid = static_cast<pid_t>(syscall(SYS_getpid));
  child->frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  // raise() would name the caller's thread (the TLS is shared).
  syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
  _exit(0);
}

// The page below the child's stack is a guard: an overflow ends the child
// instead of writing into whatever mapping of the shared memory lies below.
// Read from /proc/self/maps by a second thread while the child is stopped
// (the calling thread waits in the clone).
TEST(CloneSharingMemoryTest, TheChildsStackHasAnInaccessiblePageBelowIt) {
  StoppedChild child;
  std::string below;
  uintptr_t stack_start = 0;
  std::thread inspector([&] {
    while (child.frame == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::ifstream maps("/proc/self/maps");
    std::string line, previous;
    while (std::getline(maps, line)) {
      uintptr_t start = 0, end = 0;
      if (std::sscanf(line.c_str(), "%lx-%lx", &start, &end) == 2 && start <= child.frame &&
          child.frame < end) {
        below = previous;
        stack_start = start;
        break;
      }
      previous = line;
    }
    kill(child.pid, SIGKILL);
  });
  pid_t pid = CloneSharingMemory(SayWhereAndStop, &child, 16 * 1024);
  inspector.join();
  ASSERT_GT(pid, 0) << strerror(-pid);
  waitpid(pid, nullptr, 0);
  ASSERT_FALSE(below.empty()) << "no mapping below the child's stack";
  uintptr_t start = 0, end = 0;
  char perms[5] = {};
  ASSERT_EQ(std::sscanf(below.c_str(), "%lx-%lx %4s", &start, &end, perms), 3) << below;
  EXPECT_EQ(end, stack_start) << "the mapping below is not adjacent: " << below;
  EXPECT_STREQ(perms, "---p") << below;
  EXPECT_EQ(end - start, static_cast<uintptr_t>(sysconf(_SC_PAGESIZE))) << below;
}

}  // namespace
}  // namespace tether::kernel
