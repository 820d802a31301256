#include "broker/gpu_policy.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tether::broker {

absl::StatusOr<GpuPolicyOutcome> ApplyGpuGrant(const GpuGrant& grant, ProcConflict conflict,
                                               bool user_lists_proc_read_only,
                                               SandboxPolicy* policy) {
  GpuPolicyOutcome outcome;
  if (grant.nodes.empty()) return outcome;
  if (user_lists_proc_read_only && conflict == ProcConflict::kReject) {
    return absl::InvalidArgumentError(
        "$.filesystem.read_only lists /proc, but the requested GPUs need to write "
        "/proc/<pid>/task/<tid>/comm (CUDA start-up): remove /proc from "
        "filesystem.read_only, or set gpu.proc_conflict to \"promote\" or \"keep_user\"");
  }
  for (const GpuDeviceNode& node : grant.nodes) {
    policy->devices.push_back(node.path);
    outcome.granted.push_back(node.path);
  }
  for (const std::string& path : grant.read_only_paths) policy->read_only.push_back(path);
  if (user_lists_proc_read_only && conflict == ProcConflict::kKeepUser) {
    outcome.warn = true;
    outcome.proc_note =
        "kept read-only as the policy says (gpu.proc_conflict keep_user): CUDA start-up may "
        "fail writing /proc/<pid>/task/<tid>/comm";
    return outcome;
  }
  policy->write_file.push_back("/proc");
  outcome.proc_promoted = true;
  outcome.proc_note = user_lists_proc_read_only
                          ? "promoted over the policy's read-only /proc (gpu.proc_conflict "
                            "promote): the write-file right only, for CUDA's comm writes, on "
                            "the sandbox's own procfs only (its pid namespace's, not the host's)"
                          : "baseline read-only /proc promoted to the write-file right only, "
                            "for CUDA's /proc/<pid>/task/<tid>/comm writes, on the sandbox's "
                            "own procfs only (its pid namespace's, not the host's)";
  return outcome;
}

}  // namespace tether::broker
