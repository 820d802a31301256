#include "broker/report/recorder.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
// Returns what the child wrote to stderr (a pipe: the limit is on files).
std::string WriteReportInChild(int directory_fd, const std::string& display,
                               rlim_t max_file_bytes) {
  int err[2];
  if (pipe(err) != 0) return "pipe failed";
  pid_t child = fork();
  if (child == 0) {
    if (dup2(err[1], 2) != 2) _exit(3);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {max_file_bytes, max_file_bytes};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(2);
    Recorder recorder;
    recorder.SetReportDirectory(directory_fd, display);
    recorder.WriteReport(4242, /*hello_received=*/true);
    _exit(0);
  }
  close(err[1]);
  int status = 0;
  waitpid(child, &status, 0);
  std::string written;
  char buffer[4096];
  ssize_t n;
  while ((n = read(err[0], buffer, sizeof(buffer))) > 0) written.append(buffer, n);
  close(err[0]);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? written
                                                       : "child status " + std::to_string(status);
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
  ASSERT_EQ(WriteReportInChild(directory_fd_, dir_.path(), RLIM_INFINITY), "");
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

TEST_F(RecorderDirectoryTest, AReportThatCannotBeWrittenLeavesNoFileBehindButOthers) {
  // Another worker's report, and a hidden file of its own: both stay.
  std::ofstream(dir_.Child("4241-0123456789abcdef.json")) << "{}\n";
  std::ofstream(dir_.Child(".4242-0123456789abcdef.json")) << "";
  std::string said = WriteReportInChild(directory_fd_, dir_.path(), 16);
  // The write failed (the file had opened), and the recorder said so.
  EXPECT_NE(said.find("no report for stub pid 4242"), std::string::npos) << said;
  EXPECT_NE(said.find("File too large"), std::string::npos) << said;
  std::vector<std::string> names = Names(dir_.path());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{".4242-0123456789abcdef.json",
                                             "4241-0123456789abcdef.json"}));
}

}  // namespace
}  // namespace tether::broker
