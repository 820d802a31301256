// PlanFilesystemView on real files: the policy's paths are made in a
// temporary directory and the planner lstat()s them, as it does the host's.

#include "broker/filesystem_view.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "broker/mechanism.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::broker {
namespace {

constexpr uint64_t kReadOnly = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
constexpr uint64_t kReadWrite = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
constexpr uint64_t kDevice = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;

// Mounts at `target`, in plan order.
std::vector<const ViewMount*> MountsAt(const ViewPlan& plan, const std::string& target) {
  std::vector<const ViewMount*> found;
  for (const ViewMount& mount : plan.mounts) {
    if (mount.target == target) found.push_back(&mount);
  }
  return found;
}

// The index of the one mount at `target`, or -1.
int IndexOf(const ViewPlan& plan, const std::string& target) {
  for (size_t i = 0; i < plan.mounts.size(); ++i) {
    if (plan.mounts[i].target == target) return static_cast<int>(i);
  }
  return -1;
}

size_t CountBinds(const ViewPlan& plan) {
  return std::count_if(plan.mounts.begin(), plan.mounts.end(),
                       [](const ViewMount& mount) { return mount.kind == ViewMountKind::kBind; });
}

bool IsStrictlyUnder(const std::string& path, const std::string& directory) {
  if (directory == "/") return path != "/";
  return absl::StartsWith(path, directory + "/");
}

class FilesystemViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char resolved[PATH_MAX];
    ASSERT_NE(realpath(temp_.path().c_str(), resolved), nullptr);
    base_ = resolved;
  }

  std::string MakeDirectory(const std::string& name) {
    std::string path = base_ + "/" + name;
    EXPECT_EQ(mkdir(path.c_str(), 0755), 0) << path;
    return path;
  }
  std::string MakeFile(const std::string& name) {
    std::string path = base_ + "/" + name;
    std::ofstream(path) << "x";
    return path;
  }
  std::string MakeLink(const std::string& name, const std::string& text) {
    std::string path = base_ + "/" + name;
    EXPECT_EQ(symlink(text.c_str(), path.c_str()), 0) << path;
    return path;
  }

  ViewInput Input() const {
    ViewInput input;
    input.policy = &policy_;
    input.working_directory = "/";
    return input;
  }

  ViewPlan Plan(const ViewInput& input) {
    absl::StatusOr<ViewPlan> plan = PlanFilesystemView(input);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.ok() ? *std::move(plan) : ViewPlan{};
  }
  ViewPlan Plan() { return Plan(Input()); }

  testing::ScopedTempDir temp_;
  std::string base_;  // temp_, canonical
  SandboxPolicy policy_;
};

TEST_F(FilesystemViewTest, StartsWithTheReadOnlyTmpfsRoot) {
  ViewPlan plan = Plan();
  ASSERT_FALSE(plan.mounts.empty());
  const ViewMount& root = plan.mounts.front();
  EXPECT_EQ(root.kind, ViewMountKind::kRoot);
  EXPECT_EQ(root.target, "/");
  EXPECT_TRUE(root.read_only);
  EXPECT_EQ(root.attributes, kReadOnly);
  EXPECT_GT(root.tmpfs_size, 0u);
  EXPECT_EQ(MountsAt(plan, "/").size(), 1u);
}

