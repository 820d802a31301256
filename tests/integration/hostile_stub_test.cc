// A stub that lies or breaks the protocol never gets a workload started
// with a posture the broker did not check: every case ends in exit 125,
// with nothing from the workload on stdout.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/integration/sandbox_fixture.h"

namespace tether::testing {
namespace {

struct Lie {
  const char* name;      // the stub is installed as hostile-<name>
  const char* expected;  // what the broker's message must say
};

class HostileStubTest : public ::testing::TestWithParam<Lie> {};

TEST_P(HostileStubTest, BrokerRefusesWithExit125) {
  std::string stub = Binaries().Bin(std::string("hostile-") + GetParam().name);
  std::filesystem::copy_file(Binaries().Bin("hostile_stub"), stub,
                             std::filesystem::copy_options::overwrite_existing);
  chmod(stub.c_str(), 0755);
  RunSpec spec;
  spec.args = {"run", "--stub", stub, "--", "./sandbox_probe", "status"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 125) << result.err;
  EXPECT_EQ(result.out, "") << "the workload must not have run";
  EXPECT_NE(result.err.find(GetParam().expected), std::string::npos) << result.err;
}

INSTANTIATE_TEST_SUITE_P(
    Lies, HostileStubTest,
    ::testing::Values(
        Lie{"wrong-caps", "claims CapEff 0000000000000000 but /proc says"},
        Lie{"claims-no-new-privs", "claims NoNewPrivs 1 but /proc says 0"},
        Lie{"wrong-pid", "claims pid"}, Lie{"closes-after-hello", "closed the connection"},
        Lie{"results-out-of-order", "expected the result of step 0"},
        Lie{"skips-steps", "expected the result of step 0 clear_bounding_set, got ready"},
        // The first fact /proc contradicts is the uid it never changed.
        Lie{"fake-success", "final posture: Uid is 0/0/0, expected 65534/65534/65534"},
        Lie{"skips-an-enforced-step", "was planned as enforce but the stub reports skipped"},
        Lie{"tolerates-without-permission",
            "was planned as enforce but the stub reports tolerated"},
        Lie{"sends-fds", "the stub may not send file descriptors"},
        Lie{"closes-mid-plan", "closed the connection"}),
    [](const ::testing::TestParamInfo<Lie>& info) {
      std::string name = info.param.name;
      for (char& c : name) c = c == '-' ? '_' : c;
      return name;
    });

}  // namespace
}  // namespace tether::testing
