#ifndef TETHER_TESTS_SUPPORT_REPORT_JSON_H_
#define TETHER_TESTS_SUPPORT_REPORT_JSON_H_

// What tether writes as JSON, as tests read it: decoded through
// broker/report.capnp, the schema it is written with, never searched as
// text.
//
// Decoding is strict: the text must be exactly what tether's encoder writes
// for the decoded value, so a key that is missing, renamed, extra or out of
// order, or a value of the wrong type, fails the test that reads it (a
// gtest failure naming the text); every number and boolean of the schema is
// then known to be present, and null where an errno is null.

#include <capnp/dynamic.h>
#include <capnp/message.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/report/report.capnp.h"

namespace tether::testing {

namespace schema = broker::schema;

// Decodes `json` into `out`; an empty string, or why not.
std::string DecodeStrictly(const std::string& json, capnp::DynamicStruct::Builder out);

// `tether probe` or `tether policy explain` output, decoded as a T of
// broker/report.capnp; an empty T after a failure.
template <typename T>
class Decoded {
 public:
  explicit Decoded(const std::string& json)
      : message_(std::make_unique<capnp::MallocMessageBuilder>()) {
    error_ = DecodeStrictly(json, capnp::toDynamic(message_->initRoot<T>()));
  }
  typename T::Reader get() const { return message_->getRoot<T>().asReader(); }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  std::unique_ptr<capnp::MallocMessageBuilder> message_;
  std::string error_;
};

std::string Str(capnp::Text::Reader text);
std::vector<std::string> Strings(capnp::List<capnp::Text>::Reader list);
std::vector<uint32_t> Numbers(capnp::List<uint32_t>::Reader list);

// Whether any string in `value`, however deep, contains `needle`.
bool Mentions(capnp::DynamicStruct::Reader value, const std::string& needle);

// Whether `tether policy explain` says `value` has `origin` (at `path`,
// unless it is empty).
bool HasOrigin(schema::PolicyExplanation::Reader explanation, const std::string& value,
               const std::string& origin, const std::string& path = "");

// The posture report (`run --report`, `serve --report-dir`).
struct MechanismRecord {
  std::string mechanism;
  std::string action;
  std::string state;
  std::string reason;
  int errno_value = 0;     // 0: "errno" is null
  std::string errno_name;  // empty: absent
  std::string evidence;
};

struct PostureReport {
  struct Target {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> groups;
  };
  struct Setting {
    std::string mode;
    std::string source;
  };

  struct Limit {
    std::string name;
    std::string value;
    bool asked = false;
    std::string version;
    std::string setting;
    std::string state;
    std::string reason;
  };
  struct Exit {
    int status = 0;
    std::string cause;
    std::string detail;
  };

  std::string outcome;
  std::string error;  // empty: absent
  Target target;
  int landlock_abi = 0;
  std::map<std::string, Setting> enforcement;  // by mechanism name
  std::vector<MechanismRecord> mechanisms;
  std::vector<std::string> cgroups;  // resources.cgroups
  std::vector<Limit> limits;         // resources.limits
  std::string timeout;               // resources.timeout; empty: absent
  std::optional<Exit> exit;
  struct Phase {
    std::string phase;
    uint32_t micros = 0;
    std::string measured_by;
  };
  std::vector<Phase> launch;
  std::string probes;  // where the host facts came from; empty: absent

  // The limit named `name`, or nullptr.
  const Limit* FindLimit(const std::string& name) const;
  // The first record of `mechanism` (and of `action`, unless it is empty),
  // or nullptr.
  const MechanismRecord* Find(const std::string& mechanism, const std::string& action = "") const;
  // The first record of `action`, whatever its mechanism, or nullptr.
  const MechanismRecord* FindAction(const std::string& action) const;
  // How many records are in `state`.
  size_t CountState(const std::string& state) const;
  // Whether any string of the report contains `needle`.
  bool Mentions(const std::string& needle) const;
};

PostureReport ParseReport(const std::string& json);

// One OCSF event (`--events`, one per line), whatever its class: the fields
// every class has, and those of its own class (the others stay empty).
struct OcsfEvent {
  struct Product {
    std::string name;
    std::string vendor_name;
    std::string version;
  };
  struct Metadata {
    std::string version;
    Product product;
  };
  struct Unmapped {
    std::string mechanism;
    int errno_value = 0;     // 0: "errno" is null
    std::string errno_name;  // empty: absent
    std::string evidence;    // empty: absent
  };
  struct FindingInfo {
    std::string title;
    std::string uid;
    std::string desc;
  };
  struct Process {
    int pid = 0;
    std::string cmd_line;
    std::string user_uid;
  };
  struct Connection {  // Network Activity (4001)
    std::string action;
    std::string hostname;
    std::string ip;
    int port = 0;
    std::string rule;
    std::string reason;
    std::string request;
  };

  int class_uid = 0;
  std::string class_name;
  int category_uid = 0;
  std::string category_name;
  int activity_id = 0;
  std::string activity_name;
  int type_uid = 0;
  int severity_id = 0;
  std::string severity;
  int64_t time = 0;
  std::string message;
  Metadata metadata;
  FindingInfo finding_info;      // Detection Finding (2004)
  Process process;               // Process Activity (1007)
  std::optional<int> exit_code;  // Process Activity, Terminate
  Connection connection;         // Network Activity (4001)
  Unmapped unmapped;
};

// Every line of an event log; a line of an unknown class is a failure.
std::vector<OcsfEvent> ParseEvents(const std::string& text);

// The first event of `class_uid` named `activity_name`, or nullptr.
const OcsfEvent* FindEvent(const std::vector<OcsfEvent>& events, int class_uid,
                           const std::string& activity_name);

}  // namespace tether::testing

#endif  // TETHER_TESTS_SUPPORT_REPORT_JSON_H_