TEST_F(FilesystemViewTest, OrdersParentsBeforeWhatIsUnderThem) {
  // Listed children first: the read-only inner directory (kept, since its
  // writable parent would not keep it read-only) and a sibling whose name
  // extends the parent's.
  MakeDirectory("outer");
  std::string inner = MakeDirectory("outer/inner");
  std::string sibling = MakeDirectory("outer-x");
  std::string outer = base_ + "/outer";
  policy_.read_only = {inner, sibling};
  policy_.read_write = {outer};
  ViewPlan plan = Plan();

  ASSERT_NE(IndexOf(plan, outer), -1);
  ASSERT_NE(IndexOf(plan, inner), -1);
  EXPECT_LT(IndexOf(plan, outer), IndexOf(plan, inner));
  EXPECT_LT(IndexOf(plan, "/dev"), IndexOf(plan, "/dev/pts"));
  EXPECT_LT(IndexOf(plan, "/tmp"), IndexOf(plan, outer));
  for (size_t i = 0; i < plan.mounts.size(); ++i) {
    for (size_t j = i + 1; j < plan.mounts.size(); ++j) {
      EXPECT_FALSE(IsStrictlyUnder(plan.mounts[i].target, plan.mounts[j].target))
          << plan.mounts[i].target << " comes before its parent " << plan.mounts[j].target;
    }
  }
}

TEST_F(FilesystemViewTest, PrivateTmpAndDevShmHaveThePolicysSizeAndMode1777) {
  policy_.tmpfs_size_bytes = uint64_t{8} << 20;
  ViewPlan plan = Plan();
  for (const char* target : {"/tmp", "/dev/shm"}) {
    SCOPED_TRACE(target);
    std::vector<const ViewMount*> mounts = MountsAt(plan, target);
    ASSERT_EQ(mounts.size(), 1u);
    EXPECT_EQ(mounts[0]->kind, ViewMountKind::kTmpfs);
    EXPECT_EQ(mounts[0]->tmpfs_size, uint64_t{8} << 20);
    EXPECT_EQ(mounts[0]->mode, 01777u);
    EXPECT_EQ(mounts[0]->attributes, kReadWrite);
    EXPECT_FALSE(mounts[0]->read_only);
  }
}

TEST_F(FilesystemViewTest, ListingTmpOrDevShmKeepsThemPrivateTmpfs) {
  policy_.read_only = {"/tmp"};
  policy_.read_write = {"/dev/shm"};
  ViewPlan plan = Plan();
  for (const char* target : {"/tmp", "/dev/shm"}) {
    SCOPED_TRACE(target);
    std::vector<const ViewMount*> mounts = MountsAt(plan, target);
    ASSERT_EQ(mounts.size(), 1u);
    EXPECT_EQ(mounts[0]->kind, ViewMountKind::kTmpfs);
  }
  EXPECT_TRUE(plan.absent.empty());
}

TEST_F(FilesystemViewTest, DevIsAMinimalTmpfsWithANewDevpts) {
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> dev = MountsAt(plan, "/dev");
  ASSERT_EQ(dev.size(), 1u);
  EXPECT_EQ(dev[0]->kind, ViewMountKind::kTmpfs);
  EXPECT_EQ(dev[0]->attributes, kReadWrite | MOUNT_ATTR_NOEXEC);
  std::vector<const ViewMount*> pts = MountsAt(plan, "/dev/pts");
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0]->kind, ViewMountKind::kDevpts);
  EXPECT_NE(pts[0]->attributes & MOUNT_ATTR_NOSUID, 0u);
  EXPECT_NE(pts[0]->attributes & MOUNT_ATTR_NOEXEC, 0u);
}

struct StandardLink {
  const char* name;
  const char* target;
  const char* text;
};

class StandardDevLinkTest : public FilesystemViewTest,
                            public ::testing::WithParamInterface<StandardLink> {};

