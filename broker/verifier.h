#ifndef TETHER_BROKER_VERIFIER_H_
#define TETHER_BROKER_VERIFIER_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "broker/host/proc_status.h"
#include "broker/identity.h"
#include "ipc/messages.h"

namespace tether::broker {

// The Hello is a claim: every fact the planner uses must match the kernel's
// account in /proc/<pid>/status, or the stub is lying (or racing) and the
// run is refused.
absl::Status CheckHelloAgainstProc(const ipc::Hello& hello, const ProcStatus& proc,
                                   pid_t expected_pid);

// What the kernel must show for the stub just before exec.
struct ExpectedPosture {
  TargetIdentity target;
  std::string working_directory;
  // Best-effort steps the stub reported as tolerated: their effect is not
  // required (the report says degraded), everything else still is.
  bool bounding_set_degraded = false;
  bool identity_degraded = false;
  bool seccomp_degraded = false;
};

// Checks Uid/Gid/Groups, CapBnd/CapEff/CapPrm/CapInh/CapAmb, NoNewPrivs,
// Seccomp, the working directory and RLIMIT_CORE from /proc.
absl::Status VerifyFinalPosture(const ProcStatus& proc, const CoreLimit& core,
                                const std::string& cwd, const ExpectedPosture& expected);

}  // namespace tether::broker

#endif  // TETHER_BROKER_VERIFIER_H_
