#include "broker/report/ocsf_events.h"

#include <capnp/message.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/status.h"
#include "broker/report/output_file.h"
#include "broker/report/posture_report.h"
#include "broker/report/report.capnp.h"

namespace tether::broker {
namespace {

struct ClassInfo {
  int class_uid;
  const char* class_name;
  int category_uid;
  const char* category_name;
};

constexpr ClassInfo kProcess = {kClassProcessActivity, "Process Activity", 1, "System Activity"};
constexpr ClassInfo kFinding = {kClassDetectionFinding, "Detection Finding", 2, "Findings"};
constexpr ClassInfo kNetwork = {kClassNetworkActivity, "Network Activity", 4, "Network Activity"};
constexpr ClassInfo kConfig = {kClassDeviceConfigState, "Device Config State", 5, "Discovery"};

const char* SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kInformational: return "Informational";
    case Severity::kLow: return "Low";
    case Severity::kMedium: return "Medium";
    case Severity::kHigh: return "High";
  }
  return "Unknown";
}

// The fields every class requires.
void FillBase(schema::OcsfBase::Builder base, const ClassInfo& info, int activity_id,
              const std::string& activity_name, Severity severity, const std::string& message) {
  base.setClassUid(info.class_uid);
  base.setClassName(info.class_name);
  base.setCategoryUid(info.category_uid);
  base.setCategoryName(info.category_name);
  base.setActivityId(activity_id);
  base.setActivityName(activity_name);
  base.setTypeUid(info.class_uid * 100 + activity_id);
  base.setSeverityId(static_cast<int>(severity));
  base.setSeverity(SeverityName(severity));
  base.setTime(absl::ToUnixMillis(absl::Now()));
  base.setMessage(message);
  auto metadata = base.initMetadata();
  metadata.setVersion(kOcsfVersion);
  auto product = metadata.initProduct();
  product.setName("tether");
  product.setVendorName("tether");
  product.setVersion(kProductVersion);
}

void FillUnmapped(schema::OcsfUnmapped::Builder unmapped, Mechanism mechanism, int errno_value,
                  const std::string& evidence) {
  unmapped.setMechanism(MechanismName(mechanism));
  unmapped.setErrno(errno_value);
  if (errno_value != 0) unmapped.setErrnoName(strerror(errno_value));
  if (!evidence.empty()) unmapped.setEvidence(evidence);
}

}  // namespace

absl::StatusOr<OcsfEventLog> OcsfEventLog::Open(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenOutputFile(path, OutputMode::kAppend));
  return OcsfEventLog(std::move(fd));
}

absl::StatusOr<OcsfEventLog> OcsfEventLog::Share(int fd) {
  UniqueFd copy(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!copy.valid()) return absl::ErrnoToStatus(errno, "fcntl(event log, F_DUPFD_CLOEXEC)");
  return OcsfEventLog(std::move(copy));
}

void OcsfEventLog::Write(const std::string& line) {
  std::string text = line + "\n";
  // One write per event so that concurrent writers never interleave lines.
  (void)!write(fd_.get(), text.data(), text.size());
}

void OcsfEventLog::ConfigState(const std::string& state, Severity severity,
                               const std::string& message, Mechanism mechanism, int errno_value,
                               const std::string& evidence) {
  capnp::MallocMessageBuilder message_builder;
  auto event = message_builder.initRoot<schema::DeviceConfigState>();
  FillBase(event.initBase(), kConfig, 99, state, severity, message);
  FillUnmapped(event.initUnmapped(), mechanism, errno_value, evidence);
  Write(EncodeReportJson(event.asReader()));
}

