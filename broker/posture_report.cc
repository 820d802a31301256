#include "broker/posture_report.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "broker/json_writer.h"

namespace tether::broker {

const char* EvidenceName(Evidence evidence) {
  switch (evidence) {
    case Evidence::kVerified: return "verified";
    case Evidence::kStubAttested: return "stub-attested";
    case Evidence::kNone: return "none";
  }
  return "unknown";
}

void PostureReport::SetPlan(const Plan& plan) {
  mechanisms.clear();
  for (const PlannedStep& planned : plan.steps) {
    MechanismRecord record;
    record.mechanism = planned.mechanism;
    record.action = ipc::ActionName(planned.step.action);
    record.reason = planned.reason;
    mechanisms.push_back(record);
  }
  for (const SkippedMechanism& skipped : plan.left_out) {
    MechanismRecord record;
    record.mechanism = skipped.mechanism;
    record.action = "not_planned";
    record.state = skipped.state;
    record.reason = skipped.reason;
    record.errno_value = skipped.errno_value;
    mechanisms.push_back(record);
  }
}

void PostureReport::RecordResult(const ipc::StepResult& result) {
  if (result.index >= mechanisms.size()) return;
  MechanismRecord& record = mechanisms[result.index];
  record.errno_value = result.errno_value;
  record.evidence = Evidence::kStubAttested;
  switch (result.outcome) {
    case ipc::Outcome::kOk: record.state = MechanismState::kEnforced; break;
    case ipc::Outcome::kSkipped: record.state = MechanismState::kSkipped; break;
    case ipc::Outcome::kTolerated: record.state = MechanismState::kDegraded; break;
    case ipc::Outcome::kFailed:
      record.state = MechanismState::kFailed;
      record.reason = absl::StrCat(record.action, " failed: ",
                                   std::strerror(result.errno_value));
      break;
  }
}

void PostureReport::MarkVerified() {
  for (MechanismRecord& record : mechanisms) {
    // A tolerated step's effect was not required, so /proc did not vouch for it.
    bool checked = record.state == MechanismState::kEnforced ||
                   record.state == MechanismState::kSkipped;
    if (record.evidence == Evidence::kStubAttested && checked &&
        VerifiableFromProc(record.mechanism)) {
      record.evidence = Evidence::kVerified;
    }
  }
}

std::string PostureReport::ToJson() const {
  JsonWriter json;
  json.BeginObject();
  json.Key("outcome").String(outcome);
  if (!error.empty()) json.Key("error").String(error);
  json.Key("target").BeginObject();
  json.Key("uid").Int(target.uid);
  json.Key("gid").Int(target.gid);
  json.Key("groups").BeginArray();
  for (uint32_t group : target.groups) json.Int(group);
  json.EndArray();
  json.EndObject();
  json.Key("landlock_abi").Int(landlock_abi);
  json.Key("enforcement").BeginObject();
  for (Mechanism mechanism : kRelaxableMechanisms) {
    json.Key(MechanismName(mechanism)).BeginObject();
    json.Key("mode").String(EnforcementModeName(enforcement.mode(mechanism)));
    json.Key("source").String(enforcement.source(mechanism));
    json.EndObject();
  }
  json.EndObject();
  json.Key("mechanisms").BeginArray();
  for (const MechanismRecord& record : mechanisms) {
    json.BeginObject();
    json.Key("mechanism").String(MechanismName(record.mechanism));
    json.Key("action").String(record.action);
    json.Key("state").String(MechanismStateName(record.state));
    json.Key("reason").String(record.reason);
    if (record.errno_value != 0) {
      json.Key("errno").Int(record.errno_value);
      json.Key("errno_name").String(std::strerror(record.errno_value));
    } else {
      json.Key("errno").Null();
    }
    json.Key("evidence").String(EvidenceName(record.evidence));
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.str() + "\n";
}

}  // namespace tether::broker
