#ifndef TETHER_BROKER_IDENTITY_H_
#define TETHER_BROKER_IDENTITY_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tether::broker {

// The uid, gid and supplementary groups the workload runs with.
struct TargetIdentity {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;
};

inline constexpr uint32_t kNobody = 65534;

// Resolves `--user NAME|UID[:GID]`. Without the flag: nobody (65534:65534,
// no groups) for a root broker, the broker's own identity otherwise. A
// target uid of 0 is refused: the workload never runs as root.
absl::StatusOr<TargetIdentity> ResolveTargetIdentity(const std::optional<std::string>& user_flag,
                                                     uid_t broker_uid, gid_t broker_gid,
                                                     const std::vector<uint32_t>& broker_groups);

// Applies the policy's `process.group` (overrides the primary gid) and
// `process.supplementary_groups`; each is a number or a group name. Gid 0 is
// refused like uid 0.
absl::Status ApplyGroups(const std::optional<std::string>& group,
                         const std::vector<std::string>& supplementary, TargetIdentity* target);

}  // namespace tether::broker

#endif  // TETHER_BROKER_IDENTITY_H_
