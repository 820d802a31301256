#include "broker/default_policy.h"

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace tether::broker {

SandboxPolicy DefaultPolicy() {
  SandboxPolicy policy;
  policy.read_only = {"/usr",
                      "/lib",
                      "/lib32",
                      "/lib64",
                      "/libx32",
                      "/bin",
                      "/sbin",
                      "/etc",
                      "/opt",
                      "/proc",
                      "/sys/devices/system/cpu"};
  policy.read_write = {"/tmp", "/dev/shm"};
  policy.devices = {"/dev/null",   "/dev/zero",    "/dev/full",
                    "/dev/random", "/dev/urandom", "/dev/tty"};
  policy.environment_allow = {"PATH", "TERM",     "COLORTERM", "NO_COLOR",
                              "LANG", "LANGUAGE", "LC_*",      "TZ"};
  return policy;
}

std::vector<std::string> FilterEnvironment(char** environment,
                                           const std::vector<std::string>& allow) {
  std::vector<std::string> variables;
  for (char** entry = environment; entry != nullptr && *entry != nullptr; ++entry) {
    variables.emplace_back(*entry);
  }
  return FilterEnvironment(variables, allow);
}

std::vector<std::string> FilterEnvironment(const std::vector<std::string>& environment,
                                           const std::vector<std::string>& allow) {
  std::vector<std::string> kept;
  bool have_path = false;
  for (const std::string& entry : environment) {
    absl::string_view var(entry);
    size_t equals = var.find('=');
    if (equals == absl::string_view::npos || equals == 0) continue;
    absl::string_view name = var.substr(0, equals);
    for (const std::string& allowed : allow) {
      bool match =
          absl::EndsWith(allowed, "*")
              ? absl::StartsWith(name, absl::string_view(allowed).substr(0, allowed.size() - 1))
              : name == allowed;
      if (match) {
        kept.emplace_back(var);
        have_path = have_path || name == "PATH";
        break;
      }
    }
  }
  if (!have_path) kept.emplace_back("PATH=/usr/local/bin:/usr/bin:/bin");
  return kept;
}

}  // namespace tether::broker
