#include "broker/working_directory.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "tests/support/scoped_temp_dir.h"

namespace tether::broker {
namespace {

struct Case {
  const char* name;
  const char* directory;
  bool writable;
};

class WorkingDirectoryAccessTest : public ::testing::TestWithParam<Case> {};

TEST_P(WorkingDirectoryAccessTest, DecidesOnTheCanonicalPath) {
  const std::vector<std::string> homes = {"/home/alice", "/root", "/var/lib/postgres"};
  WorkingDirectoryAccess access = DecideWorkingDirectoryAccess(GetParam().directory, homes, {});
  EXPECT_EQ(access.writable, GetParam().writable) << access.why_read_only;
  if (!access.writable) EXPECT_FALSE(access.why_read_only.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, WorkingDirectoryAccessTest,
    ::testing::Values(Case{"Root", "/", false}, Case{"Etc", "/etc", false},
                      Case{"UnderUsr", "/usr/local/src", false}, Case{"Proc", "/proc/1", false},
                      Case{"Var", "/var", false}, Case{"Home", "/home", false},
                      Case{"OwnHome", "/home/alice", false}, Case{"RootsHome", "/root", false},
                      Case{"AncestorOfAHome", "/var/lib", false},
                      Case{"ProjectInAHome", "/home/alice/src/project", true},
                      Case{"HiddenDirectoryOfAHome", "/home/alice/.ssh", false},
                      Case{"UnderAHiddenDirectoryOfAHome", "/home/alice/.local/bin", false},
                      Case{"ScratchUnderVar", "/var/tmp/build", true},
                      Case{"ProjectInTmp", "/tmp/work", true}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(WorkingDirectoryAccess, PolicyListingTheDirectoryReadWriteWins) {
  EXPECT_TRUE(
      DecideWorkingDirectoryAccess("/home/alice", {"/home/alice"}, {"/home/alice/"}).writable);
}

// A bind mount of a home under another name is the same inode.
TEST(WorkingDirectoryAccess, HomeBoundUnderAnotherNameIsStillAHome) {
  testing::ScopedTempDir dir;
  std::string home = dir.Child("home");
  std::string elsewhere = dir.Child("workspace");
  std::filesystem::create_directory(home);
  std::filesystem::create_directory(elsewhere);
  // In a mount namespace of the test's own, so that nothing leaks out.
  ASSERT_EQ(unshare(CLONE_NEWNS), 0) << strerror(errno);
  ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << strerror(errno);
  ASSERT_EQ(mount(home.c_str(), elsewhere.c_str(), nullptr, MS_BIND, nullptr), 0)
      << strerror(errno);
  WorkingDirectoryAccess access = DecideWorkingDirectoryAccessOnDisk(elsewhere, {home}, {});
  umount2(elsewhere.c_str(), MNT_DETACH);
  EXPECT_FALSE(access.writable);
  EXPECT_NE(access.why_read_only.find("mounted elsewhere"), std::string::npos);
  EXPECT_TRUE(DecideWorkingDirectoryAccessOnDisk(elsewhere, {home}, {}).writable);
}

TEST(NormalizeLexically, DotsAndSlashesCannotDisguiseTheRoot) {
  EXPECT_EQ(NormalizeLexically("/."), "/");
  EXPECT_EQ(NormalizeLexically("//"), "/");
  EXPECT_EQ(NormalizeLexically("/home/alice/.."), "/home");
  EXPECT_EQ(NormalizeLexically("/a//b/./c/../d/"), "/a/b/d");
  EXPECT_EQ(NormalizeLexically("/../.."), "/");
}

TEST(CanonicalDirectory, ResolvesDotsAndSymlinksThroughTheKernel) {
  EXPECT_EQ(*CanonicalDirectory("/."), "/");
  testing::ScopedTempDir dir;
  std::string real = dir.Child("real");
  std::filesystem::create_directory(real);
  std::string link = dir.Child("link");
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  EXPECT_EQ(*CanonicalDirectory(link + "/."), real);
  EXPECT_FALSE(CanonicalDirectory(dir.Child("missing")).ok());
}

}  // namespace
}  // namespace tether::broker