TEST_P(StandardDevLinkTest, IsASymlinkWithItsText) {
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> mounts = MountsAt(plan, GetParam().target);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0]->kind, ViewMountKind::kSymlink);
  EXPECT_EQ(mounts[0]->source, GetParam().text);
  EXPECT_FALSE(mounts[0]->directory);
  EXPECT_EQ(ViewMountOptions(*mounts[0]), std::string("-> ") + GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(
    Links, StandardDevLinkTest,
    ::testing::Values(StandardLink{"Ptmx", "/dev/ptmx", "pts/ptmx"},
                      StandardLink{"Fd", "/dev/fd", "/proc/self/fd"},
                      StandardLink{"Stdin", "/dev/stdin", "/proc/self/fd/0"},
                      StandardLink{"Stdout", "/dev/stdout", "/proc/self/fd/1"},
                      StandardLink{"Stderr", "/dev/stderr", "/proc/self/fd/2"}),
    [](const ::testing::TestParamInfo<StandardLink>& info) { return info.param.name; });

TEST_F(FilesystemViewTest, ProcIsAFreshProcfs) {
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> proc = MountsAt(plan, "/proc");
  ASSERT_EQ(proc.size(), 1u);
  EXPECT_EQ(proc[0]->kind, ViewMountKind::kProc);
  EXPECT_EQ(proc[0]->attributes, kReadWrite | MOUNT_ATTR_NOEXEC);
  EXPECT_FALSE(plan.outer_proc);
}

TEST_F(FilesystemViewTest, HostPathsUnderProcAreNotBound) {
  policy_.read_only = {"/proc", "/proc/self/status"};
  policy_.read_write = {"/proc/sys"};
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> proc = MountsAt(plan, "/proc");
  ASSERT_EQ(proc.size(), 1u);
  EXPECT_EQ(proc[0]->kind, ViewMountKind::kProc);
  for (const ViewMount& mount : plan.mounts) {
    EXPECT_FALSE(IsStrictlyUnder(mount.target, "/proc")) << mount.target;
  }
  EXPECT_TRUE(plan.absent.empty());
}

TEST_F(FilesystemViewTest, ReadOnlyDirectoryIsBoundReadOnlyNosuidNodev) {
  std::string data = MakeDirectory("data");
  policy_.read_only = {data};
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> mounts = MountsAt(plan, data);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0]->kind, ViewMountKind::kBind);
  EXPECT_EQ(mounts[0]->source, data);
  EXPECT_TRUE(mounts[0]->directory);
  EXPECT_TRUE(mounts[0]->read_only);
  EXPECT_EQ(mounts[0]->attributes, kReadOnly);
  EXPECT_EQ(ViewMountAction(*mounts[0]), "bind_read_only");
}

TEST_F(FilesystemViewTest, ReadOnlyFileIsBoundAsAFile) {
  std::string file = MakeFile("config");
  policy_.read_only = {file};
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> mounts = MountsAt(plan, file);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0]->kind, ViewMountKind::kBind);
  EXPECT_FALSE(mounts[0]->directory);
  EXPECT_EQ(mounts[0]->attributes, kReadOnly);
}

TEST_F(FilesystemViewTest, ReadWriteDirectoryIsBoundWritable) {
  std::string out = MakeDirectory("out");
  policy_.read_write = {out};
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> mounts = MountsAt(plan, out);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0]->kind, ViewMountKind::kBind);
  EXPECT_EQ(mounts[0]->source, out);
  EXPECT_FALSE(mounts[0]->read_only);
  EXPECT_EQ(mounts[0]->attributes, kReadWrite);
  EXPECT_EQ(ViewMountAction(*mounts[0]), "bind_read_write");
}

// A real device node: the host's /dev/null.
TEST_F(FilesystemViewTest, DeviceNodeIsBoundNosuidNoexecWithoutNodev) {
  struct stat st;
  ASSERT_EQ(lstat("/dev/null", &st), 0);
  ASSERT_TRUE(S_ISCHR(st.st_mode));
  policy_.devices = {"/dev/null"};
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> mounts = MountsAt(plan, "/dev/null");
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0]->kind, ViewMountKind::kBind);
  EXPECT_FALSE(mounts[0]->directory);
  EXPECT_EQ(mounts[0]->attributes, kDevice);
  EXPECT_EQ(mounts[0]->attributes & MOUNT_ATTR_NODEV, 0u);
  EXPECT_EQ(ViewMountAction(*mounts[0]), "bind_device");
  EXPECT_LT(IndexOf(plan, "/dev"), IndexOf(plan, "/dev/null"));
}

