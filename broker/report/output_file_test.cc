#include "broker/report/output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::broker {
namespace {

using ::tether::testing::ScopedTempDir;

std::string Contents(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class OutputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    victim_ = dir_.Child("victim");
    std::ofstream(victim_) << "precious\n";
  }
  void ExpectVictimUntouched() { EXPECT_EQ(Contents(victim_), "precious\n"); }

  ScopedTempDir dir_;
  std::string victim_;
};

TEST_F(OutputFileTest, NewFileIsCreatedOwnerOnly) {
  std::string path = dir_.Child("report.json");
  absl::StatusOr<UniqueFd> fd = OpenOutputFile(path, OutputMode::kTruncate);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_TRUE(ReplaceContent(fd->get(), "{}", path).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600);
  EXPECT_EQ(Contents(path), "{}");
}

TEST_F(OutputFileTest, ExistingOwnFileIsReplacedOrAppended) {
  std::string path = dir_.Child("events.json");
  std::ofstream(path) << "old line\n";
  absl::StatusOr<UniqueFd> append = OpenOutputFile(path, OutputMode::kAppend);
  ASSERT_TRUE(append.ok()) << append.status();
  ASSERT_EQ(write(append->get(), "new\n", 4), 4);
  EXPECT_EQ(Contents(path), "old line\nnew\n");
  absl::StatusOr<UniqueFd> replace = OpenOutputFile(path, OutputMode::kTruncate);
  ASSERT_TRUE(replace.ok()) << replace.status();
  ASSERT_TRUE(ReplaceContent(replace->get(), "x", path).ok());
  EXPECT_EQ(Contents(path), "x");
}

// A report that could not be written whole is not left as the old one,
// nor as the new one's start over the old one's end. The write fails
// part way, as on a full disk, at the file size limit.
TEST_F(OutputFileTest, ReplacementThatFailsPartWayLeavesNoStaleReport) {
  std::string path = dir_.Child("report.json");
  std::ofstream(path) << std::string(64, 'o');
  pid_t child = fork();
  if (child == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {16, 16};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(2);
    absl::StatusOr<UniqueFd> fd = OpenOutputFile(path, OutputMode::kTruncate);
    if (!fd.ok()) _exit(3);
    absl::Status replaced = ReplaceContent(fd->get(), std::string(32, 'n'), path);
    _exit(!replaced.ok() && absl::StrContains(replaced.message(), "report.json") ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(Contents(path), "");
}

// The attacks: a name planted in a directory the attacker can write.
TEST_F(OutputFileTest, PlantedSymlinkIsRefusedAndNotFollowed) {
  std::string path = dir_.Child("report.json");
  ASSERT_EQ(symlink(victim_.c_str(), path.c_str()), 0);
  for (OutputMode mode : {OutputMode::kTruncate, OutputMode::kAppend}) {
    absl::StatusOr<UniqueFd> fd = OpenOutputFile(path, mode);
    ASSERT_FALSE(fd.ok());
    EXPECT_NE(fd.status().message().find("symbolic link"), std::string::npos) << fd.status();
  }
  ExpectVictimUntouched();
}

TEST_F(OutputFileTest, DanglingSymlinkIsNotFollowedToCreateItsTarget) {
  std::string path = dir_.Child("report.json");
  std::string target = dir_.Child("created-through-link");
  ASSERT_EQ(symlink(target.c_str(), path.c_str()), 0);
  EXPECT_FALSE(OpenOutputFile(path, OutputMode::kTruncate).ok());
  EXPECT_FALSE(std::filesystem::exists(target));
}

TEST_F(OutputFileTest, PlantedHardLinkIsRefused) {
  std::string path = dir_.Child("report.json");
  ASSERT_EQ(link(victim_.c_str(), path.c_str()), 0);
  absl::StatusOr<UniqueFd> fd = OpenOutputFile(path, OutputMode::kTruncate);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.status().message().find("hard links"), std::string::npos) << fd.status();
  ExpectVictimUntouched();
}

TEST_F(OutputFileTest, PlantedFifoIsRefusedWithoutBlocking) {
  std::string path = dir_.Child("report.json");
  ASSERT_EQ(mkfifo(path.c_str(), 0666), 0);
  absl::StatusOr<UniqueFd> fd = OpenOutputFile(path, OutputMode::kAppend);
  ASSERT_FALSE(fd.ok());
}

TEST_F(OutputFileTest, FileOfAnotherUidIsRefused) {
  std::string path = dir_.Child("report.json");
  std::ofstream(path) << "theirs\n";
  ASSERT_EQ(chown(path.c_str(), geteuid() + 1, getegid()), 0) << "chown: " << strerror(errno);
  EXPECT_FALSE(OpenOutputFile(path, OutputMode::kTruncate).ok());
  EXPECT_EQ(Contents(path), "theirs\n");
}

TEST_F(OutputFileTest, ReportDirectoryWritableByOthersIsRefused) {
  for (mode_t mode : {0777, 0770, 0757, 01777}) {
    ASSERT_EQ(chmod(dir_.path().c_str(), mode), 0);
    absl::StatusOr<UniqueFd> fd = OpenPrivateDirectory(dir_.path());
    ASSERT_FALSE(fd.ok()) << std::oct << mode;
    EXPECT_NE(fd.status().message().find(dir_.path()), std::string::npos) << fd.status();
  }
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  EXPECT_TRUE(OpenPrivateDirectory(dir_.path()).ok());
}

TEST_F(OutputFileTest, ReportNamesAreNotPredictable) {
  absl::StatusOr<std::string> first = UnpredictableReportName(4242);
  absl::StatusOr<std::string> second = UnpredictableReportName(4242);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(*first, *second);
  EXPECT_EQ(first->rfind("4242-", 0), 0u) << *first;
  EXPECT_EQ(first->size(), std::string("4242-").size() + 16 + std::string(".json").size());
}

}  // namespace
}  // namespace tether::broker
