#ifndef TETHER_BROKER_CLI_H_
#define TETHER_BROKER_CLI_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/resources.h"

namespace tether::broker {

// --memory, --memory-swap, --pids, --cpus and --timeout, as written.
struct ResourceFlags {
  std::optional<std::string> memory;
  std::optional<std::string> memory_swap;
  std::optional<std::string> pids;
  std::optional<std::string> cpus;
  std::optional<std::string> timeout;

  // The flag's field for `name` ("--memory"), or nullptr.
  std::optional<std::string>* Find(const std::string& name);
};

// The flags over the policy's limits; an error names the flag and the
// value. Nothing changes on error.
absl::Status ApplyResourceFlags(const ResourceFlags& flags, policy::ResourceLimits* limits);

// `tether run [flags] -- CMD [ARGS...]`, parsed but not yet acted on.
struct RunCommandLine {
  std::optional<std::string> policy_path;
  std::optional<std::string> user;
  std::optional<std::string> report_path;
  std::optional<std::string> stub_path;
  std::optional<std::string> best_effort;
  std::optional<std::string> events_path;
  std::optional<std::string> network;
  std::optional<std::string> gpus;
  std::vector<std::string> allow_env;
  // Host paths added to the policy's lists (and so bound into the view).
  std::vector<std::string> read_only;
  std::vector<std::string> read_write;
  std::vector<std::string> allow_net;  // egress destinations, as written
  ResourceFlags resources;
  std::vector<std::string> argv;
};

// Errors name the flag and what is wrong with it.
absl::StatusOr<RunCommandLine> ParseRunCommandLine(const std::vector<std::string>& args);

}  // namespace tether::broker

#endif  // TETHER_BROKER_CLI_H_
