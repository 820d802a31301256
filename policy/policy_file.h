#ifndef TETHER_POLICY_POLICY_FILE_H_
#define TETHER_POLICY_POLICY_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::policy {

struct RlimitEntry {
  std::string name;    // as in the policy: "nofile", ...
  int resource = 0;    // RLIMIT_*
  uint64_t soft = 0;   // RLIM_INFINITY for "unlimited"
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
  // Mechanism name -> "strict" or "best_effort", for the keys present.
  std::vector<std::pair<std::string, std::string>> enforcement;
  std::optional<std::string> network_mode;    // "isolated", "host" or "auto"
  std::optional<std::string> network_subnet;
  std::optional<std::string> gpu_devices;
  std::optional<std::string> gpu_device_root;
  std::optional<std::string> gpu_proc_conflict;
  std::optional<std::string> landlock_compatibility;  // "best_effort" or "hard_requirement"
  std::optional<std::string> group;
  std::vector<std::string> supplementary_groups;
  std::optional<std::string> working_directory;
  std::vector<RlimitEntry> rlimits;  // "promote", "keep_user" or "reject"
};

// Parses and validates policy JSON. Errors name the JSON path
// (`$.filesystem.read_only[2]`) and the problem: unknown keys, wrong types,
// relative or duplicate paths, a path both read-only and read-write,
// malformed variable names.
absl::StatusOr<PolicyFile> ParsePolicy(absl::string_view json);

absl::StatusOr<PolicyFile> LoadPolicyFile(const std::string& path);

}  // namespace tether::policy

#endif  // TETHER_POLICY_POLICY_FILE_H_
