#include "broker/report/posture_report.h"

#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <kj/debug.h>
#include <kj/exception.h>

#include <cstring>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "broker/report/report.capnp.h"

namespace tether::broker {
namespace {

// The annotations of broker/report.capnp, and json.capnp's name.
constexpr uint64_t kNullWhenZeroAnnotation = 0xc8e02eb79e3d8943ull;
constexpr uint64_t kJsonNumberAnnotation = 0xff350e55b9f5753cull;
constexpr uint64_t kJsonNameAnnotation = 0xfa5b1fd61c2e7c3dull;

bool HasAnnotation(capnp::StructSchema::Field field, uint64_t id) {
  for (auto annotation : field.getProto().getAnnotations()) {
    if (annotation.getId() == id) return true;
  }
  return false;
}

kj::StringPtr JsonName(capnp::StructSchema::Field field) {
  for (auto annotation : field.getProto().getAnnotations()) {
    if (annotation.getId() == kJsonNameAnnotation) return annotation.getValue().getText();
  }
  return field.getProto().getName();
}

// A JSON number that is an integer in [min, max], both within 2^53. The
// range is checked first (NaN fails it), so the cast to an integer is
// defined; std::trunc would be libm's (broker/no_libm.cc).
double IntegralNumber(capnp::JsonValue::Reader input, double min, double max) {
  KJ_REQUIRE(input.isNumber(), "expected a number");
  double number = input.getNumber();
  KJ_REQUIRE(
      number >= min && number <= max && number == static_cast<double>(static_cast<int64_t>(number)),
      "expected an integer in range", number);
  return number;
}

// $nullWhenZero: 0 is null, both ways.
class NullWhenZeroHandler final : public capnp::JsonCodec::Handler<int32_t> {
 public:
  void encode(const capnp::JsonCodec&, int32_t input,
              capnp::JsonValue::Builder output) const override {
    if (input == 0) {
      output.setNull();
    } else {
      output.setNumber(input);
    }
  }
  int32_t decode(const capnp::JsonCodec&, capnp::JsonValue::Reader input) const override {
    if (input.isNull()) return 0;
    return static_cast<int32_t>(IntegralNumber(input, INT32_MIN, INT32_MAX));
  }
};

// $jsonNumber: an Int64 as a number, not the codec's string.
class NumberHandler final : public capnp::JsonCodec::Handler<int64_t> {
 public:
  static constexpr double kExact = 9007199254740992.0;  // 2^53
  void encode(const capnp::JsonCodec&, int64_t input,
              capnp::JsonValue::Builder output) const override {
    output.setNumber(static_cast<double>(input));
  }
  int64_t decode(const capnp::JsonCodec&, capnp::JsonValue::Reader input) const override {
    return static_cast<int64_t>(IntegralNumber(input, -kExact, kExact));
  }
};

// A codec for `root` and every struct it reaches.
void Configure(capnp::JsonCodec& codec, capnp::StructSchema root) {
  // Stateless; they outlive every codec.
  static NullWhenZeroHandler& null_when_zero = *new NullWhenZeroHandler;
  static NumberHandler& number = *new NumberHandler;
  codec.handleByAnnotation(root);
  std::set<uint64_t> seen;
  std::vector<capnp::StructSchema> pending = {root};
  while (!pending.empty()) {
    capnp::StructSchema schema = pending.back();
    pending.pop_back();
    if (!seen.insert(schema.getProto().getId()).second) continue;
    for (capnp::StructSchema::Field field : schema.getFields()) {
      if (HasAnnotation(field, kNullWhenZeroAnnotation)) {
        codec.addFieldHandler(field, null_when_zero);
      }
      if (HasAnnotation(field, kJsonNumberAnnotation)) {
        codec.addFieldHandler(field, number);
      }
      capnp::Type type = field.getType();
      while (type.isList()) type = type.asList().getElementType();
      if (type.isStruct()) pending.push_back(type.asStruct());
    }
  }
}

}  // namespace

std::string EncodeReportJson(capnp::DynamicStruct::Reader value) {
  capnp::JsonCodec codec;
  Configure(codec, value.getSchema());
  kj::String text = codec.encode(capnp::DynamicValue::Reader(value), value.getSchema());
  return std::string(text.cStr(), text.size());
}

absl::Status DecodeReportJson(absl::string_view json, capnp::DynamicStruct::Builder out) {
  capnp::JsonCodec codec;
  Configure(codec, out.getSchema());
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions(
      [&] { codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()), out); });
  KJ_IF_MAYBE (e, error) {
    return absl::InvalidArgumentError(absl::StrCat("not a ",
                                                   out.getSchema().getShortDisplayName().cStr(),
                                                   " in JSON: ", e->getDescription().cStr()));
  }
  return absl::OkStatus();
}