TEST_F(FilesystemViewTest, LinkIsRecreatedWithItsTextAndItsTargetBound) {
  std::string real = MakeDirectory("real");
  std::string link = MakeLink("link", "real");
  policy_.read_only = {link};
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> links = MountsAt(plan, link);
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0]->kind, ViewMountKind::kSymlink);
  EXPECT_EQ(links[0]->source, "real");
  EXPECT_FALSE(links[0]->directory);
  std::vector<const ViewMount*> targets = MountsAt(plan, real);
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0]->kind, ViewMountKind::kBind);
  EXPECT_EQ(targets[0]->source, real);
  EXPECT_EQ(targets[0]->attributes, kReadOnly);
  EXPECT_EQ(CountBinds(plan), 1u);
}

TEST_F(FilesystemViewTest, LinkIntoAnAlreadyBoundDirectoryAddsNoBind) {
  std::string data = MakeDirectory("data");
  std::string sub = MakeDirectory("data/sub");
  std::string link = MakeLink("link", "data/sub");
  policy_.read_only = {data, link};
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> links = MountsAt(plan, link);
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0]->kind, ViewMountKind::kSymlink);
  EXPECT_EQ(links[0]->source, "data/sub");
  EXPECT_TRUE(MountsAt(plan, sub).empty());
  EXPECT_EQ(MountsAt(plan, data).size(), 1u);
  EXPECT_EQ(CountBinds(plan), 1u);
}

TEST_F(FilesystemViewTest, TwoLinksAndTheirTargetBindItOnce) {
  std::string real = MakeDirectory("real");
  std::string first = MakeLink("first", "real");
  std::string second = MakeLink("second", real);
  policy_.read_only = {first, real, second};
  ViewPlan plan = Plan();
  EXPECT_EQ(MountsAt(plan, real).size(), 1u);
  EXPECT_EQ(CountBinds(plan), 1u);
  ASSERT_EQ(MountsAt(plan, second).size(), 1u);
  EXPECT_EQ(MountsAt(plan, second)[0]->source, real);
}

TEST_F(FilesystemViewTest, ChainOfLinksKeepsEveryLinkAndBindsTheEnd) {
  std::string real = MakeDirectory("real");
  std::string second = MakeLink("second", "real");
  std::string first = MakeLink("first", "second");
  policy_.read_only = {first};
  ViewPlan plan = Plan();
  ASSERT_EQ(MountsAt(plan, first).size(), 1u);
  EXPECT_EQ(MountsAt(plan, first)[0]->source, "second");
  ASSERT_EQ(MountsAt(plan, second).size(), 1u) << "the middle link must be there too";
  EXPECT_EQ(MountsAt(plan, second)[0]->kind, ViewMountKind::kSymlink);
  ASSERT_EQ(MountsAt(plan, real).size(), 1u);
  EXPECT_EQ(MountsAt(plan, real)[0]->kind, ViewMountKind::kBind);
}

TEST_F(FilesystemViewTest, LinkLoopEndsWithoutABind) {
  std::string a = MakeLink("a", "b");
  std::string b = MakeLink("b", "a");
  policy_.read_only = {a};
  ViewPlan plan = Plan();
  EXPECT_EQ(MountsAt(plan, a).size(), 1u);
  EXPECT_EQ(MountsAt(plan, b).size(), 1u);
  EXPECT_EQ(CountBinds(plan), 0u);
}

TEST_F(FilesystemViewTest, PathListedReadOnlyAndReadWriteIsBoundOnceWritable) {
  std::string shared = MakeDirectory("shared");
  policy_.read_only = {shared};
  policy_.read_write = {shared};
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> mounts = MountsAt(plan, shared);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_FALSE(mounts[0]->read_only);
  EXPECT_EQ(mounts[0]->attributes, kReadWrite);
}

