// `tether probe` against facts this test reads itself: /proc/self/status
// (tether runs with this process's credentials) and the Landlock ABI
// syscall; and under the fault environments, the probes that must fail.

#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <capnp/compat/json.capnp.h>
#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <gtest/gtest.h>

#include "tests/integration/sandbox_fixture.h"

namespace tether::testing {
namespace {

// Flattens the probe's JSON into "a.b" -> text.
void Flatten(capnp::JsonValue::Reader value, const std::string& prefix,
             std::map<std::string, std::string>* out) {
  switch (value.which()) {
    case capnp::JsonValue::OBJECT:
      for (auto field : value.getObject()) {
        Flatten(field.getValue(), prefix.empty() ? std::string(field.getName())
                                                 : prefix + "." + std::string(field.getName()),
                out);
      }
      break;
    case capnp::JsonValue::ARRAY: {
      size_t i = 0;
      for (auto element : value.getArray()) {
        Flatten(element, prefix + "[" + std::to_string(i++) + "]", out);
      }
      break;
    }
    case capnp::JsonValue::STRING: (*out)[prefix] = value.getString(); break;
    case capnp::JsonValue::NUMBER: (*out)[prefix] = std::to_string(static_cast<long>(value.getNumber())); break;
    case capnp::JsonValue::BOOLEAN: (*out)[prefix] = value.getBoolean() ? "true" : "false"; break;
    default: (*out)[prefix] = "null"; break;
  }
}

std::map<std::string, std::string> Probe(std::vector<std::string> wrapper = {}) {
  RunSpec spec;
  spec.wrapper = std::move(wrapper);
  spec.args = {"probe"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  capnp::JsonCodec codec;
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<capnp::JsonValue>();
  codec.decodeRaw(kj::ArrayPtr<const char>(result.out.data(), result.out.size()), root);
  std::map<std::string, std::string> facts;
  Flatten(root.asReader(), "", &facts);
  return facts;
}

std::string OwnStatus(const std::string& key) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream fields(line.substr(key.size() + 1));
      std::string first;
      fields >> first;
      return first;
    }
  }
  return "<missing>";
}

TEST(ProbeTest, SelfFactsMatchProcSelfStatus) {
  std::map<std::string, std::string> facts = Probe();
  EXPECT_EQ(facts["self.uid[0]"], std::to_string(getuid()));
  EXPECT_EQ(facts["self.gid[0]"], std::to_string(getgid()));
  EXPECT_EQ(facts["self.cap_bounding"], OwnStatus("CapBnd"));
  EXPECT_EQ(facts["self.cap_effective"], OwnStatus("CapEff"));
  EXPECT_EQ(facts["self.no_new_privs"], OwnStatus("NoNewPrivs") == "1" ? "true" : "false");
  EXPECT_EQ(facts["self.seccomp_mode"], OwnStatus("Seccomp"));
}

TEST(ProbeTest, LandlockAbiMatchesTheSyscall) {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  std::map<std::string, std::string> facts = Probe();
  EXPECT_EQ(facts["landlock.abi"], std::to_string(abi));
}

TEST(ProbeTest, EverythingIsAllowedOnThisHost) {
  std::map<std::string, std::string> facts = Probe();
  for (const char* key : {"network_namespace.allowed", "user_namespace.allowed",
                          "bounding_set_clearable.allowed", "seccomp_loadable.allowed"}) {
    EXPECT_EQ(facts[key], "true") << key;
  }
  EXPECT_FALSE(facts["runtime.guess"].empty());
  EXPECT_FALSE(facts["runtime.evidence[0]"].empty());
}

TEST(ProbeTest, HardenedHostDeniesOnlyTheNetworkNamespace) {
  std::map<std::string, std::string> facts = Probe({Binaries().Bin("faultenv"), "hardened", "--"});
  EXPECT_EQ(facts["network_namespace.allowed"], "false");
  EXPECT_EQ(facts["network_namespace.errno"], "1");
  EXPECT_NE(facts["network_namespace.evidence"].find("unshare(CLONE_NEWNET)"), std::string::npos);
  EXPECT_EQ(facts["bounding_set_clearable.allowed"], "true");
  EXPECT_EQ(facts["seccomp_loadable.allowed"], "true");
}

TEST(ProbeTest, AppArmorLikeHostCannotClearTheBoundingSetDespiteCapSetpcap) {
  std::map<std::string, std::string> facts = Probe({Binaries().Bin("faultenv"), "apparmor", "--"});
  EXPECT_EQ(facts["bounding_set_clearable.allowed"], "false");
  EXPECT_EQ(facts["bounding_set_clearable.errno"], "1");
  // CAP_SETPCAP (bit 8) is still in the effective set: only a real attempt tells.
  unsigned long effective = std::stoul(facts["self.cap_effective"], nullptr, 16);
  EXPECT_TRUE(effective & (1ul << 8));
}

TEST(ProbeTest, GvisorLikeHostRefusesSeccompWithEinval) {
  std::map<std::string, std::string> facts = Probe({Binaries().Bin("faultenv"), "gvisor", "--"});
  EXPECT_EQ(facts["seccomp_loadable.allowed"], "false");
  EXPECT_EQ(facts["seccomp_loadable.errno"], "22");
  EXPECT_EQ(facts["network_namespace.allowed"], "false");
}

TEST(ProbeTest, ProbingDoesNotChangeTheBroker) {
  std::map<std::string, std::string> facts = Probe();
  // The bounding-set probe cleared the set in a throwaway child only.
  EXPECT_NE(facts["self.cap_bounding"], "0000000000000000");
  EXPECT_EQ(facts["self.no_new_privs"], "false");
}

}  // namespace
}  // namespace tether::testing
