// OCSF events from real runs: every line is a JSON object with the fields
// OCSF 1.x requires, type_uid = class_uid * 100 + activity_id, and the
// mechanism and errno in structured fields.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/report_json.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

// ParseEvents decodes each line strictly through broker/report.capnp, so
// every number of the class (class_uid, category_uid, type_uid,
// activity_id, severity_id, time, unmapped.errno) is known to be present;
// the strings are checked here.
void ExpectValidOcsf(const OcsfEvent& event) {
  EXPECT_FALSE(event.message.empty()) << "missing message";
  EXPECT_FALSE(event.metadata.product.version.empty()) << "missing metadata.product.version";
  EXPECT_FALSE(event.unmapped.mechanism.empty()) << "missing unmapped.mechanism";
  EXPECT_EQ(event.type_uid, event.class_uid * 100 + event.activity_id);
  EXPECT_EQ(event.category_uid, event.class_uid / 1000);
  EXPECT_EQ(event.metadata.version.substr(0, 2), "1.");
  EXPECT_EQ(event.metadata.product.name, "tether");
}

class EventsTest : public ::testing::Test {
 protected:
  std::vector<OcsfEvent> Run(const std::vector<std::string>& wrapper, bool best_effort,
                             int expected_exit) {
    RunSpec spec;
    spec.wrapper = wrapper;
    spec.args = {"run", "--events", dir_ + "/events.json", "--", "./sandbox_probe", "exit", "7"};
    spec.before_exec = [best_effort] {
      if (best_effort) setenv("TETHER_BEST_EFFORT", "bounding_set", 1);
    };
    RunResult result = RunTether(spec);
    EXPECT_EQ(result.exit_code, expected_exit) << result.err;
    std::vector<OcsfEvent> events = ParseEvents(ReadFile(dir_ + "/events.json"));
    for (const OcsfEvent& event : events) ExpectValidOcsf(event);
    return events;
  }

  ScopedTempDir dir_scope_{"/tmp", 0777};
  const std::string& dir_ = dir_scope_.path();
};

TEST_F(EventsTest, FullPostureRunReportsValidationLaunchAndExit) {
  std::vector<OcsfEvent> events = Run({}, false, 7);
  ASSERT_GE(events.size(), 4u);
  EXPECT_NE(FindEvent(events, 5002, "Validated"), nullptr);
  EXPECT_NE(FindEvent(events, 5002, "Created"), nullptr);
  EXPECT_EQ(FindEvent(events, 5002, "Degraded"), nullptr);
  EXPECT_EQ(FindEvent(events, 2004, "Create"), nullptr);
  ASSERT_NE(FindEvent(events, 1007, "Launch"), nullptr);
  const OcsfEvent* exit_event = FindEvent(events, 1007, "Terminate");
  ASSERT_NE(exit_event, nullptr);
  EXPECT_EQ(exit_event->exit_code, 7);
}

TEST_F(EventsTest, RootlessBestEffortEmitsDegradedConfigAndADetectionFinding) {
  std::vector<OcsfEvent> events = Run({Binaries().Bin("faultenv"), "rootless", "--"}, true, 7);
  const OcsfEvent* degraded = FindEvent(events, 5002, "Degraded");
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->unmapped.mechanism, "bounding_set");
  EXPECT_EQ(degraded->unmapped.errno_value, 1);
  const OcsfEvent* finding = FindEvent(events, 2004, "Create");
  ASSERT_NE(finding, nullptr);
  EXPECT_EQ(finding->unmapped.mechanism, "bounding_set");
  EXPECT_EQ(finding->severity_id, 4);
  EXPECT_NE(finding->finding_info.desc.find("landlock"), std::string::npos);
  EXPECT_NE(finding->finding_info.desc.find("workload_seccomp"), std::string::npos);
}

TEST_F(EventsTest, StrictRefusalEmitsARefusedConfigEventAndNoLaunch) {
  std::vector<OcsfEvent> events = Run({Binaries().Bin("faultenv"), "rootless", "--"}, false, 125);
  const OcsfEvent* refused = FindEvent(events, 5002, "Refused");
  ASSERT_NE(refused, nullptr);
  EXPECT_NE(refused->message.find("bounding_set"), std::string::npos);
  EXPECT_EQ(FindEvent(events, 1007, "Launch"), nullptr);
}

}  // namespace
}  // namespace tether::testing
