#ifndef TETHER_BROKER_OCSF_EVENTS_H_
#define TETHER_BROKER_OCSF_EVENTS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/mechanism.h"
#include "ipc/unique_fd.h"

namespace tether::broker {

inline constexpr char kOcsfVersion[] = "1.1.0";
inline constexpr char kProductVersion[] = "0.1.0";

// OCSF 1.x classes tether emits.
inline constexpr int kClassProcessActivity = 1007;    // category 1, System Activity
inline constexpr int kClassDetectionFinding = 2004;   // category 2, Findings
inline constexpr int kClassNetworkActivity = 4001;    // category 4, Network Activity
inline constexpr int kClassDeviceConfigState = 5002;  // category 5, Discovery

enum class Severity { kInformational = 1, kLow = 2, kMedium = 3, kHigh = 4 };

// Appends one OCSF event per line (JSON, broker/report.capnp's
// DeviceConfigState, DetectionFinding and ProcessActivity) to a file. Each
// event carries class/category/type/activity ids, severity, time, message
// and metadata, plus the mechanism and errno in `unmapped`.
class OcsfEventLog {
 public:
  // Opens (or creates, mode 0600) `path` for appending; a symlink or a file
  // linked or owned elsewhere is an error (broker/output_file.h).
  static absl::StatusOr<OcsfEventLog> Open(const std::string& path);
  // Another writer on an already open log (serve: one log, many sessions).
  static absl::StatusOr<OcsfEventLog> Share(int fd);
  int fd() const { return fd_.get(); }
  OcsfEventLog(OcsfEventLog&&) = default;

  // A configuration state change: "Validated", "Created" or "Degraded".
  void ConfigState(const std::string& state, Severity severity, const std::string& message,
                   Mechanism mechanism, int errno_value, const std::string& evidence);
  // Lost confinement: what is missing and what the workload still relies on.
  void DetectionFinding(const std::string& title, const std::string& message, Mechanism mechanism,
                        int errno_value, const std::vector<Mechanism>& still_enforced);
  void ProcessLaunch(pid_t pid, const std::vector<std::string>& argv, uint32_t uid);
  void ProcessExit(pid_t pid, int exit_code);

  // One connection the egress proxy was asked for and what it decided.
  struct Connection {
    enum class Outcome { kOpened, kDenied, kFailed };
    Outcome outcome;
    std::string request;  // "CONNECT" or the HTTP method
    std::string host;     // as asked for
    int port = 0;
    std::string address;  // the address chosen; empty when none
    std::string rule;     // the allow-list entry that decided; empty: none
    std::string reason;
  };
  void NetworkConnection(const Connection& connection);

 private:
  explicit OcsfEventLog(UniqueFd fd) : fd_(std::move(fd)) {}
  void Write(const std::string& line);
  UniqueFd fd_;
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_OCSF_EVENTS_H_
