// `tether probe` against facts this test reads itself: /proc/self/status
// (tether runs with this process's credentials) and the Landlock ABI
// syscall; and under the fault environments, the probes that must fail.

#include <capnp/dynamic.h>
#include <gtest/gtest.h>
#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/report_json.h"

namespace tether::testing {
namespace {

using HostFacts = Decoded<schema::HostFacts>;

HostFacts Probe(std::vector<std::string> wrapper = {}) {
  RunSpec spec;
  spec.wrapper = std::move(wrapper);
  spec.args = {"probe"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  HostFacts facts(result.out);
  EXPECT_TRUE(facts.ok()) << facts.error();
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
  HostFacts probed = Probe();
  auto self = probed.get().getSelf();
  ASSERT_EQ(self.getUid().size(), 3u);
  ASSERT_EQ(self.getGid().size(), 3u);
  EXPECT_EQ(self.getUid()[0], getuid());
  EXPECT_EQ(self.getGid()[0], getgid());
  EXPECT_EQ(Str(self.getCapBounding()), OwnStatus("CapBnd"));
  EXPECT_EQ(Str(self.getCapEffective()), OwnStatus("CapEff"));
  EXPECT_EQ(self.getNoNewPrivs(), OwnStatus("NoNewPrivs") == "1");
  EXPECT_EQ(std::to_string(self.getSeccompMode()), OwnStatus("Seccomp"));
}

TEST(ProbeTest, LandlockAbiMatchesTheSyscall) {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  HostFacts probed = Probe();
  EXPECT_EQ(probed.get().getLandlock().getAbi(), abi);
}

TEST(ProbeTest, EverythingIsAllowedOnThisHost) {
  HostFacts probed = Probe();
  auto facts = probed.get();
  EXPECT_TRUE(facts.getNetworkNamespace().getAllowed());
  EXPECT_TRUE(facts.getUserNamespace().getAllowed());
  EXPECT_TRUE(facts.getBoundingSetClearable().getAllowed());
  EXPECT_TRUE(facts.getSeccompLoadable().getAllowed());
  EXPECT_TRUE(facts.getPidNamespace().getAllowed());
  EXPECT_TRUE(facts.getMountNamespace().getAllowed());
  EXPECT_TRUE(facts.getIpcNamespace().getAllowed());
  EXPECT_TRUE(facts.getUtsNamespace().getAllowed());
  EXPECT_TRUE(facts.getCgroupNamespace().getAllowed());
  EXPECT_TRUE(facts.getFreshProcfs().getAllowed());
  EXPECT_FALSE(Str(facts.getRuntime().getGuess()).empty());
  std::vector<std::string> evidence = Strings(facts.getRuntime().getEvidence());
  ASSERT_FALSE(evidence.empty());
  EXPECT_FALSE(evidence[0].empty());
}

TEST(ProbeTest, HardenedHostDeniesOnlyTheNetworkNamespace) {
  HostFacts probed = Probe({Binaries().Bin("faultenv"), "hardened", "--"});
  auto facts = probed.get();
  EXPECT_FALSE(facts.getNetworkNamespace().getAllowed());
  EXPECT_EQ(facts.getNetworkNamespace().getErrno(), 1);
  EXPECT_NE(Str(facts.getNetworkNamespace().getEvidence()).find("unshare(CLONE_NEWNET)"),
            std::string::npos);
  EXPECT_TRUE(facts.getBoundingSetClearable().getAllowed());
  EXPECT_TRUE(facts.getSeccompLoadable().getAllowed());
}

TEST(ProbeTest, AppArmorLikeHostCannotClearTheBoundingSetDespiteCapSetpcap) {
  HostFacts probed = Probe({Binaries().Bin("faultenv"), "apparmor", "--"});
  auto facts = probed.get();
  EXPECT_FALSE(facts.getBoundingSetClearable().getAllowed());
  EXPECT_EQ(facts.getBoundingSetClearable().getErrno(), 1);
  // CAP_SETPCAP (bit 8) is still in the effective set: only a real attempt tells.
  unsigned long effective = std::stoul(Str(facts.getSelf().getCapEffective()), nullptr, 16);
  EXPECT_TRUE(effective & (1ul << 8));
}

TEST(ProbeTest, GvisorLikeHostRefusesSeccompWithEinval) {
  HostFacts probed = Probe({Binaries().Bin("faultenv"), "gvisor", "--"});
  auto facts = probed.get();
  EXPECT_FALSE(facts.getSeccompLoadable().getAllowed());
  EXPECT_EQ(facts.getSeccompLoadable().getErrno(), 22);
  EXPECT_FALSE(facts.getNetworkNamespace().getAllowed());
}

// Each host that denies part of the environment, as `tether probe` sees it.
struct DeniedFact {
  const char* mode;
  const char* fact;  // the one probe the host denies (others may be denied too)
  int errno_value;
  const char* evidence;
};

class DeniedFactTest : public ::testing::TestWithParam<DeniedFact> {};

TEST_P(DeniedFactTest, ProbeSaysWhatTheHostDeniesWithItsErrno) {
  HostFacts probed = Probe({Binaries().Bin("faultenv"), GetParam().mode, "--"});
  capnp::DynamicStruct::Reader facts = capnp::toDynamic(probed.get());
  auto fact = facts.get(GetParam().fact).as<schema::ProbeFact>();
  EXPECT_FALSE(fact.getAllowed());
  EXPECT_EQ(fact.getErrno(), GetParam().errno_value);
  EXPECT_NE(Str(fact.getEvidence()).find(GetParam().evidence), std::string::npos)
      << Str(fact.getEvidence());
}

INSTANTIATE_TEST_SUITE_P(
    Hosts, DeniedFactTest,
    ::testing::Values(DeniedFact{"no-pidns", "pidNamespace", 1, "unshare(CLONE_NEWPID)"},
                      DeniedFact{"no-mountns", "mountNamespace", 1, "unshare(CLONE_NEWNS)"},
                      DeniedFact{"no-ipc-uts-cgroupns", "ipcNamespace", 1, "CLONE_NEWIPC"},
                      DeniedFact{"no-ipc-uts-cgroupns", "utsNamespace", 1, "CLONE_NEWUTS"},
                      DeniedFact{"no-ipc-uts-cgroupns", "cgroupNamespace", 1, "CLONE_NEWCGROUP"},
                      DeniedFact{"masked-proc", "freshProcfs", 1, "mount too revealing"}),
    [](const ::testing::TestParamInfo<DeniedFact>& info) {
      std::string name = std::string(info.param.mode) + "_" + info.param.fact;
      for (char& c : name) c = c == '-' ? '_' : c;
      return name;
    });

TEST(ProbeTest, ProbingDoesNotChangeTheBroker) {
  HostFacts probed = Probe();
  auto self = probed.get().getSelf();
  // The bounding-set probe cleared the set in a throwaway child only.
  EXPECT_NE(Str(self.getCapBounding()), "0000000000000000");
  EXPECT_FALSE(self.getNoNewPrivs());
}

}  // namespace
}  // namespace tether::testing
