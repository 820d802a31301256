#ifndef TETHER_BROKER_POSTURE_REPORT_H_
#define TETHER_BROKER_POSTURE_REPORT_H_

#include <string>
#include <vector>

#include "broker/enforcement.h"
#include "broker/identity.h"
#include "broker/mechanism.h"
#include "broker/planner.h"
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


struct PostureReport {
  std::string outcome;   // "running" or "refused"
  std::string error;     // why it was refused
  TargetIdentity target;
  std::vector<MechanismRecord> mechanisms;
  int landlock_abi = 0;
  Enforcement enforcement;

  // Records a plan; every step starts as not reached, and the mechanisms it
  // left out are recorded with their reason.
  void SetPlan(const Plan& plan);
  // Records the stub's result for step `index`.
  void RecordResult(const ipc::StepResult& result);
  // After the final check of /proc passed: attested steps that /proc shows
  // become verified.
  void MarkVerified();

  std::string ToJson() const;
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_POSTURE_REPORT_H_
