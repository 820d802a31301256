#ifndef TETHER_BROKER_RECORDER_H_
#define TETHER_BROKER_RECORDER_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "broker/enforcement.h"
#include "broker/mechanism.h"
#include "broker/planner.h"
#include "broker/report/launch_timeline.h"
#include "broker/report/ocsf_events.h"
#include "broker/report/posture_report.h"
#include "ipc/unique_fd.h"

namespace tether::broker {

// How a refused run ends: exit 125 (set-up failed), 2 (bad policy) or 64
// (bad command line or output file).
enum class ExitKind { kSetupFailed, kBadPolicy, kUsage };

// A run that cannot start, as a value: its kind, and the status, which
// carries its mechanism where it has one (MechanismOf).
struct Refusal {
  ExitKind exit = ExitKind::kSetupFailed;
  absl::Status status;
};

// Where one session's outcome goes: the posture report, the OCSF events,
// and the one line on stderr that a refusal prints.
class Recorder {
 public:
  struct Outputs {
    std::optional<std::string> report_path;  // `tether run --report`
    std::optional<std::string> events_path;  // `--events`
    int events_fd = -1;                      // serve: the server's open event log
  };

  // Opens what `outputs` names, never through a planted link
  // (output_file.h); errors name the flag.
  absl::Status Open(const Outputs& outputs);
  // Serve: reports go to <dir>/<pid>-<random>.json in this directory, an fd
  // the server checked and keeps open.
  void SetReportDirectory(int directory_fd, std::string display) {
    report_dir_fd_ = directory_fd;
    report_dir_display_ = std::move(display);
  }

  // Every report written from here on carries this timeline's phases as
  // they stand then (`launch`); it must outlive the recorder.
  void SetLaunchTimeline(const LaunchTimeline* timeline) { timeline_ = timeline; }

  PostureReport& report() { return report_; }
  OcsfEventLog* events() { return events_.has_value() ? &*events_ : nullptr; }

  // Records the plan, then what must follow its steps (e.g. the GPU grant:
  // the stub's results are indexed by step).
  void SetPlan(const Plan& plan);
  void RecordAfterPlan(MechanismRecord record) { after_plan_.push_back(std::move(record)); }
  // What the broker set up before the stub ran (namespaces, the filesystem
  // view): in the report at once, and after the plan's steps once there is
  // a plan.
  void RecordSetup(MechanismRecord record) {
    report_.mechanisms.push_back(record);
    setup_.push_back(std::move(record));
  }

  // Writes the report as it stands. In a serve report directory the file
  // is made only for a stub that sent a Hello, so that connections that say
  // nothing leave nothing behind.
  void WriteReport(pid_t stub_pid, bool hello_received);
  // Degraded, Detection Finding and Created events for a verified posture.
  void EmitPostureEvents();

  struct RefusalContext {
    pid_t stub_pid = 0;
    bool sidecar = false;
    bool hello_received = false;
    int interrupted_by = 0;  // a forwarded signal that ended set-up
    const Enforcement* enforcement = nullptr;
  };
  // Reports and prints a refusal and returns the exit status it means.
  int Refuse(const Refusal& refusal, const RefusalContext& context);

 private:
  PostureReport report_;
  std::vector<MechanismRecord> setup_;
  std::vector<MechanismRecord> after_plan_;
  UniqueFd report_fd_;
  std::string report_display_;
  int report_dir_fd_ = -1;
  std::string report_dir_display_;
  const LaunchTimeline* timeline_ = nullptr;
  std::optional<OcsfEventLog> events_;
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_RECORDER_H_
