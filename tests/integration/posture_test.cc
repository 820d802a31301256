// The same posture, however the workload is launched: `tether run` forking
// the stub, or a stub connecting to `tether serve`. Both paths share the
// planner and the checks, so both must give the same confinement.

#include <grp.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

constexpr uid_t kWorkloadUid = 1000;

enum class Launch { kRun, kServe };

void BecomeWorkloadUid() {
  for (int cap = 0; cap < 64; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;
    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  if (setgroups(0, nullptr) != 0 || setresgid(kWorkloadUid, kWorkloadUid, kWorkloadUid) != 0 ||
      setresuid(kWorkloadUid, kWorkloadUid, kWorkloadUid) != 0) {
    _exit(211);
  }
}

class PostureTest : public ::testing::TestWithParam<Launch> {
 protected:
  void SetUp() override {
    if (GetParam() != Launch::kServe) return;
    socket_ = server_dir_.Child("broker.sock");
    server_ = StartServe(
        {"--socket", socket_, "--allow-uid", std::to_string(kWorkloadUid), "--network", "host"},
        socket_, server_dir_.Child("serve.log"));
    ASSERT_TRUE(std::filesystem::exists(socket_)) << ReadFile(server_dir_.Child("serve.log"));
  }
  void TearDown() override { StopServe(server_); }

  // The workload as uid 1000: `tether run --user 1000`, or a stub started
  // as uid 1000 (the sidecar keeps the stub's own uid).
  RunResult Launch(const std::vector<std::string>& command) {
    RunSpec spec;
    if (GetParam() == Launch::kRun) {
      spec.args = {"run", "--user", std::to_string(kWorkloadUid), "--network", "host", "--"};
      spec.args.insert(spec.args.end(), command.begin(), command.end());
    } else {
      spec.before_exec = BecomeWorkloadUid;
      spec.command = {Binaries().Bin("tether-stub"), "--connect", socket_, "--"};
      spec.command.insert(spec.command.end(), command.begin(), command.end());
    }
    return RunTether(spec);
  }

  ScopedTempDir server_dir_{"/tmp", 0755};
  // World-writable outside every allowed path: only Landlock can refuse.
  ScopedTempDir outside_{"/var/tmp", 0777};
  std::string socket_;
  pid_t server_ = -1;
};

TEST_P(PostureTest, WorkloadRunsFullyConfined) {
  RunResult result = Launch({"./sandbox_probe", "posture", outside_.Child("file")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ExpectFullPosture(result.out, kWorkloadUid);
}

TEST_P(PostureTest, WorkloadExitStatusComesBack) {
  EXPECT_EQ(Launch({"./sandbox_probe", "exit", "7"}).exit_code, 7);
}

TEST_P(PostureTest, MissingWorkloadIs127) {
  EXPECT_EQ(Launch({"./no-such-workload"}).exit_code, 127);
}

INSTANTIATE_TEST_SUITE_P(Launches, PostureTest, ::testing::Values(Launch::kRun, Launch::kServe),
                         [](const ::testing::TestParamInfo<Launch>& info) {
                           return std::string(info.param == Launch::kRun ? "Run" : "Serve");
                         });

}  // namespace
}  // namespace tether::testing