capnp::StructSchema::Field MechanismField(capnp::StructSchema schema, Mechanism mechanism) {
  for (capnp::StructSchema::Field field : schema.getFields()) {
    if (JsonName(field) == MechanismName(mechanism)) return field;
  }
  KJ_FAIL_REQUIRE("broker/report.capnp has no member for this mechanism",
                  schema.getProto().getDisplayName(), MechanismName(mechanism));
}

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
      record.reason = absl::StrCat(record.action, " failed: ", std::strerror(result.errno_value));
      break;
  }
}

void PostureReport::MarkVerified() {
  for (MechanismRecord& record : mechanisms) {
    // A tolerated step's effect was not required, so /proc did not vouch for it.
    bool checked =
        record.state == MechanismState::kEnforced || record.state == MechanismState::kSkipped;
    if (record.evidence == Evidence::kStubAttested && checked &&
        VerifiableFromProc(record.mechanism)) {
      record.evidence = Evidence::kVerified;
    }
  }
}

std::string PostureReport::ToJson() const {
  capnp::MallocMessageBuilder message;
  auto json = message.initRoot<schema::PostureReport>();
  json.setOutcome(outcome);
  if (!error.empty()) json.setError(error);
  auto json_target = json.initTarget();
  json_target.setUid(target.uid);
  json_target.setGid(target.gid);
  auto groups = json_target.initGroups(target.groups.size());
  for (size_t i = 0; i < target.groups.size(); ++i) groups.set(i, target.groups[i]);
  json.setLandlockAbi(landlock_abi);
  capnp::DynamicStruct::Builder settings = capnp::toDynamic(json.initEnforcement());
  for (Mechanism mechanism : kRelaxableMechanisms) {
    auto setting = settings.init(MechanismField(settings.getSchema(), mechanism))
                       .as<schema::EnforcementSetting>();
    setting.setMode(EnforcementModeName(enforcement.mode(mechanism)));
    setting.setSource(enforcement.source(mechanism));
  }
  if (!egress.empty()) {
    auto network = json.initNetwork();
    auto list = network.initEgress(egress.size());
    for (size_t i = 0; i < egress.size(); ++i) list.set(i, egress[i]);
    if (!egress_proxy.empty()) network.setProxy(egress_proxy);
  }
  if (!cgroups.empty() || !limits.empty() || !timeout.empty()) {
    auto resources = json.initResources();
    auto directories = resources.initCgroups(cgroups.size());
    for (size_t i = 0; i < cgroups.size(); ++i) directories.set(i, cgroups[i]);
    auto list = resources.initLimits(limits.size());
    for (size_t i = 0; i < limits.size(); ++i) {
      const ResourceLimitRecord& limit = limits[i];
      auto out = list[i];
      out.setName(limit.name);
      out.setValue(limit.value);
      out.setAsked(limit.asked);
      if (!limit.version.empty()) out.setVersion(limit.version);
      if (!limit.setting.empty()) out.setSetting(limit.setting);
      out.setState(MechanismStateName(limit.state));
      out.setReason(limit.reason);
    }
    if (!timeout.empty()) resources.setTimeout(timeout);
  }
  if (exit.has_value()) {
    auto out = json.initExit();
    out.setStatus(exit->status);
    out.setCause(exit->cause);
    out.setDetail(exit->detail);
  }
  if (!probes.empty()) json.setProbes(probes);
  if (!launch.empty()) {
    auto phases = json.initLaunch(launch.size());
    for (size_t i = 0; i < launch.size(); ++i) {
      phases[i].setPhase(launch[i].phase);
      phases[i].setMicros(launch[i].micros);
      phases[i].setMeasuredBy(launch[i].measured_by);
    }
  }
  auto records = json.initMechanisms(mechanisms.size());
  for (size_t i = 0; i < mechanisms.size(); ++i) {
    const MechanismRecord& record = mechanisms[i];
    auto out = records[i];
    out.setMechanism(MechanismName(record.mechanism));
    out.setAction(record.action);
    out.setState(MechanismStateName(record.state));
    out.setReason(record.reason);
    out.setErrno(record.errno_value);
    if (record.errno_value != 0) out.setErrnoName(std::strerror(record.errno_value));
    out.setEvidence(EvidenceName(record.evidence));
  }
  return EncodeReportJson(json.asReader()) + "\n";
}

}  // namespace tether::broker
