#include "broker/report/recorder.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "tests/support/scoped_temp_dir.h"

namespace tether::broker {
namespace {

using ::tether::testing::ScopedTempDir;

std::vector<std::string> Names(const std::string& directory) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    names.push_back(entry.path().filename());
  }
  return names;
}

// A serve worker's report of one stub, in a child whose files may be at
// most `max_file_bytes` long (RLIMIT_FSIZE: the write fails part way).
int WriteReportInChild(int directory_fd, const std::string& display, rlim_t max_file_bytes) {
  pid_t child = fork();
  if (child == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {max_file_bytes, max_file_bytes};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(2);
    Recorder recorder;
    recorder.SetReportDirectory(directory_fd, display);
    recorder.WriteReport(4242, /*hello_received=*/true);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return status;
}

class RecorderDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_fd_ = open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(directory_fd_, 0);
  }
  void TearDown() override { close(directory_fd_); }

  ScopedTempDir dir_;
  int directory_fd_ = -1;
};

TEST_F(RecorderDirectoryTest, AReportIsRenamedIntoViewWhole) {
  ASSERT_EQ(WriteReportInChild(directory_fd_, dir_.path(), RLIM_INFINITY), 0);
  std::vector<std::string> names = Names(dir_.path());
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].rfind("4242-", 0), 0u) << names[0];
  std::ifstream in(dir_.Child(names[0]));
  std::stringstream text;
  text << in.rdbuf();
  std::string json = text.str();
  ASSERT_FALSE(json.empty());
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.substr(json.find_last_not_of('\n')), "}\n");
}

TEST_F(RecorderDirectoryTest, AReportThatCannotBeWrittenLeavesNoFileBehind) {
  ASSERT_EQ(WriteReportInChild(directory_fd_, dir_.path(), 16), 0);
  EXPECT_TRUE(Names(dir_.path()).empty()) << Names(dir_.path())[0];
}

}  // namespace
}  // namespace tether::broker
