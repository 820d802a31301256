// The fault matrix: each hostile host from tests/faultenv, in strict mode
// (fails closed, exit 125, naming the mechanism) and in best effort (runs,
// every mechanism still available is enforced, and the report names exactly
// the degraded ones with their errno and the probe's evidence).

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/sandbox_fixture.h"

namespace tether::testing {
namespace {

struct Degradation {
  const char* mechanism;
  const char* state;  // "degraded" or "unavailable"
  int errno_value;
};

struct Fault {
  const char* mode;
  const char* strict_failure;   // nullptr: strict runs too
  std::vector<Degradation> degraded;  // exactly what best effort degrades
  const char* auto_failure;     // with --network auto, otherwise strict
};

struct Outcome {
  RunResult result;
  std::string report;
  std::string events;  // OCSF, one JSON object per line
};

// The OCSF Degraded config events, as "mechanism errno" strings.
std::multiset<std::string> DegradedEvents(const std::string& events) {
  std::multiset<std::string> found;
  std::istringstream lines(events);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(R"("activity_name":"Degraded")") == std::string::npos) continue;
    size_t mechanism = line.find(R"("unmapped":{"mechanism":")");
    size_t errno_at = line.find(R"("errno":)", mechanism);
    if (mechanism == std::string::npos || errno_at == std::string::npos) continue;
    mechanism += std::string(R"("unmapped":{"mechanism":")").size();
    std::string name = line.substr(mechanism, line.find('"', mechanism) - mechanism);
    errno_at += std::string(R"("errno":)").size();
    std::string value = line.substr(errno_at, line.find_first_of(",}", errno_at) - errno_at);
    found.insert(name + " " + value);
  }
  return found;
}

class FaultMatrixTest : public ::testing::TestWithParam<Fault> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/tether-fault-XXXXXX";
    dir_ = mkdtemp(pattern);
    chmod(dir_.c_str(), 0777);
    // World-writable outside every allowed path: only Landlock can refuse.
    char outside[] = "/var/tmp/tether-fault-XXXXXX";
    outside_ = mkdtemp(outside);
    chmod(outside_.c_str(), 0777);
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    std::filesystem::remove_all(outside_);
  }

  Outcome Run(bool best_effort, const char* network = "isolated") {
    RunSpec spec;
    spec.wrapper = {Binaries().Bin("faultenv"), GetParam().mode, "--"};
    spec.args = {"run", "--network", network, "--report", dir_ + "/report.json",
                 "--events", dir_ + "/events.json", "--",
                 "./sandbox_probe", "posture", outside_ + "/file"};
    spec.before_exec = [best_effort] {
      if (best_effort) setenv("TETHER_BEST_EFFORT", "all", 1);
    };
    Outcome outcome;
    outcome.result = RunTether(spec);
    outcome.report = ReadFile(dir_ + "/report.json");
    outcome.events = ReadFile(dir_ + "/events.json");
    return outcome;
  }

  std::string dir_;
  std::string outside_;
};

bool Has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST_P(FaultMatrixTest, StrictFailsClosedNamingTheMechanismOrRunsWhenNothingIsDenied) {
  Outcome outcome = Run(/*best_effort=*/false);
  if (GetParam().strict_failure == nullptr) {
    EXPECT_EQ(outcome.result.exit_code, 0) << outcome.result.err;
    EXPECT_EQ(FindLine(outcome.result.out, "write="), "EACCES");
    return;
  }
  EXPECT_EQ(outcome.result.exit_code, 125) << outcome.result.err;
  EXPECT_EQ(outcome.result.out, "") << "the workload must not have run";
  EXPECT_TRUE(Has(outcome.result.err, GetParam().strict_failure)) << outcome.result.err;
  EXPECT_TRUE(Has(outcome.report, R"("outcome":"refused")")) << outcome.report;
}

