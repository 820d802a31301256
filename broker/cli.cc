#include "broker/cli.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "broker/working_directory.h"

namespace tether::broker {

std::optional<std::string>* ResourceFlags::Find(const std::string& name) {
  if (name == "--memory") return &memory;
  if (name == "--memory-swap") return &memory_swap;
  if (name == "--pids") return &pids;
  if (name == "--cpus") return &cpus;
  if (name == "--timeout") return &timeout;
  return nullptr;
}

absl::Status ApplyResourceFlags(const ResourceFlags& flags, policy::ResourceLimits* limits) {
  policy::ResourceLimits updated = *limits;
  const std::pair<const char*, const std::optional<std::string>*> kFlags[] = {
      {"memory", &flags.memory},
      {"memory_swap", &flags.memory_swap},
      {"pids", &flags.pids},
      {"cpus", &flags.cpus},
      {"timeout", &flags.timeout}};
  for (const auto& [key, value] : kFlags) {
    if (!value->has_value()) continue;
    if (absl::Status set = policy::SetResourceLimit(key, **value, &updated); !set.ok()) {
      std::string flag = absl::StrCat("--", key);
      std::replace(flag.begin(), flag.end(), '_', '-');
      return absl::InvalidArgumentError(absl::StrCat(flag, ": ", set.message()));
    }
  }
  *limits = updated;
  return absl::OkStatus();
}

absl::StatusOr<RunCommandLine> ParseRunCommandLine(const std::vector<std::string>& args) {
  RunCommandLine line;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "': put the command after '--'"));
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (size_t equals = arg.find('='); equals != std::string::npos) {
      name = arg.substr(0, equals);
      value = arg.substr(equals + 1);
    }
    std::optional<std::string>* single = nullptr;
    if (name == "--policy")
      single = &line.policy_path;
    else if (name == "--user")
      single = &line.user;
    else if (name == "--report")
      single = &line.report_path;
    else if (name == "--stub")
      single = &line.stub_path;
    else if (name == "--best-effort")
      single = &line.best_effort;
    else if (name == "--events")
      single = &line.events_path;
    else if (name == "--network")
      single = &line.network;
    else if (name == "--gpus")
      single = &line.gpus;
    else
      single = line.resources.Find(name);
    std::vector<std::string>* repeated = nullptr;
    if (name == "--allow-env")
      repeated = &line.allow_env;
    else if (name == "--read-only")
      repeated = &line.read_only;
    else if (name == "--read-write")
      repeated = &line.read_write;
    else if (name == "--allow-net")
      repeated = &line.allow_net;
    if (single == nullptr && repeated == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", name));
    }
    if (!value.has_value()) {
      if (i + 1 >= args.size() || args[i + 1] == "--") {
        return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
      }
      value = args[++i];
    }
    if (value->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name, " needs a non-empty value"));
    }
    if (repeated == &line.allow_env && value->find_first_of("=\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--allow-env '", *value, "' is not a variable name"));
    }
    bool path_flag = repeated == &line.read_only || repeated == &line.read_write;
    if (path_flag && ((*value)[0] != '/' || absl::StrContains(*value, "/../") ||
                      absl::EndsWith(*value, "/.."))) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " '", *value, "' is not an absolute path without '..'"));
    }
    if (repeated != nullptr) {
      repeated->push_back(*value);
      continue;
    }
    if (single->has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(name, " given twice"));
    }
    *single = *value;
  }
  // A path both read-only and read-write contradicts itself, as in a policy.
  for (const std::string& read_only : line.read_only) {
    for (const std::string& read_write : line.read_write) {
      if (NormalizeLexically(read_only) == NormalizeLexically(read_write)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--read-only '", read_only, "' and --read-write '", read_write, "' name one path"));
      }
    }
  }
  line.argv.assign(args.begin() + i, args.end());
  if (line.argv.empty()) {
    return absl::InvalidArgumentError("no command given: tether run [flags] -- CMD [ARGS...]");
  }
  return line;
}

}  // namespace tether::broker
