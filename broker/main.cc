// tether: the privileged broker. `tether run` starts one sandboxed workload.

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "broker/cli.h"
#include "broker/default_policy.h"
#include "broker/exit_codes.h"
#include "broker/host_probe.h"
#include "broker/run_session.h"
#include "policy/workload_seccomp.h"
#include "policy/policy_file.h"

#ifdef TETHER_SANITIZED
// LeakSanitizer stops the world with ptrace, which the broker's own seccomp
// filter denies; sanitizer builds keep ASan and UBSan but not leak checks.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

namespace {

constexpr char kUsage[] =
    "usage: tether probe\n"
    "       tether run [--policy FILE] [--user NAME|UID[:GID]] [--report FILE]\n"
    "                  [--events FILE] [--network isolated|host|auto]\n"
    "                  [--gpus all|none|0,2]\n"
    "                  [--allow-env NAME]... [--best-effort LIST] [--stub PATH]\n"
    "                  -- CMD [ARGS...]\n"
    "LIST: all, or a comma list of network_namespace, bounding_set,\n"
    "supervisor_seccomp, workload_seccomp, landlock, privilege_drop;\n"
    "TETHER_BEST_EFFORT in the environment widens the same way.\n";

// The stub ships beside the broker binary unless --stub says otherwise.
std::string DefaultStubPath() {
  char self[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length <= 0) return "tether-stub";
  std::string path(self, length);
  return path.substr(0, path.rfind('/') + 1) + "tether-stub";
}

void Append(const std::vector<std::string>& from, std::vector<std::string>* to) {
  to->insert(to->end(), from.begin(), from.end());
}

void MergePolicyFile(const tether::policy::PolicyFile& file,
                     tether::broker::SandboxPolicy* policy) {
  Append(file.read_only, &policy->read_only);
  Append(file.read_write, &policy->read_write);
  Append(file.devices, &policy->devices);
  Append(file.environment, &policy->environment_allow);
  Append(file.deny_syscalls, &policy->extra_denied_syscalls);
}

int Run(const std::vector<std::string>& args) {
  absl::StatusOr<tether::broker::RunCommandLine> line =
      tether::broker::ParseRunCommandLine(args);
  if (!line.ok()) {
    std::fprintf(stderr, "tether run: %s\n%s",
                 std::string(line.status().message()).c_str(), kUsage);
    return tether::broker::kExitUsage;
  }
  tether::broker::RunOptions options;
  options.policy = tether::broker::DefaultPolicy();
  options.user = line->user;
  if (line->policy_path.has_value()) {
    absl::StatusOr<tether::policy::PolicyFile> file =
        tether::policy::LoadPolicyFile(*line->policy_path);
    if (!file.ok()) {
      std::fprintf(stderr, "tether: bad policy: %s\n",
                   std::string(file.status().message()).c_str());
      return tether::broker::kExitBadPolicy;
    }
    MergePolicyFile(*file, &options.policy);
    for (const auto& [name, mode_text] : file->enforcement) {
      tether::broker::Mechanism mechanism;
      tether::broker::EnforcementMode mode;
      if (tether::broker::ParseMechanism(name, &mechanism) &&
          tether::broker::ParseEnforcementMode(mode_text, &mode)) {
        options.enforcement.Set(mechanism, mode, "policy");
      }
    }
    // The command line wins over the file.
    if (!options.user.has_value()) options.user = file->user;
    if (file->network_mode.has_value() && !line->network.has_value()) {
      tether::broker::ParseNetworkMode(*file->network_mode, &options.network_mode);
    }
    if (file->gpu_devices.has_value()) {
      absl::StatusOr<tether::broker::GpuSelection> gpus =
          tether::broker::ParseGpuSelection(*file->gpu_devices);
      if (!gpus.ok()) {
        std::fprintf(stderr, "tether: bad policy: %s: $.gpu.devices: %s\n",
                     line->policy_path->c_str(), std::string(gpus.status().message()).c_str());
        return tether::broker::kExitBadPolicy;
      }
      options.gpus = *gpus;
    }
    if (file->gpu_device_root.has_value()) {
      options.gpu_discovery.device_root = *file->gpu_device_root;
    }
    if (file->gpu_proc_conflict.has_value()) {
      tether::broker::ParseProcConflict(*file->gpu_proc_conflict, &options.proc_conflict);
    }
    options.user_lists_proc_read_only =
        std::find(file->read_only.begin(), file->read_only.end(), "/proc") !=
        file->read_only.end();
    if (file->network_subnet.has_value()) {
      absl::StatusOr<tether::broker::VethAddresses> subnet =
          tether::broker::ParseVethSubnet(*file->network_subnet);
      if (!subnet.ok()) {
        std::fprintf(stderr, "tether: bad policy: %s: $.network.subnet: %s\n",
                     line->policy_path->c_str(), std::string(subnet.status().message()).c_str());
        return tether::broker::kExitBadPolicy;
      }
      options.subnet = *subnet;
    }
  }
  // The environment and the flag only widen, for outer-sandbox integrations.
  if (const char* env = std::getenv("TETHER_BEST_EFFORT"); env != nullptr) {
    absl::Status widened = options.enforcement.WidenFromList(env, "env:TETHER_BEST_EFFORT");
    if (!widened.ok()) {
      std::fprintf(stderr, "tether: %s\n", std::string(widened.message()).c_str());
      return tether::broker::kExitUsage;
    }
  }
  if (line->best_effort.has_value()) {
    absl::Status widened =
        options.enforcement.WidenFromList(*line->best_effort, "flag:--best-effort");
    if (!widened.ok()) {
      std::fprintf(stderr, "tether run: %s\n", std::string(widened.message()).c_str());
      return tether::broker::kExitUsage;
    }
  }
  for (const std::string& name : line->allow_env) {
    options.policy.environment_allow.push_back(name);
  }
  options.stub_path = line->stub_path.value_or(DefaultStubPath());
  options.report_path = line->report_path;
  options.events_path = line->events_path;
  if (line->gpus.has_value()) {
    absl::StatusOr<tether::broker::GpuSelection> gpus =
        tether::broker::ParseGpuSelection(*line->gpus);
    if (!gpus.ok()) {
      std::fprintf(stderr, "tether run: --gpus: %s\n", std::string(gpus.status().message()).c_str());
      return tether::broker::kExitUsage;
    }
    options.gpus = *gpus;
  }
  if (line->network.has_value() &&
      !tether::broker::ParseNetworkMode(*line->network, &options.network_mode)) {
    std::fprintf(stderr, "tether run: --network '%s' is not isolated, host or auto\n",
                 line->network->c_str());
    return tether::broker::kExitUsage;
  }
  options.argv = line->argv;
  tether::broker::RunSession session(std::move(options));
  return session.Run();
}

// Prints what this host and runtime allow, each with its evidence.
int Probe(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr, "tether probe: takes no arguments\n%s", kUsage);
    return tether::broker::kExitUsage;
  }
  absl::StatusOr<std::vector<struct sock_filter>> program =
      tether::policy::CompileWorkloadFilter({});
  if (!program.ok()) {
    std::fprintf(stderr, "tether probe: %s\n", std::string(program.status().message()).c_str());
    return tether::broker::kExitSetupFailed;
  }
  std::fputs(tether::broker::HostFactsToJson(tether::broker::ProbeHost(*program)).c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? tether::broker::kExitUsage : 0;
  }
  if (args[0] == "run") return Run({args.begin() + 1, args.end()});
  if (args[0] == "probe") return Probe({args.begin() + 1, args.end()});
  std::fprintf(stderr, "tether: unknown command '%s'\n%s", args[0].c_str(), kUsage);
  return tether::broker::kExitUsage;
}
