// The stub takes its bounding and ambient sets and its ignored signals
// from /proc/self/status in one read, and from the kernel one at a time
// where that file is not procfs's own: a /proc that lies (a tmpfs mounted
// over it, with a status file that claims an empty bounding set and no
// ignored signal) changes neither what the Hello says nor which
// dispositions are reset.

#include "stub/self_status.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "stub/in_child_for_test.h"
#include "stub/init.h"
#include "stub/self_facts.h"

namespace tether::stub {
namespace {

uint64_t BoundingSetByPrctl() {
  uint64_t bounding = 0;
  for (int cap = 0; cap < 64 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) bounding |= uint64_t{1} << cap;
  }
  return bounding;
}

bool Ignored(int signo) {
  struct sigaction action = {};
  return sigaction(signo, nullptr, &action) == 0 && action.sa_handler == SIG_IGN;
}

// A tmpfs over /proc whose self/status says: nothing in the bounding set,
// nothing ambient, nothing ignored.
// A mount namespace of its own, whose mounts reach no other.
void EnterPrivateMountNamespace() {
  ASSERT_EQ(unshare(CLONE_NEWNS), 0) << strerror(errno);
  ASSERT_EQ(mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << strerror(errno);
}

// In a mount namespace of its own (InChild makes the caller root of a
// user namespace where it is not root).
void MountLyingProc() {
  ASSERT_NO_FATAL_FAILURE(EnterPrivateMountNamespace());
  ASSERT_EQ(mount("tmpfs", "/proc", "tmpfs", 0, "mode=0755"), 0) << strerror(errno);
  ASSERT_EQ(mkdir("/proc/self", 0755), 0) << strerror(errno);
  int fd = open("/proc/self/status", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  const std::string lie =
      "Name:\ttether-stub\nSigIgn:\t0000000000000000\nCapBnd:\t0000000000000000\n"
      "CapAmb:\t0000000000000000\n";
  ASSERT_EQ(write(fd, lie.data(), lie.size()), static_cast<ssize_t>(lie.size()));
  close(fd);
}

TEST(SelfStatusTest, MasksAreWhatTheKernelSaysOneAtATime) {
  InChild([] {
    ASSERT_EQ(prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0), 0);
    signal(SIGUSR1, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    std::optional<SelfStatusMasks> masks = ReadSelfStatusMasks();
    ASSERT_TRUE(masks.has_value());
    EXPECT_EQ(masks->bounding, BoundingSetByPrctl());
    EXPECT_EQ(masks->bounding >> CAP_SYS_ADMIN & 1, 0u);
    EXPECT_EQ(masks->ambient, 0u);
    // glibc keeps two real-time signals for itself (SIGRTMIN is above
    // them) and answers nothing about them.
    uint64_t ignored = 0, askable = 0;
    for (int signo = 1; signo < NSIG; ++signo) {
      if (signo > SIGSYS && signo < SIGRTMIN) continue;
      askable |= uint64_t{1} << (signo - 1);
      if (Ignored(signo)) ignored |= uint64_t{1} << (signo - 1);
    }
    EXPECT_EQ(masks->ignored_signals & askable, ignored);
    EXPECT_NE(ignored & (uint64_t{1} << (SIGUSR1 - 1)), 0u);
  });
}

TEST(SelfStatusTest, AStatusFileThatIsNotProcfsIsNotRead) {
  InChild([] {
    MountLyingProc();
    EXPECT_FALSE(ReadSelfStatusMasks().has_value());
  });
}

// Another process's procfs directory (pid 1's, with its whole bounding
// set) bound over /proc: procfs's own files, but not the caller's.
TEST(SelfStatusTest, AnotherProcessesProcDirectoryBoundOverProcIsNotRead) {
  InChild([] {
    ASSERT_EQ(prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0), 0);
    uint64_t truth = BoundingSetByPrctl();
    ASSERT_NO_FATAL_FAILURE(EnterPrivateMountNamespace());
    ASSERT_EQ(mount("/proc/1", "/proc", nullptr, MS_BIND, nullptr), 0) << strerror(errno);
    EXPECT_FALSE(ReadSelfStatusMasks().has_value());
    EXPECT_EQ(CollectSelfFacts().caps.bounding, truth);
  });
}

// A tmpfs over /proc whose self and thread-self are links into the real
// procfs, kept elsewhere, at pid 1: the status file they reach is
// procfs's own, but pid 1's.
TEST(SelfStatusTest, LinksFromATmpfsOverProcIntoTheRealOneAreNotFollowed) {
  InChild([] {
    ASSERT_EQ(prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0), 0);
    uint64_t truth = BoundingSetByPrctl();
    ASSERT_NO_FATAL_FAILURE(EnterPrivateMountNamespace());
    char real[] = "/tmp/self-status-test-XXXXXX";
    ASSERT_NE(mkdtemp(real), nullptr) << strerror(errno);
    ASSERT_EQ(mount("/proc", real, nullptr, MS_BIND | MS_REC, nullptr), 0) << strerror(errno);
    ASSERT_EQ(mount("tmpfs", "/proc", "tmpfs", 0, "mode=0755"), 0) << strerror(errno);
    ASSERT_EQ(symlink((std::string(real) + "/1").c_str(), "/proc/self"), 0) << strerror(errno);
    ASSERT_EQ(symlink((std::string(real) + "/1/task/1").c_str(), "/proc/thread-self"), 0)
        << strerror(errno);
    EXPECT_FALSE(ReadSelfStatusMasks().has_value());
    EXPECT_EQ(CollectSelfFacts().caps.bounding, truth);
    umount2(real, MNT_DETACH);
    rmdir(real);
  });
}

TEST(SelfStatusTest, HelloUnderALyingProcReportsTheKernelsBoundingSet) {
  InChild([] {
    ASSERT_EQ(prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0), 0);
    uint64_t truth = BoundingSetByPrctl();
    MountLyingProc();
    ipc::Hello hello = CollectSelfFacts();
    EXPECT_EQ(hello.caps.bounding, truth);
    EXPECT_NE(hello.caps.bounding, 0u);
  });
}

TEST(SelfStatusTest, IgnoredSignalsAreResetUnderALyingProc) {
  InChild([] {
    MountLyingProc();
    signal(SIGHUP, SIG_IGN);
    signal(SIGCHLD, SIG_IGN);
    ResetSignalDispositions();
    EXPECT_FALSE(Ignored(SIGHUP));
    EXPECT_FALSE(Ignored(SIGCHLD));
  });
}

TEST(SelfStatusTest, IgnoredSignalsAreResetToTheirDefault) {
  InChild([] {
    signal(SIGTERM, SIG_IGN);
    signal(SIGRTMIN + 3, SIG_IGN);
    ResetSignalDispositions();
    EXPECT_FALSE(Ignored(SIGTERM));
    EXPECT_FALSE(Ignored(SIGRTMIN + 3));
  });
}

}  // namespace
}  // namespace tether::stub
