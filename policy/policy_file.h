#ifndef TETHER_POLICY_POLICY_FILE_H_
#define TETHER_POLICY_POLICY_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/egress.h"
#include "policy/mechanism.h"
#include "policy/policy_types.h"
#include "policy/resources.h"

namespace tether::policy {

struct RlimitEntry {
  std::string name;   // as in the policy: "nofile", ...
  int resource = 0;   // RLIMIT_*
  uint64_t soft = 0;  // RLIM_INFINITY for "unlimited"
  uint64_t hard = 0;
};

// What a policy file adds to the default policy.
struct PolicyFile {
  std::vector<std::string> read_only;
  std::vector<std::string> read_write;
  std::vector<std::string> devices;
  std::optional<std::string> user;
  std::vector<std::string> environment;
  std::vector<std::string> deny_syscalls;
  std::vector<int> allow_socket_families;  // AF_* values
  // The relaxable mechanisms the enforcement section names, in the
  // schema's order (kRelaxableMechanisms), with their modes.
  std::vector<std::pair<Mechanism, EnforcementMode>> enforcement;
  std::optional<NetworkMode> network_mode;
  std::optional<GpuSelection> gpu_devices;
  // gpu.devices as written ("void", " 0, 2"), set with gpu_devices, so that
  // `policy explain` says it back the way the user spelled it.
  std::string gpu_devices_text;
  std::optional<std::string> gpu_device_root;
  std::optional<ProcConflict> gpu_proc_conflict;
  std::optional<LandlockCompatibility> landlock_compatibility;
  std::optional<std::string> group;
  std::vector<std::string> supplementary_groups;
  std::optional<std::string> working_directory;
  std::vector<RlimitEntry> rlimits;  // "promote", "keep_user" or "reject"
  std::optional<std::string> hostname;
  std::optional<uint64_t> tmpfs_size_bytes;
  std::vector<EgressRule> egress;  // network.egress, parsed, duplicates dropped
  std::optional<int> egress_max_connections;
  std::optional<uint64_t> egress_max_bytes;
  ResourceLimits resources;
};

// Parses and validates policy JSON, every value into its type. Errors name
// the JSON path (`$.filesystem.read_only[2]`) and the problem: unknown keys,
// wrong types, relative or duplicate paths, a path both read-only and
// read-write, malformed variable names, bad modes, or GPU selections.
absl::StatusOr<PolicyFile> ParsePolicy(absl::string_view json);

absl::StatusOr<PolicyFile> LoadPolicyFile(const std::string& path);

}  // namespace tether::policy

#endif  // TETHER_POLICY_POLICY_FILE_H_
