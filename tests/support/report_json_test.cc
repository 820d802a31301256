// broker/report.capnp's JSON codec (EncodeReportJson, DecodeReportJson) and
// the strict decoding the integration tests read reports and events with.

#include "tests/support/report_json.h"

#include <capnp/message.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "broker/report/ocsf_events.h"
#include "broker/report/posture_report.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

TEST(ReportJsonTest, ZeroErrnoIsNullAndOtherwiseANumberWithItsName) {
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<schema::MechanismRecord>();
  record.setMechanism("landlock");
  record.setAction("not_planned");
  record.setState("unavailable");
  record.setReason("");
  record.setEvidence("none");
  EXPECT_EQ(broker::EncodeReportJson(record.asReader()),
            R"({"mechanism":"landlock","action":"not_planned","state":"unavailable",)"
            R"("reason":"","errno":null,"evidence":"none"})");
  record.setErrno(38);
  record.setErrnoName("Function not implemented");
  EXPECT_EQ(broker::EncodeReportJson(record.asReader()),
            R"({"mechanism":"landlock","action":"not_planned","state":"unavailable",)"
            R"("reason":"","errno":38,"errno_name":"Function not implemented",)"
            R"("evidence":"none"})");
}

TEST(ReportJsonTest, EventsHaveTheBaseInlineAndTimeAsANumber) {
  capnp::MallocMessageBuilder message;
  auto event = message.initRoot<schema::ProcessActivity>();
  auto base = event.initBase();
  base.setClassUid(1007);
  base.setTime(1700000000123);
  event.initProcess().setPid(42);
  event.initExit().setExitCode(3);
  event.initUnmapped().setMechanism("process");
  std::string json = broker::EncodeReportJson(event.asReader());
  EXPECT_EQ(json, R"({"class_uid":1007,"category_uid":0,"activity_id":0,"type_uid":0,)"
                  R"("severity_id":0,"time":1700000000123,"process":{"pid":42},"exit_code":3,)"
                  R"("unmapped":{"mechanism":"process","errno":null}})");
  Decoded<schema::ProcessActivity> decoded(json);
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_EQ(decoded.get().getBase().getTime(), 1700000000123);
  EXPECT_EQ(decoded.get().getExit().getExitCode(), 3);
  EXPECT_EQ(decoded.get().getUnmapped().getErrno(), 0);
}

// What the egress proxy writes decodes strictly as class 4001.
TEST(ReportJsonTest, NetworkActivityEventsDecodeWithTheirDecision) {
  ScopedTempDir dir;
  std::string path = dir.Child("events.jsonl");
  {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    absl::StatusOr<broker::OcsfEventLog> log = broker::OcsfEventLog::Share(fd);
    close(fd);
    ASSERT_TRUE(log.ok()) << log.status();
    broker::OcsfEventLog::Connection denied;
    denied.outcome = broker::OcsfEventLog::Connection::Outcome::kDenied;
    denied.request = "CONNECT";
    denied.host = "evil.example";
    denied.port = 443;
    denied.reason = "no rule allows evil.example:443";
    log->NetworkConnection(denied);
    broker::OcsfEventLog::Connection opened;
    opened.outcome = broker::OcsfEventLog::Connection::Outcome::kOpened;
    opened.request = "GET";
    opened.host = "pypi.org";
    opened.port = 80;
    opened.address = "151.101.0.223";
    opened.rule = "pypi.org:80";
    log->NetworkConnection(opened);
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<OcsfEvent> events = ParseEvents(text.str());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].class_uid, 4001);
  EXPECT_EQ(events[0].type_uid, 400105);
  EXPECT_EQ(events[0].activity_name, "Refuse");
  EXPECT_EQ(events[0].connection.action, "Denied");
  EXPECT_EQ(events[0].connection.hostname, "evil.example");
  EXPECT_EQ(events[0].connection.ip, "");
  EXPECT_EQ(events[0].connection.rule, "");
  EXPECT_EQ(events[0].unmapped.mechanism, "egress_proxy");
  EXPECT_EQ(events[1].type_uid, 400101);
  EXPECT_EQ(events[1].connection.action, "Allowed");
  EXPECT_EQ(events[1].connection.ip, "151.101.0.223");
  EXPECT_EQ(events[1].connection.port, 80);
  EXPECT_EQ(events[1].connection.rule, "pypi.org:80");
  EXPECT_EQ(events[1].connection.request, "GET");
}

TEST(ReportJsonTest, EmptyListsAreWrittenAndTheTrailingNewlineIsRead) {
  broker::PostureReport report;
  report.outcome = "refused";
  report.error = "no";
  std::string json = report.ToJson();
  EXPECT_EQ(json.back(), '\n');
  EXPECT_NE(json.find(R"("target":{"uid":0,"gid":0,"groups":[]})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("mechanisms":[]})"), std::string::npos) << json;
  PostureReport parsed = ParseReport(json);
  EXPECT_EQ(parsed.outcome, "refused");
  EXPECT_EQ(parsed.error, "no");
  EXPECT_EQ(parsed.enforcement.size(), policy::kRelaxableMechanisms.size());
  EXPECT_EQ(parsed.enforcement["landlock"].source, "default");
}

TEST(ReportJsonTest, StrictDecodingRefusesWhatTheSchemaWouldNotWrite) {
  const std::string good = R"({"allowed":false,"errno":1,"evidence":"denied"})";
  capnp::MallocMessageBuilder message;
  auto fact = capnp::toDynamic(message.initRoot<schema::ProbeFact>());
  EXPECT_EQ(DecodeStrictly(good, fact), "");
  for (const char* bad : {
           R"({"allowed":false,"evidence":"denied"})",                      // no errno
           R"({"allowed":false,"errno":0,"evidence":"denied"})",            // 0, not null
           R"({"allowed":false,"errno":1,"evidence":"denied","extra":1})",  // unknown key
           R"({"errno":1,"allowed":false,"evidence":"denied"})",            // order
           R"({"allowed":"no","errno":1,"evidence":"denied"})",             // type
           R"({"allowed":false,"errno":1.5,"evidence":"denied"})",          // not an integer
           R"({"allowed":false,"errno":1,"evidence":"denied")",             // not JSON
       }) {
    capnp::MallocMessageBuilder other;
    EXPECT_NE(DecodeStrictly(bad, capnp::toDynamic(other.initRoot<schema::ProbeFact>())), "")
        << bad;
  }
}

}  // namespace
}  // namespace tether::testing
