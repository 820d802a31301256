#include "broker/ocsf_events.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "broker/json_writer.h"
#include "broker/output_file.h"

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

// Opens an event with the fields every class requires; the caller adds its
// own and closes the object.
void Begin(JsonWriter& json, const ClassInfo& info, int activity_id,
           const std::string& activity_name, Severity severity, const std::string& message) {
  json.BeginObject();
  json.Key("class_uid").Int(info.class_uid);
  json.Key("class_name").String(info.class_name);
  json.Key("category_uid").Int(info.category_uid);
  json.Key("category_name").String(info.category_name);
  json.Key("activity_id").Int(activity_id);
  json.Key("activity_name").String(activity_name);
  json.Key("type_uid").Int(int64_t{info.class_uid} * 100 + activity_id);
  json.Key("severity_id").Int(static_cast<int>(severity));
  json.Key("severity").String(SeverityName(severity));
  json.Key("time").Int(absl::ToUnixMillis(absl::Now()));
  json.Key("message").String(message);
  json.Key("metadata").BeginObject();
  json.Key("version").String(kOcsfVersion);
  json.Key("product").BeginObject();
  json.Key("name").String("tether");
  json.Key("vendor_name").String("tether");
  json.Key("version").String(kProductVersion);
  json.EndObject();
  json.EndObject();
}

void Unmapped(JsonWriter& json, Mechanism mechanism, int errno_value,
              const std::string& evidence) {
  json.Key("unmapped").BeginObject();
  json.Key("mechanism").String(MechanismName(mechanism));
  if (errno_value != 0) {
    json.Key("errno").Int(errno_value);
    json.Key("errno_name").String(strerror(errno_value));
  } else {
    json.Key("errno").Null();
  }
  if (!evidence.empty()) json.Key("evidence").String(evidence);
  json.EndObject();
}

}  // namespace

absl::StatusOr<OcsfEventLog> OcsfEventLog::Open(const std::string& path) {
  absl::StatusOr<UniqueFd> fd = OpenOutputFile(path, OutputMode::kAppend);
  if (!fd.ok()) return fd.status();
  return OcsfEventLog(std::move(*fd));
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
                               const std::string& message, Mechanism mechanism,
                               int errno_value, const std::string& evidence) {
  JsonWriter json;
  Begin(json, kConfig, 99, state, severity, message);
  Unmapped(json, mechanism, errno_value, evidence);
  json.EndObject();
  Write(json.str());
}

void OcsfEventLog::DetectionFinding(const std::string& title, const std::string& message,
                                    Mechanism mechanism, int errno_value,
                                    const std::vector<Mechanism>& still_enforced) {
  JsonWriter json;
  Begin(json, kFinding, 1, "Create", Severity::kHigh, message);
  json.Key("finding_info").BeginObject();
  json.Key("title").String(title);
  json.Key("uid").String(absl::StrCat("tether-", MechanismName(mechanism), "-", getpid()));
  std::vector<const char*> names;
  for (Mechanism enforced : still_enforced) names.push_back(MechanismName(enforced));
  json.Key("desc").String(names.empty() ? std::string("the workload relies on nothing else")
                                        : absl::StrCat("the workload still relies on: ",
                                                       absl::StrJoin(names, ", ")));
  json.EndObject();
  Unmapped(json, mechanism, errno_value, "");
  json.EndObject();
  Write(json.str());
}

void OcsfEventLog::ProcessLaunch(pid_t pid, const std::vector<std::string>& argv,
                                 uint32_t uid) {
  JsonWriter json;
  Begin(json, kProcess, 1, "Launch", Severity::kInformational,
        absl::StrCat("sandboxed workload ", argv.empty() ? "" : argv[0], " launched"));
  json.Key("process").BeginObject();
  json.Key("pid").Int(pid);
  json.Key("cmd_line").String(absl::StrJoin(argv, " "));
  json.Key("user").BeginObject().Key("uid").String(absl::StrCat(uid)).EndObject();
  json.EndObject();
  Unmapped(json, Mechanism::kProcess, 0, "");
  json.EndObject();
  Write(json.str());
}

void OcsfEventLog::ProcessExit(pid_t pid, int exit_code) {
  JsonWriter json;
  Begin(json, kProcess, 2, "Terminate", Severity::kInformational,
        absl::StrCat("sandboxed workload exited with status ", exit_code));
  json.Key("process").BeginObject().Key("pid").Int(pid).EndObject();
  json.Key("exit_code").Int(exit_code);
  Unmapped(json, Mechanism::kProcess, 0, "");
  json.EndObject();
  Write(json.str());
}

}  // namespace tether::broker
