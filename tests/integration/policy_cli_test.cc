// `tether policy check` and `tether policy explain` on real files.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

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

TEST_F(PolicyCliTest, ExplainListsTheFilesystemViewMountByMount) {
  std::string shared = dir_ + "/shared";
  std::filesystem::create_directories(shared);
  RunResult result = Tether({"policy", "explain",
                             Write("p.json", R"({"filesystem": {"read_only": [")" + shared +
                                                 R"("], "tmpfs_size": "64m"},
                                                 "process": {"hostname": "box"}})")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  Explanation explanation = Explain(result);
  std::map<std::string, std::pair<std::string, std::string>> view;  // target -> action, options
  std::vector<std::string> order;
  for (auto mount : explanation.get().getView()) {
    view[mount.getTarget()] = {mount.getAction(), mount.getOptions()};
    order.push_back(mount.getTarget());
  }
  ASSERT_FALSE(order.empty()) << result.out;
  EXPECT_EQ(order.front(), "/") << "the root comes first";
  EXPECT_EQ(view["/"].first, "mount_root_tmpfs");
  EXPECT_EQ(view["/"].second.rfind("ro,nosuid,nodev", 0), 0u) << view["/"].second;
  EXPECT_EQ(view["/tmp"].first, "mount_tmpfs");
  EXPECT_NE(view["/tmp"].second.find("size=67108864"), std::string::npos) << view["/tmp"].second;
  EXPECT_EQ(view["/dev/shm"].first, "mount_tmpfs");
  EXPECT_EQ(view["/proc"].first, "mount_proc");
  EXPECT_EQ(view["/dev/pts"].first, "mount_devpts");
  EXPECT_EQ(view["/dev/null"].first, "bind_device");
  EXPECT_EQ(view[shared].first, "bind_read_only") << result.out;
  EXPECT_EQ(view.count("/home"), 0u) << "nothing unlisted is in the view";
  EXPECT_EQ(std::string(explanation.get().getEffective().getProcess().getHostname()), "box");
}

}  // namespace
}  // namespace tether::testing
