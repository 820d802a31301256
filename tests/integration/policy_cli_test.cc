// `tether policy check` and `tether policy explain` on real files.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "broker/report/posture_report.h"
#include "tests/integration/sandbox_fixture.h"
#include "tests/support/report_json.h"

namespace tether::testing {
namespace {

using Explanation = Decoded<schema::PolicyExplanation>;

class PolicyCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/tether-policy-cli-" + std::to_string(getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& json) {
    std::ofstream(dir_ + "/" + name) << json;
    return dir_ + "/" + name;
  }

  RunResult Tether(std::vector<std::string> args) {
    RunSpec spec;
    spec.args = std::move(args);
    return RunTether(spec);
  }

  static Explanation Explain(const RunResult& result) {
    Explanation explanation(result.out);
    EXPECT_TRUE(explanation.ok()) << explanation.error();
    return explanation;
  }

  // The "effective" member of explain's output, re-encoded as JSON text.
  static std::string Effective(const RunResult& result) {
    return broker::EncodeReportJson(Explain(result).get().getEffective());
  }

  std::string dir_;
};

TEST_F(PolicyCliTest, CheckAcceptsAValidPolicy) {
  RunResult result = Tether({"policy", "check", Write("ok.json", R"({"process": {}})")});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("valid"), std::string::npos);
}

TEST_F(PolicyCliTest, CheckRejectsABadPolicyWithExit2NamingThePath) {
  RunResult result =
      Tether({"policy", "check", Write("bad.json", R"({"network": {"subnet": "10.0.0.0/8"}})")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("$.network.subnet"), std::string::npos) << result.err;
}

TEST_F(PolicyCliTest, ExplainAnnotatesEveryEntryWithItsOrigin) {
  RunResult result =
      Tether({"policy", "explain", Write("p.json", R"({"filesystem": {"read_only": ["/srv"]}})")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  Explanation explanation = Explain(result);
  EXPECT_TRUE(HasOrigin(explanation.get(), "/srv", "user")) << result.out;
  EXPECT_TRUE(HasOrigin(explanation.get(), "/usr", "baseline"));
  EXPECT_TRUE(HasOrigin(explanation.get(), "/tmp", "baseline"));
}

TEST_F(PolicyCliTest, ExplainSaysWhatTheRunningLandlockAbiEnforces) {
  RunResult result = Tether({"policy", "explain", Write("p.json", "{}")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  Explanation explanation = Explain(result);
  auto landlock = explanation.get().getLandlock();
  EXPECT_EQ(landlock.getAbi(), 7) << result.out;
  std::vector<std::string> rights = Strings(landlock.getEnforcedFsRights());
  for (const std::string& right : Strings(landlock.getNotEnforcedFsRights())) {
    rights.push_back(right);
  }
  EXPECT_NE(std::find(rights.begin(), rights.end(), "ioctl_dev"), rights.end());
  EXPECT_EQ(Strings(landlock.getEnforcedScopes()),
            (std::vector<std::string>{"abstract_unix_socket", "signal"}))
      << result.out;
}

TEST_F(PolicyCliTest, ExplainsEffectivePolicyRoundTripsThroughExplain) {
  RunResult first =
      Tether({"policy", "explain", Write("p.json", R"({"filesystem": {"read_write": ["/srv/out"]},
                                                "process": {"environment": ["HOME"]},
                                                "network": {"mode": "auto"},
                                                "enforcement": {"landlock": "best_effort"}})")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string effective = Effective(first);
  RunResult second = Tether({"policy", "explain", Write("effective.json", effective)});
  ASSERT_EQ(second.exit_code, 0) << second.err << "\n" << effective;
  EXPECT_EQ(Effective(second), effective);
}

}  // namespace
}  // namespace tether::testing
