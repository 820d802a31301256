#include "broker/report/recorder.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "broker/exit_codes.h"
#include "broker/report/output_file.h"

namespace tether::broker {

absl::Status Recorder::Open(const Outputs& outputs) {
  if (outputs.report_path.has_value()) {
    absl::StatusOr<UniqueFd> report = OpenOutputFile(*outputs.report_path, OutputMode::kTruncate);
    if (!report.ok()) return Annotate(report.status(), "--report");
    report_fd_ = std::move(*report);
    report_display_ = *outputs.report_path;
  }
  if (outputs.events_fd >= 0) {
    ASSIGN_OR_RETURN(OcsfEventLog shared, OcsfEventLog::Share(outputs.events_fd));
    events_.emplace(std::move(shared));
  } else if (outputs.events_path.has_value()) {
    absl::StatusOr<OcsfEventLog> opened = OcsfEventLog::Open(*outputs.events_path);
    if (!opened.ok()) return Annotate(opened.status(), "--events");
    events_.emplace(std::move(*opened));
  }
  return absl::OkStatus();
}

void Recorder::SetPlan(const Plan& plan) {
  report_.SetPlan(plan);
  for (const MechanismRecord& record : setup_) report_.mechanisms.push_back(record);
  for (const MechanismRecord& record : after_plan_) report_.mechanisms.push_back(record);
}

void Recorder::WriteReport(pid_t stub_pid, bool hello_received) {
  bool into_directory = !report_fd_.valid() && report_dir_fd_ >= 0 && hello_received;
  // Encoding the report costs more than the rest of a sidecar's handshake:
  // only for somewhere to write it.
  if (!report_fd_.valid() && !into_directory) return;
  if (timeline_ != nullptr) report_.launch = timeline_->phases();
  std::string json = report_.ToJson();
  if (into_directory) {
    // Written under a hidden name, then renamed: a reader of the directory
    // sees a whole report or none.
    absl::StatusOr<std::string> name = UnpredictableReportName(stub_pid);
    std::string display = absl::StrCat(report_dir_display_, "/", name.ok() ? *name : "?");
    absl::StatusOr<UniqueFd> report =
        name.ok() ? OpenOutputFileAt(report_dir_fd_, "." + *name, OutputMode::kTruncate, display)
                  : absl::StatusOr<UniqueFd>(name.status());
    absl::Status written =
        report.ok() ? ReplaceContent(report->get(), json, display) : report.status();
    if (written.ok() &&
        renameat(report_dir_fd_, ("." + *name).c_str(), report_dir_fd_, name->c_str()) != 0) {
      written = ErrnoStatus(errno, absl::StrCat("rename(", display, ")"));
    }
    if (!written.ok() && report.ok()) {
      // Never renamed into view, it would stay behind, empty or part
      // written (or whole, when only the rename failed: not a report anyone
      // would be told of). Its name has the stub's pid and 64 random bits.
      unlinkat(report_dir_fd_, ("." + *name).c_str(), 0);
    }
    if (!written.ok()) {
      std::fprintf(stderr, "tether: no report for stub pid %d: %s\n", stub_pid,
                   std::string(written.message()).c_str());
      return;
    }
    report_fd_ = std::move(*report);
    report_display_ = display;
    return;
  }
  if (!report_fd_.valid()) return;
  absl::Status written = ReplaceContent(report_fd_.get(), json, report_display_);
  if (!written.ok()) {
    std::fprintf(stderr, "tether: cannot write the report: %s\n",
                 std::string(written.message()).c_str());
  }
}

void Recorder::EmitPostureEvents() {
  if (!events_.has_value()) return;
  // What still confines a workload whose bounding set stays: in this order.
  std::vector<Mechanism> enforced;
  for (const MechanismRecord& record : report_.mechanisms) {
    bool confines = record.mechanism == Mechanism::kLandlock ||
                    record.mechanism == Mechanism::kWorkloadSeccomp ||
                    record.mechanism == Mechanism::kNoNewPrivs ||
                    record.mechanism == Mechanism::kPrivilegeDrop;
    if (record.state == MechanismState::kEnforced && confines &&
        std::find(enforced.begin(), enforced.end(), record.mechanism) == enforced.end()) {
      enforced.push_back(record.mechanism);
    }
  }
  bool degraded = false;
  for (const MechanismRecord& record : report_.mechanisms) {
    if (record.state != MechanismState::kDegraded && record.state != MechanismState::kUnavailable) {
      continue;
    }
    degraded = true;
    events_->ConfigState("Degraded", Severity::kMedium,
                         absl::StrCat(MechanismName(record.mechanism), " ",
                                      MechanismStateName(record.state), ": ", record.reason),
                         record.mechanism, record.errno_value, record.reason);
    if (record.mechanism == Mechanism::kBoundingSet) {
      // Truthful about what is left: Landlock may be degraded too.
      events_->DetectionFinding(
          "capability bounding set not cleared",
          "the workload runs with a non-empty capability bounding set; exec of a "
          "file with capabilities is still blocked only by what remains enforced",
          record.mechanism, record.errno_value, enforced);
    }
  }
  events_->ConfigState("Created", Severity::kInformational,
                       degraded ? "sandbox posture verified with degraded mechanisms"
                                : "sandbox posture verified: every mechanism enforced",
                       Mechanism::kPosture, 0, "");
}

int Recorder::Refuse(const Refusal& refusal, const RefusalContext& context) {
  const absl::Status& status = refusal.status;
  if (refusal.exit == ExitKind::kBadPolicy) {
    // The policy contradicts itself: nothing was set up yet.
    std::fprintf(stderr, "tether: bad policy: %s\n", std::string(status.message()).c_str());
    return kExitBadPolicy;
  }
  if (refusal.exit == ExitKind::kUsage) {
    std::fprintf(stderr, "tether: %s\n", std::string(status.message()).c_str());
    return kExitUsage;
  }
  report_.outcome = "refused";
  report_.error = std::string(status.message());
  WriteReport(context.stub_pid, context.hello_received);
  if (events_.has_value()) {
    events_->ConfigState("Refused", Severity::kHigh,
                         absl::StrCat("sandbox set-up refused: ", status.message()),
                         Mechanism::kSetup, 0, "");
    if (context.sidecar) {
      // A stub elsewhere failed the handshake: possibly hostile.
      events_->DetectionFinding("sidecar stub dropped",
                                absl::StrCat("stub pid ", context.stub_pid, ": ", status.message()),
                                Mechanism::kSidecar, 0, {});
    }
  }
  if (context.interrupted_by != 0) {
    std::fprintf(stderr, "tether: %s\n", std::string(status.message()).c_str());
    return 128 + context.interrupted_by;
  }
  // A strict refusal of a mechanism the policy may relax says how.
  std::string hint;
  std::optional<Mechanism> mechanism = MechanismOf(status);
  // A refused user namespace says itself what to relax: that one alone
  // would leave the other namespaces to refuse next.
  if (mechanism.has_value() && InfoOf(*mechanism).relaxable && context.enforcement != nullptr &&
      !context.enforcement->best_effort(*mechanism) && *mechanism != Mechanism::kUserNamespace) {
    hint = absl::StrCat(" (to run without it: --best-effort ", MechanismName(*mechanism),
                        ", or enforcement.", MechanismName(*mechanism),
                        " = \"best_effort\" in the policy)");
  }
  std::fprintf(stderr, "tether: sandbox set-up failed: %s%s\n",
               std::string(status.message()).c_str(), hint.c_str());
  return kExitSetupFailed;
}

}  // namespace tether::broker
