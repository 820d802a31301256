// `tether policy check` and `tether policy explain` on real files.

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <capnp/compat/json.capnp.h>
#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <gtest/gtest.h>

#include "tests/integration/sandbox_fixture.h"

namespace tether::testing {
namespace {

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

  // The "effective" member of explain's output, re-encoded as JSON text.
  static std::string Effective(const std::string& explained) {
    capnp::JsonCodec codec;
    capnp::MallocMessageBuilder message;
    auto root = message.initRoot<capnp::JsonValue>();
    codec.decodeRaw(kj::ArrayPtr<const char>(explained.data(), explained.size()), root);
    for (auto field : root.asReader().getObject()) {
      if (field.getName() == "effective") {
        kj::String text = codec.encodeRaw(field.getValue());
        return std::string(text.cStr());
      }
    }
    return "<no effective member>";
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
  RunResult result = Tether(
      {"policy", "explain", Write("p.json", R"({"filesystem": {"read_only": ["/srv"]}})")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find(R"("value":"/srv","origin":"user")"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find(R"("value":"/usr","origin":"baseline")"), std::string::npos);
  EXPECT_NE(result.out.find(R"("value":"/tmp","origin":"baseline")"), std::string::npos);
}

TEST_F(PolicyCliTest, ExplainSaysWhatTheRunningLandlockAbiEnforces) {
  RunResult result = Tether({"policy", "explain", Write("p.json", "{}")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find(R"("landlock":{"abi":7)"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find(R"("ioctl_dev")"), std::string::npos);
  EXPECT_NE(result.out.find(R"("enforced_scopes":["abstract_unix_socket","signal"])"),
            std::string::npos)
      << result.out;
}

TEST_F(PolicyCliTest, ExplainsEffectivePolicyRoundTripsThroughExplain) {
  RunResult first = Tether({"policy", "explain",
                            Write("p.json", R"({"filesystem": {"read_write": ["/srv/out"]},
                                                "process": {"environment": ["HOME"]},
                                                "network": {"mode": "auto"},
                                                "enforcement": {"landlock": "best_effort"}})")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string effective = Effective(first.out);
  RunResult second = Tether({"policy", "explain", Write("effective.json", effective)});
  ASSERT_EQ(second.exit_code, 0) << second.err << "\n" << effective;
  EXPECT_EQ(Effective(second.out), effective);
}

}  // namespace
}  // namespace tether::testing
