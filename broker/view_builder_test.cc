// CloneViewSources and BuildView on the real kernel, in a private mount
// namespace of a forked child (root: CLONE_NEWNS needs CAP_SYS_ADMIN), and
// VerifyView reading that child's view from outside, as the broker does.

#include "broker/view_builder.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "broker/filesystem_view.h"

namespace tether::broker {
namespace {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/view-builder-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempDir() { rmdir(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

ViewPlan BindPlan(const std::string& source, int planned_fd) {
  ViewMount bind;
  bind.kind = ViewMountKind::kBind;
  bind.target = source;
  bind.source = source;
  bind.source_fd = std::make_shared<UniqueFd>(planned_fd);
  bind.directory = true;
  bind.read_only = true;
  bind.attributes = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  ViewPlan plan;
  plan.mounts.push_back(bind);
  return plan;
}

// What CloneViewSources returns in a child of its own mount namespace, as
// the broker's cloned child runs it.
int CloneInNewMountNamespace(const ViewPlan& plan) {
  pid_t child = fork();
  if (child == 0) {
    if (unshare(CLONE_NEWNS) != 0) _exit(200);
    std::vector<UniqueFd> sources;
    size_t failed = 99;
    int error = CloneViewSources(plan, &sources, &failed);
    if (error == 0 && (sources.size() != 1 || !sources[0].valid())) _exit(201);
    if (error != 0 && failed != 0) _exit(202);
    _exit(error);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(CloneViewSourcesTest, ClonesThePlannedDirectoryInTheChildsOwnMountNamespace) {
  ASSERT_EQ(geteuid(), 0u) << "needs root for a mount namespace";
  TempDir dir;
  int planned = open(dir.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(planned, 0);
  EXPECT_EQ(CloneInNewMountNamespace(BindPlan(dir.path(), planned)), 0);
}

// The path names another directory than the one the planner opened (and
// checked): the child refuses to bind it.
TEST(CloneViewSourcesTest, RefusesAPathReplacedSinceItWasPlanned) {
  ASSERT_EQ(geteuid(), 0u) << "needs root for a mount namespace";
  TempDir planned_dir, other;
  int planned = open(planned_dir.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(planned, 0);
  EXPECT_EQ(CloneInNewMountNamespace(BindPlan(other.path(), planned)), ESTALE);
}

// A read-only tmpfs root with a host directory bound at /data and a link
// /link -> data: a view as the planner lays one out.
ViewPlan SmallView(const std::string& host_directory, int planned_fd) {
  ViewMount root;
  root.kind = ViewMountKind::kRoot;
  root.target = "/";
  root.tmpfs_size = 1 << 20;
  root.attributes = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  ViewPlan plan = BindPlan(host_directory, planned_fd);
  plan.mounts[0].target = "/data";
  ViewMount link;
  link.kind = ViewMountKind::kSymlink;
  link.target = "/link";
  link.source = "data";
  plan.mounts.insert(plan.mounts.begin(), root);
  plan.mounts.push_back(link);
  return plan;
}

// A child that built `plan` as its view and waits there to be killed.
class ViewChild {
 public:
  explicit ViewChild(const ViewPlan& plan) {
    int ready[2];
    if (pipe(ready) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      if (unshare(CLONE_NEWNS) != 0) _exit(200);
      std::vector<ViewMountOutcome> outcomes;
      char built = BuildView(plan, &outcomes) == 0 ? 1 : 0;
      if (write(ready[1], &built, 1) != 1) _exit(201);
      pause();
      _exit(0);
    }
    close(ready[1]);
    char built = 0;
    built_ = read(ready[0], &built, 1) == 1 && built == 1;
    close(ready[0]);
  }
  ~ViewChild() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  bool built() const { return built_; }

 private:
  pid_t pid_ = -1;
  bool built_ = false;
};

// The small view, built by a child; each test verifies it against a plan.
class VerifyViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root for a mount namespace";
    plan_ = SmallView(dir_.path(), open(dir_.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    child_ = std::make_unique<ViewChild>(plan_);
    ASSERT_TRUE(child_->built());
  }

  absl::Status Verify(const ViewPlan& expected) {
    records_.assign(expected.mounts.size(), MechanismRecord{});
    return VerifyView(child_->pid(), expected, &records_);
  }

  TempDir dir_;
  ViewPlan plan_;
  std::unique_ptr<ViewChild> child_;
  std::vector<MechanismRecord> records_;
};

TEST_F(VerifyViewTest, AViewAsPlannedIsVerified) {
  absl::Status verified = Verify(plan_);
  EXPECT_TRUE(verified.ok()) << verified;
  for (const MechanismRecord& record : records_) EXPECT_EQ(record.evidence, Evidence::kVerified);
}

// What the broker planned to bind is another directory than the one the
// view shows at that point: refused, naming the path.
TEST_F(VerifyViewTest, ABindOfAnotherDirectoryThanPlannedIsRefused) {
  TempDir other;
  ViewPlan expected = plan_;
  expected.mounts[1].source_fd =
      std::make_shared<UniqueFd>(open(other.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  absl::Status verified = Verify(expected);
  EXPECT_EQ(verified.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(verified.message().find("/data is not the host's " + dir_.path()), std::string::npos)
      << verified;
}

// A link the plan names that the view has as something else: refused.
TEST_F(VerifyViewTest, APlannedLinkThatIsNotALinkIsRefused) {
  ViewPlan expected = plan_;
  expected.mounts.back().target = "/data";  // a directory in the view
  absl::Status verified = Verify(expected);
  EXPECT_NE(verified.message().find("/data is not a link"), std::string::npos) << verified;
}

}  // namespace
}  // namespace tether::broker