TEST_P(FaultMatrixTest, BestEffortRunsAndEnforcesEverythingStillAvailable) {
  Outcome outcome = Run(/*best_effort=*/true);
  ASSERT_EQ(outcome.result.exit_code, 0) << outcome.result.err;
  const std::string& out = outcome.result.out;
  std::string mode = GetParam().mode;
  // Identity, capabilities and no_new_privs hold on every one of these hosts.
  std::string uid = mode == "predropped" ? "1000" : "65534";
  EXPECT_EQ(FindLine(out, "Uid:"), "\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid);
  EXPECT_EQ(FindLine(out, "CapEff:"), "\t0000000000000000");
  EXPECT_EQ(FindLine(out, "NoNewPrivs:"), "\t1");
  // A filter is always in place: ours, or on gVisor-like hosts the host's.
  EXPECT_EQ(FindLine(out, "Seccomp:"), "\t2");
  bool bounding_degraded = mode == "rootless" || mode == "apparmor";
  EXPECT_EQ(FindLine(out, "CapBnd:") == "\t0000000000000000", !bounding_degraded) << out;
  EXPECT_EQ(FindLine(out, "write="), mode == "no-landlock" ? "ok" : "EACCES");
  // The report names exactly the degraded mechanism, with its errno.
  const std::string& report = outcome.report;
  EXPECT_TRUE(Has(report, R"("outcome":"running")")) << report;
  for (const Degradation& expected : GetParam().degraded) {
    std::string record = std::string(R"("mechanism":")") + expected.mechanism + "\"";
    size_t at = report.find(record);
    ASSERT_NE(at, std::string::npos) << report;
    std::string entry = report.substr(at, report.find('}', at) - at);
    EXPECT_TRUE(Has(entry, std::string(R"("state":")") + expected.state + "\"")) << entry;
    EXPECT_TRUE(Has(entry, "\"errno\":" + std::to_string(expected.errno_value))) << entry;
    EXPECT_TRUE(Has(entry, "best effort: ")) << entry;
  }
  // Nothing else is degraded or unavailable.
  size_t degraded = 0;
  for (const char* state : {R"("state":"degraded")", R"("state":"unavailable")"}) {
    for (size_t pos = 0; (pos = report.find(state, pos)) != std::string::npos; ++pos) {
      ++degraded;
    }
  }
  EXPECT_EQ(degraded, GetParam().degraded.size()) << report;
  // The OCSF events name exactly the same mechanisms, with their errno.
  std::multiset<std::string> expected_events;
  for (const Degradation& expected : GetParam().degraded) {
    expected_events.insert(std::string(expected.mechanism) + " " +
                           std::to_string(expected.errno_value));
  }
  EXPECT_EQ(DegradedEvents(outcome.events), expected_events) << outcome.events;
  EXPECT_TRUE(Has(report, R"("source":"env:TETHER_BEST_EFFORT")")) << report;
}

TEST_P(FaultMatrixTest, AutoNetworkFallsBackToTheHostNetworkAndStaysStrictOtherwise) {
  Outcome outcome = Run(/*best_effort=*/false, "auto");
  if (GetParam().auto_failure != nullptr) {
    EXPECT_EQ(outcome.result.exit_code, 125) << outcome.result.err;
    EXPECT_EQ(outcome.result.out, "");
    EXPECT_TRUE(Has(outcome.result.err, GetParam().auto_failure)) << outcome.result.err;
    return;
  }
  ASSERT_EQ(outcome.result.exit_code, 0) << outcome.result.err;
  EXPECT_EQ(FindLine(outcome.result.out, "write="), "EACCES");
  EXPECT_EQ(FindLine(outcome.result.out, "NoNewPrivs:"), "\t1");
  bool netns_denied = std::string(GetParam().mode) == "hardened" ||
                      std::string(GetParam().mode) == "predropped";
  const std::string& report = outcome.report;
  size_t at = report.find(R"("mechanism":"network_namespace")");
  ASSERT_NE(at, std::string::npos) << report;
  std::string entry = report.substr(at, report.find('}', at) - at);
  if (netns_denied) {
    EXPECT_TRUE(Has(entry, R"("state":"degraded")")) << entry;
    EXPECT_TRUE(Has(entry, "auto: fell back to the host network")) << entry;
    EXPECT_TRUE(Has(entry, R"("errno":1)")) << entry;
  } else {
    EXPECT_TRUE(Has(entry, R"("state":"enforced")")) << entry;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Hosts, FaultMatrixTest,
    ::testing::Values(
        Fault{"rootless", "bounding_set: the bounding set is not empty and cannot be cleared",
              {{"bounding_set", "degraded", 1}},
              "bounding_set: the bounding set is not empty and cannot be cleared"},
        Fault{"apparmor", "bounding_set: the bounding set is not empty and cannot be cleared",
              {{"bounding_set", "degraded", 1}},
              "bounding_set: the bounding set is not empty and cannot be cleared"},
        Fault{"gvisor", "network_namespace: network mode isolated, but the broker cannot make",
              {{"network_namespace", "degraded", 1},
               {"workload_seccomp", "degraded", 22},
               {"supervisor_seccomp", "degraded", 22}},
              "workload_seccomp: the host refuses the filter"},
        Fault{"hardened", "network_namespace: network mode isolated, but the broker cannot make",
              {{"network_namespace", "degraded", 1}}, nullptr},
        Fault{"predropped", "network_namespace: network mode isolated, but the broker cannot make",
              {{"network_namespace", "degraded", 1}}, nullptr},
        Fault{"no-landlock", "landlock: the kernel does not offer Landlock",
              {{"landlock", "unavailable", 38}}, "landlock: the kernel does not offer Landlock"},
        Fault{"nnp", nullptr, {}, nullptr}),
    [](const ::testing::TestParamInfo<Fault>& info) {
      std::string name = info.param.mode;
      for (char& c : name) c = c == '-' ? '_' : c;
      return name;
    });

}  // namespace
}  // namespace tether::testing
