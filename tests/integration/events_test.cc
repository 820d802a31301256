// OCSF events from real runs: every line is a JSON object with the fields
// OCSF 1.x requires, type_uid = class_uid * 100 + activity_id, and the
// mechanism and errno in structured fields.

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include <capnp/compat/json.capnp.h>
#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <gtest/gtest.h>

#include "tests/integration/sandbox_fixture.h"

namespace tether::testing {
namespace {

// One event, flattened: "a.b" -> scalar text, for the checks below.
using Event = std::map<std::string, std::string>;

void Flatten(capnp::JsonValue::Reader value, const std::string& prefix, Event* out) {
  switch (value.which()) {
    case capnp::JsonValue::OBJECT:
      for (auto field : value.getObject()) {
        Flatten(field.getValue(),
                prefix.empty() ? std::string(field.getName())
                               : prefix + "." + std::string(field.getName()),
                out);
      }
      break;
    case capnp::JsonValue::STRING: (*out)[prefix] = value.getString(); break;
    case capnp::JsonValue::NUMBER: {
      std::ostringstream number;
      number.precision(17);
      number << value.getNumber();
      (*out)[prefix] = number.str();
      break;
    }
    case capnp::JsonValue::BOOLEAN: (*out)[prefix] = value.getBoolean() ? "true" : "false"; break;
    case capnp::JsonValue::NULL_: (*out)[prefix] = "null"; break;
    default: (*out)[prefix] = "?"; break;
  }
}

std::vector<Event> ParseEvents(const std::string& text) {
  std::vector<Event> events;
  std::istringstream lines(text);
  std::string line;
  capnp::JsonCodec codec;
  while (std::getline(lines, line)) {
    capnp::MallocMessageBuilder message;
    auto root = message.initRoot<capnp::JsonValue>();
    codec.decodeRaw(kj::ArrayPtr<const char>(line.data(), line.size()), root);
    EXPECT_EQ(root.which(), capnp::JsonValue::OBJECT) << line;
    Event event;
    Flatten(root.asReader(), "", &event);
    events.push_back(event);
  }
  return events;
}

void ExpectValidOcsf(const Event& event) {
  for (const char* field : {"class_uid", "category_uid", "type_uid", "activity_id", "severity_id",
                            "time", "message", "metadata.version", "metadata.product.name",
                            "metadata.product.version", "unmapped.mechanism", "unmapped.errno"}) {
    EXPECT_EQ(event.count(field), 1u) << "missing " << field;
  }
  long class_uid = std::atol(event.at("class_uid").c_str());
  long activity_id = std::atol(event.at("activity_id").c_str());
  EXPECT_EQ(std::atol(event.at("type_uid").c_str()), class_uid * 100 + activity_id);
  EXPECT_EQ(std::atol(event.at("category_uid").c_str()), class_uid / 1000);
  EXPECT_EQ(event.at("metadata.version").substr(0, 2), "1.");
  EXPECT_EQ(event.at("metadata.product.name"), "tether");
}

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/tether-events-XXXXXX";
    dir_ = mkdtemp(pattern);
    chmod(dir_.c_str(), 0777);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<Event> Run(const std::vector<std::string>& wrapper, bool best_effort,
                         int expected_exit) {
    RunSpec spec;
    spec.wrapper = wrapper;
    spec.args = {"run", "--events", dir_ + "/events.json", "--", "./sandbox_probe", "exit", "7"};
    spec.before_exec = [best_effort] {
      if (best_effort) setenv("TETHER_BEST_EFFORT", "bounding_set", 1);
    };
    RunResult result = RunTether(spec);
    EXPECT_EQ(result.exit_code, expected_exit) << result.err;
    std::vector<Event> events = ParseEvents(ReadFile(dir_ + "/events.json"));
    for (const Event& event : events) ExpectValidOcsf(event);
    return events;
  }

  std::string dir_;
};

const Event* Find(const std::vector<Event>& events, const std::string& class_uid,
                  const std::string& activity_name) {
  for (const Event& event : events) {
    if (event.at("class_uid") == class_uid && event.at("activity_name") == activity_name) {
      return &event;
    }
  }
  return nullptr;
}

TEST_F(EventsTest, FullPostureRunReportsValidationLaunchAndExit) {
  std::vector<Event> events = Run({}, false, 7);
  ASSERT_GE(events.size(), 4u);
  EXPECT_NE(Find(events, "5002", "Validated"), nullptr);
  EXPECT_NE(Find(events, "5002", "Created"), nullptr);
  EXPECT_EQ(Find(events, "5002", "Degraded"), nullptr);
  EXPECT_EQ(Find(events, "2004", "Create"), nullptr);
  ASSERT_NE(Find(events, "1007", "Launch"), nullptr);
  const Event* exit_event = Find(events, "1007", "Terminate");
  ASSERT_NE(exit_event, nullptr);
  EXPECT_EQ(exit_event->at("exit_code"), "7");
}

TEST_F(EventsTest, RootlessBestEffortEmitsDegradedConfigAndADetectionFinding) {
  std::vector<Event> events = Run({Binaries().Bin("faultenv"), "rootless", "--"}, true, 7);
  const Event* degraded = Find(events, "5002", "Degraded");
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->at("unmapped.mechanism"), "bounding_set");
  EXPECT_EQ(degraded->at("unmapped.errno"), "1");
  const Event* finding = Find(events, "2004", "Create");
  ASSERT_NE(finding, nullptr);
  EXPECT_EQ(finding->at("unmapped.mechanism"), "bounding_set");
  EXPECT_EQ(finding->at("severity_id"), "4");
  EXPECT_NE(finding->at("finding_info.desc").find("landlock"), std::string::npos);
  EXPECT_NE(finding->at("finding_info.desc").find("workload_seccomp"), std::string::npos);
}

TEST_F(EventsTest, StrictRefusalEmitsARefusedConfigEventAndNoLaunch) {
  std::vector<Event> events = Run({Binaries().Bin("faultenv"), "rootless", "--"}, false, 125);
  const Event* refused = Find(events, "5002", "Refused");
  ASSERT_NE(refused, nullptr);
  EXPECT_NE(refused->at("message").find("bounding_set"), std::string::npos);
  EXPECT_EQ(Find(events, "1007", "Launch"), nullptr);
}

}  // namespace
}  // namespace tether::testing
