#ifndef TETHER_BROKER_POLICY_OPTIONS_H_
#define TETHER_BROKER_POLICY_OPTIONS_H_

#include <string>

#include "absl/status/status.h"
#include "broker/run_session.h"
#include "policy/policy_file.h"

namespace tether::broker {

// Applies what a policy file decides onto `options` (which start from the
// defaults): the file's values, already parsed and checked by ParsePolicy,
// merged in. What only the host can say is checked here: a path the policy
// names must exist where Landlock is a hard requirement; errors name the
// JSON path. Nothing is applied on error.
absl::Status ApplyPolicyFile(const policy::PolicyFile& file, RunOptions* options);

// `tether policy explain`: the effective policy after baselines, GPU
// enrichment and promotion, as JSON with every entry's origin (`user`,
// `baseline`, `gpu-baseline`, `promoted`) and what the running kernel's
// Landlock ABI enforces. Its `effective` object is itself a valid policy
// file that explains to the same effective policy.
absl::StatusOr<std::string> ExplainPolicy(const policy::PolicyFile& file, const RunOptions& options,
                                          int landlock_abi);

}  // namespace tether::broker

#endif  // TETHER_BROKER_POLICY_OPTIONS_H_
