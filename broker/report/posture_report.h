#ifndef TETHER_BROKER_POSTURE_REPORT_H_
#define TETHER_BROKER_POSTURE_REPORT_H_

#include <capnp/dynamic.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "broker/enforcement.h"
#include "broker/identity.h"
#include "broker/mechanism.h"
#include "broker/planner.h"
#include "broker/report/launch_timeline.h"
#include "ipc/messages.h"

namespace tether::broker {

enum class Evidence { kVerified, kStubAttested, kNone };

const char* EvidenceName(Evidence evidence);

// One line of the posture: what happened to one mechanism, and how the
// broker knows.
struct MechanismRecord {
  Mechanism mechanism = Mechanism::kSetup;
  std::string action;
  MechanismState state = MechanismState::kNotReached;
  std::string reason;
  int errno_value = 0;
  Evidence evidence = Evidence::kNone;
};

// One resource limit as the run got it (report.capnp's ResourceLimit).
struct ResourceLimitRecord {
  std::string name;
  std::string value;
  bool asked = true;
  std::string version;  // "v1", "v2"; empty: none
  std::string setting;
  MechanismState state = MechanismState::kNotReached;
  std::string reason;
};

// How the run ended, once it did (report.capnp's ExitPosture).
struct ExitRecord {
  int status = 0;
  std::string cause;  // "exited", "signaled", "memory_limit", "timeout"
  std::string detail;
};

struct PostureReport {
  std::string outcome;  // "running" or "refused"
  std::string error;    // why it was refused
  TargetIdentity target;
  std::vector<MechanismRecord> mechanisms;
  int landlock_abi = 0;
  Enforcement enforcement;
  std::vector<std::string> egress;   // the allow-list in force; empty: none
  std::string egress_proxy;          // its URL inside the sandbox; empty: none
  std::vector<std::string> cgroups;  // the sandbox's cgroup directories
  std::vector<ResourceLimitRecord> limits;
  std::string timeout;  // empty: none
  std::optional<ExitRecord> exit;
  std::vector<LaunchPhase> launch;  // where the launch's time went
  std::string probes;               // where the host facts came from

  // Records a plan; every step starts as not reached, and the mechanisms it
  // left out are recorded with their reason.
  void SetPlan(const Plan& plan);
  // Records the stub's result for step `index`.
  void RecordResult(const ipc::StepResult& result);
  // After the final check of /proc passed: attested steps that /proc shows
  // become verified.
  void MarkVerified();

  // One line of JSON, broker/report.capnp's PostureReport, and a newline.
  std::string ToJson() const;
};

// JSON through the schemas in broker/report.capnp (capnp::JsonCodec with
// their $Json annotations and this project's $nullWhenZero and $jsonNumber).
// Writes `value` as one line of compact JSON, without a newline.
std::string EncodeReportJson(capnp::DynamicStruct::Reader value);
// Reads JSON into `out`, a struct of the same schema; keys the schema does
// not have are ignored. An error (and `out` partly filled) for text that is
// not JSON or a value of the wrong type.
absl::Status DecodeReportJson(absl::string_view json, capnp::DynamicStruct::Builder out);

// The member of `schema` whose JSON name is the mechanism's name: the
// per-mechanism structs Enforcement and EnforcementModes.
capnp::StructSchema::Field MechanismField(capnp::StructSchema schema, Mechanism mechanism);

}  // namespace tether::broker

#endif  // TETHER_BROKER_POSTURE_REPORT_H_