TEST_F(FilesystemViewTest, WritableDirectoryInsideAReadOnlyOneIsBoundWritable) {
  std::string outer = MakeDirectory("outer");
  std::string inner = MakeDirectory("outer/inner");
  policy_.read_only = {outer};
  policy_.read_write = {inner};
  ViewPlan plan = Plan();
  std::vector<const ViewMount*> mounts = MountsAt(plan, inner);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0]->attributes, kReadWrite);
  EXPECT_LT(IndexOf(plan, outer), IndexOf(plan, inner));
}

// /a read-only, /a/b read-write, /a/b/c read-only: the bind of /a/b hides
// what /a's bind holds at /a/b/c, so /a/b/c needs its own read-only bind.
TEST_F(FilesystemViewTest, ReadOnlyPathInsideAWritableOneInsideAReadOnlyOneStaysReadOnly) {
  std::string a = MakeDirectory("a");
  std::string b = MakeDirectory("a/b");
  std::string c = MakeDirectory("a/b/c");
  policy_.read_only = {a, c};
  policy_.read_write = {b};
  ViewPlan plan = Plan();
  ASSERT_EQ(MountsAt(plan, b).size(), 1u);
  EXPECT_EQ(MountsAt(plan, b)[0]->attributes, kReadWrite);
  std::vector<const ViewMount*> mounts = MountsAt(plan, c);
  ASSERT_EQ(mounts.size(), 1u) << c << " would be writable through the bind of " << b;
  EXPECT_EQ(mounts[0]->attributes, kReadOnly);
  EXPECT_LT(IndexOf(plan, b), IndexOf(plan, c));
}

TEST_F(FilesystemViewTest, PathsMissingOnTheHostAreAbsentAndNotMounted) {
  std::string read_only = base_ + "/missing-ro";
  std::string read_write = base_ + "/missing-rw";
  std::string device = base_ + "/missing-device";
  policy_.read_only = {read_only};
  policy_.read_write = {read_write};
  policy_.devices = {device};
  ViewPlan plan = Plan();
  EXPECT_EQ(plan.absent, (std::vector<std::string>{read_only, read_write, device}));
  for (const std::string& path : {read_only, read_write, device}) {
    EXPECT_TRUE(MountsAt(plan, path).empty()) << path;
  }
}

class WorkingDirectoryViewTest : public FilesystemViewTest,
                                 public ::testing::WithParamInterface<bool> {};

TEST_P(WorkingDirectoryViewTest, IsBoundAtItsOwnPathAsToldAfterTmp) {
  bool writable = GetParam();
  ASSERT_TRUE(absl::StartsWith(base_, "/tmp/")) << base_;
  std::string work = MakeDirectory("work");
  ViewInput input = Input();
  input.working_directory = work;
  input.working_directory_writable = writable;
  ViewPlan plan = Plan(input);
  std::vector<const ViewMount*> mounts = MountsAt(plan, work);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0]->kind, ViewMountKind::kBind);
  EXPECT_EQ(mounts[0]->source, work);
  EXPECT_EQ(mounts[0]->read_only, !writable);
  EXPECT_EQ(mounts[0]->attributes, writable ? kReadWrite : kReadOnly);
  EXPECT_LT(IndexOf(plan, "/tmp"), IndexOf(plan, work));
}

INSTANTIATE_TEST_SUITE_P(Access, WorkingDirectoryViewTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Writable" : "ReadOnly";
                         });

TEST_F(FilesystemViewTest, RootAsWorkingDirectoryAddsNothing) {
  ViewInput input = Input();
  input.working_directory = "/";
  input.working_directory_writable = true;
  ViewPlan plan = Plan(input);
  std::vector<const ViewMount*> root = MountsAt(plan, "/");
  ASSERT_EQ(root.size(), 1u);
  EXPECT_EQ(root[0]->kind, ViewMountKind::kRoot);
  EXPECT_TRUE(root[0]->read_only);
  EXPECT_EQ(CountBinds(plan), 0u);
  EXPECT_TRUE(plan.absent.empty());
}

