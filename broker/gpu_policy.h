#ifndef TETHER_BROKER_GPU_POLICY_H_
#define TETHER_BROKER_GPU_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/default_policy.h"
#include "broker/host/gpu_devices.h"
#include "policy/policy_types.h"

namespace tether::broker {

using policy::ParseProcConflict;
using policy::ProcConflict;

struct GpuPolicyOutcome {
  std::vector<std::string> granted;  // device node paths, read-write + ioctl
  bool proc_promoted = false;
  std::string proc_note;  // why /proc is or is not writable
  bool warn = false;      // keep_user: CUDA start-up may fail
};

// Adds a discovered grant to the sandbox policy: the selected nodes as
// devices (read-write, with the ioctl right on Landlock ABI 5+), the
// driver's read-only paths, and /proc's write-file right (only that right,
// not the whole read-write set). Explicit user intent wins as `conflict`
// says; kReject refuses with an actionable message.
absl::StatusOr<GpuPolicyOutcome> ApplyGpuGrant(const GpuGrant& grant, ProcConflict conflict,
                                               bool user_lists_proc_read_only,
                                               SandboxPolicy* policy);

}  // namespace tether::broker

#endif  // TETHER_BROKER_GPU_POLICY_H_
