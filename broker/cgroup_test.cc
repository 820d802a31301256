#include "broker/cgroup.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "gtest/gtest.h"

namespace tether::broker {
namespace {

constexpr char kHybridMountinfo[] =
    "30 24 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "33 30 0:29 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "34 30 0:30 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr char kHybridCgroup[] =
    "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";

TEST(CgroupLayoutTest, HybridHostServesControllersFromV1AndKeepsTheUnifiedTree) {
  CgroupLayout layout = ParseCgroupLayout(kHybridMountinfo, kHybridCgroup);
  ASSERT_TRUE(layout.unified.has_value());
  EXPECT_EQ(layout.unified->mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(layout.unified->own_path, "/");
  ASSERT_EQ(layout.v1.size(), 3u);
  const CgroupHierarchy* memory = layout.For("memory");
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(memory->version, CgroupVersion::kV1);
  EXPECT_EQ(memory->OwnDirectory(), "/sys/fs/cgroup/memory/process_api/abc");
  EXPECT_EQ(layout.For("pids")->OwnDirectory(), "/sys/fs/cgroup/pids");
  EXPECT_EQ(layout.For("cpu")->mount_point, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(layout.For("io"), nullptr);
}

TEST(CgroupLayoutTest, UnifiedHostServesEveryControllerItsCgroupOffers) {
  CgroupLayout layout =
      ParseCgroupLayout("40 30 0:35 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
                        "0::/user.slice/user-1000.slice/session-3.scope\n");
  ASSERT_TRUE(layout.unified.has_value());
  EXPECT_TRUE(layout.v1.empty());
  EXPECT_EQ(layout.unified->OwnDirectory(),
            "/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope");
  EXPECT_EQ(layout.For("memory"), nullptr);  // until cgroup.controllers says so
  layout.unified->controllers = {"cpu", "memory", "pids"};
  EXPECT_EQ(layout.For("memory"), &*layout.unified);
}

TEST(CgroupLayoutTest, AMountOfAnotherSubtreeIsLeftOut) {
  // A container's view: its cgroup bound at the mount point; the broker's
  // path must lie under the mount's root.
  CgroupLayout inside = ParseCgroupLayout(
      "50 40 0:35 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/docker/abc/sub\n");
  ASSERT_TRUE(inside.unified.has_value());
  EXPECT_EQ(inside.unified->own_path, "/sub");
  CgroupLayout elsewhere = ParseCgroupLayout(
      "50 40 0:35 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/docker/other\n");
  EXPECT_FALSE(elsewhere.unified.has_value());
}

TEST(CgroupLimitFilesTest, EachLimitWritesItsVersionsFiles) {
  policy::ResourceLimits limits;
  limits.memory_bytes = (uint64_t{64} << 20) + 100;  // not a whole page
  limits.swap_bytes = uint64_t{16} << 20;
  limits.pids = 32;
  limits.cpus = 0.5;
  const struct {
    const char* name;
    CgroupVersion version;
    std::string setting;
    std::vector<std::string> expected;
  } kCases[] = {
      {"memory", CgroupVersion::kV1, "memory.limit_in_bytes=67108964", {"67108864"}},
      {"memory", CgroupVersion::kV2, "memory.max=67108964", {"67108864"}},
      // v1 counts memory and swap together; v2 swap alone.
      {"swap", CgroupVersion::kV1, "memory.memsw.limit_in_bytes=83886180", {"83886080"}},
      {"swap", CgroupVersion::kV2, "memory.swap.max=16777216", {"16777216"}},
      {"pids", CgroupVersion::kV1, "pids.max=32", {"32"}},
      {"pids", CgroupVersion::kV2, "pids.max=32", {"32"}},
      {"cpu",
       CgroupVersion::kV1,
       "cpu.cfs_period_us=100000, cpu.cfs_quota_us=50000",
       {"100000", "50000"}},
      {"cpu", CgroupVersion::kV2, "cpu.max=50000 100000", {"50000 100000"}},
  };
  for (const auto& test : kCases) {
    CgroupLimit limit;
    limit.name = test.name;
    FillLimitFiles(test.version, limits, 4096, &limit);
    EXPECT_EQ(limit.Setting(), test.setting) << test.name << " " << CgroupVersionName(test.version);
    EXPECT_EQ(limit.expected, test.expected) << test.name;
  }
}

TEST(CgroupLimitFilesTest, AMemoryLimitAlwaysComesWithASwapLimitAndPidsAlwaysComes) {
  policy::ResourceLimits limits;
  std::vector<CgroupLimit> planned = PlanCgroupLimits(limits);
  ASSERT_EQ(planned.size(), 1u);
  EXPECT_EQ(planned[0].name, "pids");
  EXPECT_FALSE(planned[0].asked);
  limits.memory_bytes = uint64_t{64} << 20;
  planned = PlanCgroupLimits(limits);
  ASSERT_EQ(planned.size(), 3u);
  EXPECT_EQ(planned[0].name, "memory");
  EXPECT_EQ(planned[1].name, "swap");
  CgroupLimit swap = planned[1];
  FillLimitFiles(CgroupVersion::kV2, limits, 4096, &swap);
  EXPECT_EQ(swap.Setting(), "memory.swap.max=0");  // none beyond memory unless asked
}

TEST(CgroupLimitFilesTest, OomKillsAreReadFromEitherVersionsFile) {
  EXPECT_EQ(ParseOomKills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 3u);
  EXPECT_EQ(ParseOomKills("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 1\n"), 1u);
  EXPECT_EQ(ParseOomKills("oom_kill_disable 0\n"), 0u);
}

// On the real kernel of this host, whatever version serves each
// controller.
class SandboxCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<CgroupLayout> layout = DiscoverCgroupLayout();
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = *layout;
    ASSERT_NE(layout_.For("pids"), nullptr) << "this host offers no pids controller";
    ASSERT_NE(layout_.For("memory"), nullptr) << "this host offers no memory controller";
  }

  // A child that waits for a byte on a pipe, then runs `body`.
  static pid_t Child(int* release, int (*body)()) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
      close(pipe_fds[1]);
      char byte;
      if (read(pipe_fds[0], &byte, 1) != 1) _exit(99);
      _exit(body());
    }
    close(pipe_fds[0]);
    *release = pipe_fds[1];
    return pid;
  }

