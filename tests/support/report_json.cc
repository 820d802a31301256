#include "tests/support/report_json.h"

#include <gtest/gtest.h>

#include <sstream>

#include "absl/status/status.h"
#include "broker/report/posture_report.h"

namespace tether::testing {
namespace {

// Decodes a T, or fails the test; an empty T then.
template <typename T>
void DecodeOrFail(const std::string& json, capnp::MallocMessageBuilder* message) {
  std::string error = DecodeStrictly(json, capnp::toDynamic(message->initRoot<T>()));
  if (!error.empty()) {
    ADD_FAILURE() << error;
    message->initRoot<T>();
  }
}

OcsfEvent::Unmapped ToUnmapped(schema::OcsfUnmapped::Reader unmapped) {
  OcsfEvent::Unmapped out;
  out.mechanism = Str(unmapped.getMechanism());
  out.errno_value = unmapped.getErrno();
  out.errno_name = Str(unmapped.getErrnoName());
  out.evidence = Str(unmapped.getEvidence());
  return out;
}

void FillBase(schema::OcsfBase::Reader base, OcsfEvent* event) {
  event->class_uid = base.getClassUid();
  event->class_name = Str(base.getClassName());
  event->category_uid = base.getCategoryUid();
  event->category_name = Str(base.getCategoryName());
  event->activity_id = base.getActivityId();
  event->activity_name = Str(base.getActivityName());
  event->type_uid = base.getTypeUid();
  event->severity_id = base.getSeverityId();
  event->severity = Str(base.getSeverity());
  event->time = base.getTime();
  event->message = Str(base.getMessage());
  event->metadata.version = Str(base.getMetadata().getVersion());
  auto product = base.getMetadata().getProduct();
  event->metadata.product = {Str(product.getName()), Str(product.getVendorName()),
                             Str(product.getVersion())};
}

OcsfEvent ParseEvent(const std::string& line) {
  // The class first (leniently: the other keys are the class's own), then
  // the whole line as that class.
  int class_uid = 0;
  {
    capnp::MallocMessageBuilder message;
    auto any = message.initRoot<schema::DeviceConfigState>();
    absl::Status status = broker::DecodeReportJson(line, capnp::toDynamic(any));
    if (status.ok()) class_uid = any.getBase().getClassUid();
  }
  OcsfEvent event;
  capnp::MallocMessageBuilder message;
  switch (class_uid) {
    case 5002: {
      DecodeOrFail<schema::DeviceConfigState>(line, &message);
      auto config = message.getRoot<schema::DeviceConfigState>().asReader();
      FillBase(config.getBase(), &event);
      event.unmapped = ToUnmapped(config.getUnmapped());
      break;
    }
    case 2004: {
      DecodeOrFail<schema::DetectionFinding>(line, &message);
      auto finding = message.getRoot<schema::DetectionFinding>().asReader();
      FillBase(finding.getBase(), &event);
      auto info = finding.getFindingInfo();
      event.finding_info = {Str(info.getTitle()), Str(info.getUid()), Str(info.getDesc())};
      event.unmapped = ToUnmapped(finding.getUnmapped());
      break;
    }
    case 1007: {
      DecodeOrFail<schema::ProcessActivity>(line, &message);
      auto activity = message.getRoot<schema::ProcessActivity>().asReader();
      FillBase(activity.getBase(), &event);
      auto process = activity.getProcess();
      event.process = {process.getPid(), Str(process.getCmdLine()),
                       Str(process.getUser().getUid())};
      if (activity.hasExit()) event.exit_code = activity.getExit().getExitCode();
      event.unmapped = ToUnmapped(activity.getUnmapped());
      break;
    }
    case 4001: {
      DecodeOrFail<schema::NetworkActivity>(line, &message);
      auto activity = message.getRoot<schema::NetworkActivity>().asReader();
      FillBase(activity.getBase(), &event);
      auto endpoint = activity.getDstEndpoint();
      auto unmapped = activity.getUnmapped();
      event.connection = {Str(activity.getAction()), Str(endpoint.getHostname()),
                          Str(endpoint.getIp()),     endpoint.getPort(),
                          Str(unmapped.getRule()),   Str(unmapped.getReason()),
                          Str(unmapped.getRequest())};
      event.unmapped.mechanism = Str(unmapped.getMechanism());
      break;
    }
    default: ADD_FAILURE() << "not an OCSF event of a class tether writes: " << line;
  }
  return event;
}

}  // namespace

std::string DecodeStrictly(const std::string& json, capnp::DynamicStruct::Builder out) {
  absl::Status status = broker::DecodeReportJson(json, out);
  if (!status.ok()) return std::string(status.message()) + "\nin: " + json;
  std::string expected = json;
  if (!expected.empty() && expected.back() == '\n') expected.pop_back();
  std::string written = broker::EncodeReportJson(out.asReader());
  if (written != expected) {
    return "not exactly what broker/report.capnp writes for it\nin:    " + expected +
           "\nwrites: " + written;
  }
  return "";
}

std::string Str(capnp::Text::Reader text) { return std::string(text.cStr(), text.size()); }

std::vector<std::string> Strings(capnp::List<capnp::Text>::Reader list) {
  std::vector<std::string> out;
  for (capnp::Text::Reader text : list) out.push_back(Str(text));
  return out;
}

std::vector<uint32_t> Numbers(capnp::List<uint32_t>::Reader list) {
  std::vector<uint32_t> out;
  for (uint32_t value : list) out.push_back(value);
  return out;
}

bool Mentions(capnp::DynamicStruct::Reader value, const std::string& needle) {
  auto mentions = [&](capnp::DynamicValue::Reader member, auto& self) -> bool {
    switch (member.getType()) {
      case capnp::DynamicValue::TEXT:
        return Str(member.as<capnp::Text>()).find(needle) != std::string::npos;
      case capnp::DynamicValue::LIST:
        for (capnp::DynamicValue::Reader element : member.as<capnp::DynamicList>()) {
          if (self(element, self)) return true;
        }
        return false;
      case capnp::DynamicValue::STRUCT: {
        capnp::DynamicStruct::Reader fields = member.as<capnp::DynamicStruct>();
        for (capnp::StructSchema::Field field : fields.getSchema().getFields()) {
          if (fields.has(field) && self(fields.get(field), self)) return true;
        }
        return false;
      }
      default: return false;
    }
  };
  return mentions(value, mentions);
}

bool HasOrigin(schema::PolicyExplanation::Reader explanation, const std::string& value,
               const std::string& origin, const std::string& path) {
  for (auto entry : explanation.getOrigins()) {
    if (Str(entry.getValue()) == value && Str(entry.getOrigin()) == origin &&
        (path.empty() || Str(entry.getPath()) == path)) {
      return true;
    }
  }
  return false;
}

const MechanismRecord* PostureReport::Find(const std::string& mechanism,
                                           const std::string& action) const {
  for (const MechanismRecord& record : mechanisms) {
    if (record.mechanism == mechanism && (action.empty() || record.action == action)) {
      return &record;
    }
  }
  return nullptr;
}

const MechanismRecord* PostureReport::FindAction(const std::string& action) const {
  for (const MechanismRecord& record : mechanisms) {
    if (record.action == action) return &record;
  }
  return nullptr;
}

size_t PostureReport::CountState(const std::string& state) const {
  size_t count = 0;
  for (const MechanismRecord& record : mechanisms) count += record.state == state;
  return count;
}

bool PostureReport::Mentions(const std::string& needle) const {
  std::vector<std::string> strings = {outcome, error};
  for (const auto& [mechanism, setting] : enforcement) {
    strings.insert(strings.end(), {mechanism, setting.mode, setting.source});
  }
  for (const MechanismRecord& record : mechanisms) {
    strings.insert(strings.end(), {record.mechanism, record.action, record.state, record.reason,
                                   record.errno_name, record.evidence});
  }
  for (const std::string& text : strings) {
    if (text.find(needle) != std::string::npos) return true;
  }
  return false;
}

PostureReport ParseReport(const std::string& json) {
  capnp::MallocMessageBuilder message;
  DecodeOrFail<schema::PostureReport>(json, &message);
  auto report = message.getRoot<schema::PostureReport>().asReader();
  PostureReport out;
  out.outcome = Str(report.getOutcome());
  out.error = Str(report.getError());
  out.target = {report.getTarget().getUid(), report.getTarget().getGid(),
                Numbers(report.getTarget().getGroups())};
  out.landlock_abi = report.getLandlockAbi();
  capnp::DynamicStruct::Reader enforcement = report.getEnforcement();
  for (broker::Mechanism mechanism : broker::kRelaxableMechanisms) {
    capnp::StructSchema::Field field = broker::MechanismField(enforcement.getSchema(), mechanism);
    if (!enforcement.has(field)) continue;
    auto setting = enforcement.get(field).as<schema::EnforcementSetting>();
    out.enforcement[broker::MechanismName(mechanism)] = {Str(setting.getMode()),
                                                         Str(setting.getSource())};
  }
  for (auto record : report.getMechanisms()) {
    out.mechanisms.push_back({Str(record.getMechanism()), Str(record.getAction()),
                              Str(record.getState()), Str(record.getReason()), record.getErrno(),
                              Str(record.getErrnoName()), Str(record.getEvidence())});
  }
  if (report.hasResources()) {
    auto resources = report.getResources();
    out.cgroups = Strings(resources.getCgroups());
    for (auto limit : resources.getLimits()) {
      out.limits.push_back({Str(limit.getName()), Str(limit.getValue()), limit.getAsked(),
                            Str(limit.getVersion()), Str(limit.getSetting()), Str(limit.getState()),
                            Str(limit.getReason())});
    }
    out.timeout = Str(resources.getTimeout());
  }
  if (report.hasExit()) {
    out.exit = PostureReport::Exit{report.getExit().getStatus(), Str(report.getExit().getCause()),
                                   Str(report.getExit().getDetail())};
  }
  for (auto phase : report.getLaunch()) {
    out.launch.push_back({Str(phase.getPhase()), phase.getMicros(), Str(phase.getMeasuredBy())});
  }
  if (report.hasProbes()) out.probes = Str(report.getProbes());
  return out;
}

const PostureReport::Limit* PostureReport::FindLimit(const std::string& name) const {
  for (const Limit& limit : limits) {
    if (limit.name == name) return &limit;
  }
  return nullptr;
}

std::vector<OcsfEvent> ParseEvents(const std::string& text) {
  std::vector<OcsfEvent> events;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) events.push_back(ParseEvent(line));
  return events;
}

const OcsfEvent* FindEvent(const std::vector<OcsfEvent>& events, int class_uid,
                           const std::string& activity_name) {
  for (const OcsfEvent& event : events) {
    if (event.class_uid == class_uid && event.activity_name == activity_name) return &event;
  }
  return nullptr;
}

}  // namespace tether::testing
