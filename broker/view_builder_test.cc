// CloneViewSources on the real kernel, in a private mount namespace of a
// forked child (root: CLONE_NEWNS needs CAP_SYS_ADMIN).

#include "broker/view_builder.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

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

}  // namespace
}  // namespace tether::broker