void OcsfEventLog::DetectionFinding(const std::string& title, const std::string& message,
                                    Mechanism mechanism, int errno_value,
                                    const std::vector<Mechanism>& still_enforced) {
  capnp::MallocMessageBuilder message_builder;
  auto event = message_builder.initRoot<schema::DetectionFinding>();
  FillBase(event.initBase(), kFinding, 1, "Create", Severity::kHigh, message);
  auto info = event.initFindingInfo();
  info.setTitle(title);
  info.setUid(absl::StrCat("tether-", MechanismName(mechanism), "-", getpid()));
  std::vector<const char*> names;
  for (Mechanism enforced : still_enforced) names.push_back(MechanismName(enforced));
  info.setDesc(names.empty()
                   ? std::string("the workload relies on nothing else")
                   : absl::StrCat("the workload still relies on: ", absl::StrJoin(names, ", ")));
  FillUnmapped(event.initUnmapped(), mechanism, errno_value, "");
  Write(EncodeReportJson(event.asReader()));
}

void OcsfEventLog::ProcessLaunch(pid_t pid, const std::vector<std::string>& argv, uint32_t uid) {
  capnp::MallocMessageBuilder message_builder;
  auto event = message_builder.initRoot<schema::ProcessActivity>();
  FillBase(event.initBase(), kProcess, 1, "Launch", Severity::kInformational,
           absl::StrCat("sandboxed workload ", argv.empty() ? "" : argv[0], " launched"));
  auto process = event.initProcess();
  process.setPid(pid);
  process.setCmdLine(absl::StrJoin(argv, " "));
  process.initUser().setUid(absl::StrCat(uid));
  FillUnmapped(event.initUnmapped(), Mechanism::kProcess, 0, "");
  Write(EncodeReportJson(event.asReader()));
}

void OcsfEventLog::ProcessExit(pid_t pid, int exit_code) {
  capnp::MallocMessageBuilder message_builder;
  auto event = message_builder.initRoot<schema::ProcessActivity>();
  FillBase(event.initBase(), kProcess, 2, "Terminate", Severity::kInformational,
           absl::StrCat("sandboxed workload exited with status ", exit_code));
  event.initProcess().setPid(pid);
  event.initExit().setExitCode(exit_code);
  FillUnmapped(event.initUnmapped(), Mechanism::kProcess, 0, "");
  Write(EncodeReportJson(event.asReader()));
}

void OcsfEventLog::NetworkConnection(const Connection& connection) {
  using Outcome = Connection::Outcome;
  capnp::MallocMessageBuilder message_builder;
  auto event = message_builder.initRoot<schema::NetworkActivity>();
  std::string destination = absl::StrCat(connection.host, ":", connection.port);
  int activity_id = 1;
  const char* activity = "Open";
  std::string message = absl::StrCat("egress to ", destination, " allowed by ", connection.rule);
  if (connection.outcome == Outcome::kDenied) {
    activity_id = 5;
    activity = "Refuse";
    message = absl::StrCat("egress to ", destination, " denied: ", connection.reason);
  } else if (connection.outcome == Outcome::kFailed) {
    activity_id = 4;
    activity = "Fail";
    message = absl::StrCat("egress to ", destination, " failed: ", connection.reason);
  }
  // A refusal of the proxy's own (a limit) names no destination.
  if (connection.host.empty()) {
    message =
        absl::StrCat("egress ", activity_id == 5 ? "refused" : "failed", ": ", connection.reason);
  }
  bool denied = connection.outcome == Outcome::kDenied;
  FillBase(event.initBase(), kNetwork, activity_id, activity,
           denied ? Severity::kMedium : Severity::kInformational, message);
  event.setAction(denied ? "Denied" : "Allowed");
  event.setActionId(denied ? 2 : 1);
  auto endpoint = event.initDstEndpoint();
  endpoint.setHostname(connection.host);
  if (!connection.address.empty()) endpoint.setIp(connection.address);
  endpoint.setPort(connection.port);
  auto info = event.initConnectionInfo();
  info.setProtocolName("tcp");
  info.setDirection("Outbound");
  info.setDirectionId(2);
  auto unmapped = event.initUnmapped();
  unmapped.setMechanism(MechanismName(Mechanism::kEgressProxy));
  if (!connection.rule.empty()) unmapped.setRule(connection.rule);
  if (!connection.reason.empty()) unmapped.setReason(connection.reason);
  unmapped.setRequest(connection.request);
  Write(EncodeReportJson(event.asReader()));
}

}  // namespace tether::broker
