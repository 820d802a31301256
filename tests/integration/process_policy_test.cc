// The policy's process section on the real kernel: group, supplementary
// groups, working directory and rlimits reach the workload; missing user
// paths follow filesystem.landlock_compatibility.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/integration/sandbox_fixture.h"

namespace tether::testing {
namespace {

class ProcessPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/tether-process-" + std::to_string(getpid());
    std::filesystem::create_directories(dir_ + "/work");
    chmod(dir_.c_str(), 0755);
    chmod((dir_ + "/work").c_str(), 0777);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  RunResult RunShell(const std::string& policy, const std::string& script) {
    std::ofstream(dir_ + "/policy.json") << policy;
    RunSpec spec;
    spec.args = {"run", "--network", "host", "--policy", dir_ + "/policy.json",
                 "--",  "/bin/sh",   "-c",   script};
    return RunTether(spec);
  }

  std::string dir_;
};

TEST_F(ProcessPolicyTest, WorkingDirectoryFromThePolicyIsWhereTheWorkloadStarts) {
  RunResult result =
      RunShell(R"({"process": {"working_directory": ")" + dir_ + R"(/work"}})", "pwd; touch here");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, dir_ + "/work\n");
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/work/here")) << "and it is writable";
}

TEST_F(ProcessPolicyTest, GroupAndSupplementaryGroupsReachTheWorkload) {
  RunResult result =
      RunShell(R"({"process": {"group": "1234", "supplementary_groups": ["2000", "2001"]}})",
               "id -g; id -G");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "1234\n1234 2000 2001\n");
}

TEST_F(ProcessPolicyTest, GroupZeroIsRefused) {
  RunResult result = RunShell(R"({"process": {"group": "0"}})", "true");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("gid 0"), std::string::npos) << result.err;
}

TEST_F(ProcessPolicyTest, RlimitsFromThePolicyApply) {
  RunResult result =
      RunShell(R"({"process": {"rlimits": [{"name": "nofile", "soft": "64", "hard": "128"}]}})",
               "ulimit -Sn; ulimit -Hn");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "64\n128\n");
}

// The stub sends its last step's result under the workload filter: one
// sendmsg, so that a policy may deny sendmmsg to the workload.
TEST_F(ProcessPolicyTest, PolicyDeniesSendmmsgToTheWorkloadAndTheRunStillStarts) {
  std::ofstream(dir_ + "/policy.json") << R"({"seccomp": {"deny_syscalls": ["sendmmsg"]}})";
  RunSpec spec;
  spec.args = {"run",
               "--network",
               "host",
               "--policy",
               dir_ + "/policy.json",
               "--",
               Binaries().Bin("sandbox_probe"),
               "sendmmsg"};
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "sendmmsg=EPERM\n");
}

TEST_F(ProcessPolicyTest, DenyingASyscallTheStubMakesUnderTheFilterIsRefused) {
  for (const char* name : {"sendmsg", "recvmsg", "execve", "wait4"}) {
    RunResult result = RunShell(
        absl::StrCat(R"({"seccomp": {"deny_syscalls": ["uname", ")", name, R"("]}})"), "true");
    EXPECT_EQ(result.exit_code, 2) << name;
    EXPECT_NE(result.err.find(absl::StrCat("$.seccomp.deny_syscalls[1]: '", name,
                                           "' cannot be denied: tether-stub makes it")),
              std::string::npos)
        << result.err;
  }
}

TEST_F(ProcessPolicyTest, MissingUserPathIsAnErrorUnderHardRequirement) {
  RunResult result = RunShell(R"({"filesystem": {"read_only": ["/nonexistent/data"]}})", "true");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("$.filesystem.read_only[0]: '/nonexistent/data' does not exist"),
            std::string::npos)
      << result.err;
}

TEST_F(ProcessPolicyTest, MissingUserPathIsAWarningUnderBestEffort) {
  RunResult result = RunShell(R"({"filesystem": {"read_only": ["/nonexistent/data"],
                                                 "landlock_compatibility": "best_effort"}})",
                              "echo ran");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "ran\n");
  EXPECT_NE(result.err.find("warning: $.filesystem.read_only[0]"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace tether::testing
