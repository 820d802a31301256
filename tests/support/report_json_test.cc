// broker/report.capnp's JSON codec (EncodeReportJson, DecodeReportJson) and
// the strict decoding the integration tests read reports and events with.

#include "tests/support/report_json.h"

#include <capnp/message.h>
#include <gtest/gtest.h>

#include "broker/report/posture_report.h"

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