  CgroupLayout layout_;
};

TEST_F(SandboxCgroupTest, LimitsAreWrittenReadBackAndTheDirectoriesGoWithTheCgroup) {
  policy::ResourceLimits limits;
  limits.memory_bytes = uint64_t{64} << 20;
  limits.pids = 32;
  limits.cpus = 0.5;
  std::vector<std::string> paths;
  {
    std::unique_ptr<SandboxCgroup> cgroup = SandboxCgroup::Create(layout_, limits);
    int release = -1;
    pid_t child = Child(&release, [] { return 0; });
    ASSERT_GT(child, 0);
    cgroup->Attach(child, false);
    cgroup->Verify(child);
    for (const CgroupLimit& limit : cgroup->limits()) {
      EXPECT_EQ(limit.error, 0) << limit.name << ": " << limit.problem;
      if (!limit.skipped) paths.push_back(limit.directory);
      if (limit.name == "pids") {
        EXPECT_EQ(*ReadSmallFile(limit.directory + "/pids.max"), "32\n");
      }
    }
    EXPECT_FALSE(cgroup->Describe().empty());
    close(release);
    int status;
    waitpid(child, &status, 0);
  }
  ASSERT_FALSE(paths.empty());
  for (const std::string& path : paths) {
    struct stat st;
    EXPECT_NE(stat(path.c_str(), &st), 0) << path << " is left behind";
  }
}

