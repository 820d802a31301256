#ifndef TETHER_POLICY_POLICY_TYPES_H_
#define TETHER_POLICY_POLICY_TYPES_H_

// The small value types a policy file decides, parsed once from their text
// (policy_file.cc) and used as values by the broker.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::policy {

// How the workload's network is set up.
enum class NetworkMode { kIsolated, kHost, kAuto };
const char* NetworkModeName(NetworkMode mode);
// Parses "isolated", "host" or "auto".
bool ParseNetworkMode(absl::string_view text, NetworkMode* mode);

enum class EnforcementMode { kStrict, kBestEffort };
const char* EnforcementModeName(EnforcementMode mode);
// Parses "strict" or "best_effort".
bool ParseEnforcementMode(absl::string_view text, EnforcementMode* mode);

// filesystem.landlock_compatibility: whether the kernel must enforce every
// right the policy relies on (Landlock strict) or not (best effort).
enum class LandlockCompatibility { kHardRequirement, kBestEffort };
const char* LandlockCompatibilityName(LandlockCompatibility compatibility);
// Parses "hard_requirement" or "best_effort".
bool ParseLandlockCompatibility(absl::string_view text, LandlockCompatibility* compatibility);

// What happens when the user's policy keeps /proc read-only but GPUs are
// requested (CUDA writes /proc/<pid>/task/<tid>/comm at start-up).
enum class ProcConflict { kPromote, kKeepUser, kReject };
const char* ProcConflictName(ProcConflict conflict);
// Parses "promote", "keep_user" or "reject".
bool ParseProcConflict(absl::string_view text, ProcConflict* conflict);

// Which GPUs a workload asked for. "none" is !all && indexes.empty().
struct GpuSelection {
  bool all = false;
  std::vector<int> indexes;  // in the order given
};

// The highest /dev/nvidiaN index: minors 254 and 255 are nvidia-modeset and
// nvidiactl on the same major.
inline constexpr int kMaxGpuIndex = 253;

// Parses the NVIDIA_VISIBLE_DEVICES syntax: "all", "none" (or "void"), or a
// comma list of decimal indexes "0,2". UUIDs and MIG names are not accepted
// because the broker grants whole /dev/nvidiaN nodes. Errors name the bad
// token; a duplicate index is an error.
absl::StatusOr<GpuSelection> ParseGpuSelection(absl::string_view text);

// "ADDRESS/PREFIX", for `address` in host byte order.
std::string FormatIpv4Cidr(uint32_t address, int prefix_length);

// One address with its prefix length, "10.0.0.1/30": four decimal octets
// only (no "10.1", hex or octal), a prefix from 0 to 32.
struct Ipv4Cidr {
  uint32_t address = 0;  // host byte order
  int prefix = 0;
};
absl::StatusOr<Ipv4Cidr> ParseIpv4Cidr(absl::string_view text);
// The mask of a prefix length: 30 -> 0xfffffffc.
uint32_t Netmask(int prefix);

// A size in bytes: "4096", "64k", "256m" or "2g" (binary units), from one
// page to 1 TiB. The error names the text and says what is accepted.
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

}  // namespace tether::policy

#endif  // TETHER_POLICY_POLICY_TYPES_H_