TEST_F(FilesystemViewTest, StrictWithoutAFreshProcfsIsAnErrorNamingFilesystemView) {
  ViewInput input = Input();
  input.fresh_procfs = ProbeResult{false, EPERM, "mount(proc) in a new pid namespace: EPERM"};
  absl::StatusOr<ViewPlan> plan = PlanFilesystemView(input);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(MechanismOf(plan.status()), Mechanism::kFilesystemView);
  EXPECT_TRUE(
      absl::StrContains(plan.status().message(), "mount(proc) in a new pid namespace: EPERM"))
      << plan.status();
}

TEST_F(FilesystemViewTest, BestEffortWithoutAFreshProcfsBindsTheHostsProcReadOnly) {
  ViewInput input = Input();
  input.fresh_procfs = ProbeResult{false, EPERM, "mount(proc): EPERM"};
  input.best_effort = true;
  ViewPlan plan = Plan(input);
  EXPECT_TRUE(plan.outer_proc);
  std::vector<const ViewMount*> proc = MountsAt(plan, "/proc");
  ASSERT_EQ(proc.size(), 1u);
  EXPECT_EQ(proc[0]->kind, ViewMountKind::kBind);
  EXPECT_EQ(proc[0]->source, "/proc");
  EXPECT_TRUE(proc[0]->read_only);
  EXPECT_NE(proc[0]->attributes & MOUNT_ATTR_RDONLY, 0u);
  EXPECT_TRUE(absl::StartsWith(proc[0]->reason, "best effort: ")) << proc[0]->reason;
}

TEST_F(FilesystemViewTest, RecordsAreEnforcedOrFailedWithTheErrnoInPlanOrder) {
  std::string data = MakeDirectory("data");
  policy_.read_only = {data};
  ViewPlan plan = Plan();
  std::vector<int> errors(plan.mounts.size(), 0);
  int failed = IndexOf(plan, data);
  ASSERT_NE(failed, -1);
  errors[failed] = EACCES;
  std::vector<MechanismRecord> records = ViewRecords(plan, errors);
  ASSERT_EQ(records.size(), plan.mounts.size());
  for (size_t i = 0; i < records.size(); ++i) {
    SCOPED_TRACE(plan.mounts[i].target);
    EXPECT_EQ(records[i].mechanism, Mechanism::kFilesystemView);
    EXPECT_EQ(records[i].action, ViewMountAction(plan.mounts[i]) + " " + plan.mounts[i].target);
    if (static_cast<int>(i) == failed) {
      EXPECT_EQ(records[i].state, MechanismState::kFailed);
      EXPECT_EQ(records[i].errno_value, EACCES);
    } else {
      EXPECT_EQ(records[i].state, MechanismState::kEnforced);
      EXPECT_EQ(records[i].errno_value, 0);
    }
  }
  EXPECT_EQ(records[0].action, "mount_root_tmpfs /");
}

TEST_F(FilesystemViewTest, OutcomesBeyondTheVectorAreNotReached) {
  ViewPlan plan = Plan();
  ASSERT_GT(plan.mounts.size(), 2u);
  std::vector<MechanismRecord> records = ViewRecords(plan, {0, 0});
  ASSERT_EQ(records.size(), plan.mounts.size());
  EXPECT_EQ(records[0].state, MechanismState::kEnforced);
  EXPECT_EQ(records[1].state, MechanismState::kEnforced);
  for (size_t i = 2; i < records.size(); ++i) {
    EXPECT_EQ(records[i].state, MechanismState::kNotReached) << plan.mounts[i].target;
    EXPECT_EQ(records[i].errno_value, 0);
  }
}