TEST_F(SandboxCgroupTest, AForkLoopStopsAtThePidsLimit) {
  policy::ResourceLimits limits;
  limits.pids = 8;
  std::unique_ptr<SandboxCgroup> cgroup = SandboxCgroup::Create(layout_, limits);
  int release = -1;
  pid_t child = Child(&release, [] {
    int forked = 0;
    while (forked < 100) {
      pid_t pid = fork();
      if (pid < 0) break;
      if (pid == 0) {
        pause();
        _exit(0);
      }
      ++forked;
    }
    return forked;
  });
  ASSERT_GT(child, 0);
  cgroup->Attach(child, false);
  ASSERT_EQ(write(release, "x", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);  // itself and seven children
  close(release);
  cgroup->KillAll();  // the paused children, orphans now
  for (const CgroupLimit& limit : cgroup->limits()) {
    EXPECT_EQ(*ReadSmallFile(limit.directory + "/cgroup.procs"), "");
  }
}

TEST_F(SandboxCgroupTest, TheMemoryLimitEndsAnAllocatorAndCountsAnOomKill) {
  policy::ResourceLimits limits;
  limits.memory_bytes = uint64_t{16} << 20;
  std::unique_ptr<SandboxCgroup> cgroup = SandboxCgroup::Create(layout_, limits);
  ASSERT_GE(cgroup->oom_fd(), 0);
  int release = -1;
  pid_t child = Child(&release, [] {
    const size_t size = size_t{256} << 20;
    char* memory = static_cast<char*>(malloc(size));
    for (size_t i = 0; memory != nullptr && i < size; i += 4096) memory[i] = 1;
    return 0;
  });
  ASSERT_GT(child, 0);
  cgroup->Attach(child, false);
  cgroup->Verify(child);
  ASSERT_EQ(write(release, "x", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  close(release);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_GE(cgroup->OomKills(), 1u);
  struct pollfd oom = {cgroup->oom_fd(), cgroup->oom_poll_events(), 0};
  EXPECT_EQ(poll(&oom, 1, 1000), 1) << "no OOM notification";
}

TEST_F(SandboxCgroupTest, CloneIntoTheUnifiedTreeAndKillThroughIt) {
  ASSERT_TRUE(layout_.unified.has_value()) << "no cgroup2 mount on this host";
  std::unique_ptr<SandboxCgroup> cgroup = SandboxCgroup::Create(layout_, {});
  ASSERT_GE(cgroup->clone_fd(), 0);
  struct clone_args args = {};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(cgroup->clone_fd());
  long pid = syscall(SYS_clone3, &args, sizeof(args));
  if (pid == 0) {
    // A grandchild too: cgroup.kill reaches every member.
    if (fork() == 0) pause();
    pause();
    _exit(0);
  }
  ASSERT_GT(pid, 0) << strerror(errno);
  absl::StatusOr<std::string> membership = ReadSmallFile(absl::StrCat("/proc/", pid, "/cgroup"));
  ASSERT_TRUE(membership.ok());
  EXPECT_TRUE(absl::StrContains(*membership, "0::/")) << *membership;
  EXPECT_TRUE(absl::StrContains(*membership, "/tether-")) << *membership;
  cgroup->Attach(static_cast<pid_t>(pid), true);
  cgroup->KillAll();
  int status = 0;
  ASSERT_EQ(waitpid(static_cast<pid_t>(pid), &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

TEST_F(SandboxCgroupTest, StaleCgroupsOfADeadBrokerAreRemovedAndLiveOnesKept) {
  // A broker of this pid namespace that is gone: a pid with another start
  // time. And a live one: this process.
  struct stat ns;
  ASSERT_EQ(stat("/proc/self/ns/pid", &ns), 0);
  std::string dead = absl::StrCat("tether-", ns.st_ino, "-", getpid(), "-1-0");
  std::vector<std::string> made;
  for (const CgroupHierarchy* hierarchy : {layout_.For("pids"), layout_.For("memory")}) {
    std::string path = hierarchy->OwnDirectory() + "/" + dead;
    ASSERT_EQ(mkdir(path.c_str(), 0755), 0) << path << ": " << strerror(errno);
    made.push_back(path);
  }
  std::unique_ptr<SandboxCgroup> live = SandboxCgroup::Create(layout_, {});
  EXPECT_GE(RemoveStaleCgroups(layout_), 2);
  for (const std::string& path : made) {
    struct stat st;
    EXPECT_NE(stat(path.c_str(), &st), 0) << path << " was kept";
  }
  for (const CgroupLimit& limit : live->limits()) {
    struct stat st;
    EXPECT_EQ(stat(limit.directory.c_str(), &st), 0) << limit.directory << " was removed";
  }
}

}  // namespace
}  // namespace tether::broker