// The broker starts every outcome at -1 (run_session.cc) and the builder
// overwrites those it reaches: -1 is a mount the builder never reached.
TEST_F(FilesystemViewTest, MissingOutcomeOfMinusOneIsNotReached) {
  ViewPlan plan = Plan();
  ASSERT_GT(plan.mounts.size(), 1u);
  std::vector<int> errors(plan.mounts.size(), -1);
  errors[0] = 0;
  std::vector<MechanismRecord> records = ViewRecords(plan, errors);
  ASSERT_EQ(records.size(), plan.mounts.size());
  EXPECT_EQ(records[0].state, MechanismState::kEnforced);
  std::vector<std::string> states;
  std::vector<int> errnos;
  for (size_t i = 1; i < records.size(); ++i) {
    states.push_back(MechanismStateName(records[i].state));
    errnos.push_back(records[i].errno_value);
  }
  EXPECT_EQ(states, std::vector<std::string>(records.size() - 1, "not_reached"));
  EXPECT_EQ(errnos, std::vector<int>(records.size() - 1, 0));
}

TEST_F(FilesystemViewTest, OuterProcRecordIsDegraded) {
  ViewInput input = Input();
  input.fresh_procfs = ProbeResult{false, EPERM, "mount(proc): EPERM"};
  input.best_effort = true;
  ViewPlan plan = Plan(input);
  std::vector<MechanismRecord> records = ViewRecords(plan, std::vector<int>(plan.mounts.size()));
  ASSERT_EQ(records.size(), plan.mounts.size());
  for (size_t i = 0; i < records.size(); ++i) {
    SCOPED_TRACE(plan.mounts[i].target);
    if (plan.mounts[i].target == "/proc") {
      EXPECT_EQ(records[i].state, MechanismState::kDegraded);
      EXPECT_EQ(records[i].errno_value, EPERM);
    } else {
      EXPECT_EQ(records[i].state, MechanismState::kEnforced);
    }
  }
}

struct OptionsCase {
  const char* name;
  ViewMount mount;
  const char* expected;
};

ViewMount MakeMount(ViewMountKind kind, uint64_t attributes, uint64_t tmpfs_size = 0,
                    uint32_t mode = 0755, std::string source = "") {
  ViewMount mount;
  mount.kind = kind;
  mount.target = "/x";
  mount.attributes = attributes;
  mount.tmpfs_size = tmpfs_size;
  mount.mode = mode;
  mount.source = std::move(source);
  return mount;
}

class ViewMountOptionsTest : public ::testing::TestWithParam<OptionsCase> {};

TEST_P(ViewMountOptionsTest, RendersTheMountsOptions) {
  EXPECT_EQ(ViewMountOptions(GetParam().mount), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Mounts, ViewMountOptionsTest,
    ::testing::Values(
        OptionsCase{"ReadOnlyBind", MakeMount(ViewMountKind::kBind, kReadOnly), "ro,nosuid,nodev"},
        OptionsCase{"ReadWriteBind", MakeMount(ViewMountKind::kBind, kReadWrite),
                    "rw,nosuid,nodev"},
        OptionsCase{"DeviceBind", MakeMount(ViewMountKind::kBind, kDevice), "rw,nosuid,noexec"},
        OptionsCase{"Tmpfs", MakeMount(ViewMountKind::kTmpfs, kReadWrite, 1 << 20, 01777),
                    "rw,nosuid,nodev,size=1048576,mode=1777"},
        OptionsCase{"Root", MakeMount(ViewMountKind::kRoot, kReadOnly, 4096, 0755),
                    "ro,nosuid,nodev,size=4096,mode=755"},
        OptionsCase{"Proc", MakeMount(ViewMountKind::kProc, kReadWrite | MOUNT_ATTR_NOEXEC),
                    "rw,nosuid,nodev,noexec"},
        OptionsCase{"Symlink", MakeMount(ViewMountKind::kSymlink, 0, 0, 0755, "pts/ptmx"),
                    "-> pts/ptmx"}),
    [](const ::testing::TestParamInfo<OptionsCase>& info) { return info.param.name; });

}  // namespace
}  // namespace tether::broker
