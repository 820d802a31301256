// tether: the privileged broker. `tether run` starts one sandboxed workload;
// `tether probe` says what this host allows; `tether policy` checks and
// explains policy files.

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "base/files.h"
#include "broker/cache/compiled_filters.h"
#include "broker/cli.h"
#include "broker/default_policy.h"
#include "broker/exit_codes.h"
#include "broker/host/host_probe.h"
#include "broker/host/proc_status.h"
#include "broker/policy_options.h"
#include "broker/report/launch_timeline.h"
#include "broker/run_session.h"
#include "broker/serve.h"
#include "kernel/landlock.h"
#include "policy/policy_file.h"
#include "policy/workload_seccomp.h"

#ifdef TETHER_SANITIZED
// LeakSanitizer stops the world with ptrace, which the broker's own seccomp
// filter denies; sanitizer builds keep ASan and UBSan but not leak checks.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

namespace {

using tether::broker::kExitBadPolicy;
using tether::broker::kExitSetupFailed;
using tether::broker::kExitUsage;

constexpr char kUsage[] =
    "usage: tether probe [--fresh]\n"
    "       tether policy check FILE\n"
    "       tether policy explain FILE [--gpus all|none|0,2]\n"
    "       tether serve --socket PATH [--policy FILE] [--allow-uid UID,...]\n"
    "                    [--report-dir DIR] [--events FILE] [--network MODE]\n"
    "                    [--token-file F] [--handshake-timeout SECONDS] [--pool N]\n"
    "                    [--max-sessions N] [--max-pending-per-uid N]\n"
    "                    [--allow-net DEST]... [LIMITS] [--best-effort LIST]\n"
    "       tether run [--policy FILE] [--user NAME|UID[:GID]] [--report FILE]\n"
    "                  [--events FILE] [--network isolated|host|auto]\n"
    "                  [--gpus all|none|0,2] [--allow-env NAME]...\n"
    "                  [--read-only PATH]... [--read-write PATH]...\n"
    "                  [--allow-net HOST:PORT]... [LIMITS]\n"
    "                  [--best-effort LIST] [--stub PATH] -- CMD [ARGS...]\n"
    "LIMITS: [--memory SIZE] [--memory-swap SIZE] [--pids N] [--cpus N]\n"
    "        [--timeout DURATION] (SIZE: 512m, 2g; DURATION: 30s, 2m, 1h30m)\n"
    "LIST: all, or a comma list of network_namespace, bounding_set,\n"
    "supervisor_seccomp, workload_seccomp, landlock, privilege_drop,\n"
    "pid_namespace, mount_namespace, ipc_namespace, uts_namespace,\n"
    "cgroup_namespace, filesystem_view, resource_limits, user_namespace;\n"
    "TETHER_BEST_EFFORT in the environment widens the same way.\n";

int BadPolicy(const std::string& path, absl::string_view message) {
  std::fprintf(stderr, "tether: bad policy: %s: %s\n", path.c_str(), std::string(message).c_str());
  return kExitBadPolicy;
}

// Loads a policy file onto default options; exit status on failure.
int LoadPolicy(const std::string& path, tether::policy::PolicyFile* file,
               tether::broker::RunOptions* options) {
  absl::StatusOr<tether::policy::PolicyFile> loaded = tether::policy::LoadPolicyFile(path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "tether: bad policy: %s\n",
                 std::string(loaded.status().message()).c_str());
    return kExitBadPolicy;
  }
  absl::Status applied = tether::broker::ApplyPolicyFile(*loaded, options);
  if (!applied.ok()) return BadPolicy(path, applied.message());
  *file = std::move(*loaded);
  return 0;
}

int ParseGpus(const std::string& text, tether::broker::RunOptions* options) {
  absl::StatusOr<tether::broker::GpuSelection> gpus = tether::broker::ParseGpuSelection(text);
  if (!gpus.ok()) {
    std::fprintf(stderr, "tether: --gpus: %s\n", std::string(gpus.status().message()).c_str());
    return kExitUsage;
  }
  options->gpus = *gpus;
  return 0;
}

// --allow-net DEST... onto what the policy allows, then the one thing no
// mode can honour: an allow-list on the host's network, where nothing goes
// through the proxy. Both from flags is a usage error, otherwise the
// policy's (2).
int ApplyEgress(const char* command, const std::vector<std::string>& allow_net, bool host_from_flag,
                tether::broker::RunOptions* options) {
  bool policy_has_egress = !options->egress.rules.empty();
  for (const std::string& text : allow_net) {
    absl::StatusOr<tether::policy::EgressRule> rule = tether::policy::ParseEgressRule(text);
    if (!rule.ok()) {
      std::fprintf(stderr, "tether %s: --allow-net: %s\n", command,
                   std::string(rule.status().message()).c_str());
      return kExitUsage;
    }
    bool known = false;
    for (const auto& existing : options->egress.rules) known |= existing.text == rule->text;
    if (!known) options->egress.rules.push_back(*rule);
  }
  if (options->egress.rules.empty() ||
      options->network_mode != tether::broker::NetworkMode::kHost) {
    return 0;
  }
  const char* what = policy_has_egress ? "the policy's network.egress" : "--allow-net";
  const char* mode = host_from_flag ? "--network host" : "the policy's network.mode \"host\"";
  std::fprintf(stderr,
               "tether %s: %s cannot be enforced with %s: the host's network has no proxy "
               "(use --network isolated)\n",
               command, what, mode);
  return host_from_flag && !policy_has_egress ? kExitUsage : kExitBadPolicy;
}

// TETHER_BEST_EFFORT and --best-effort only widen what the policy says,
// for outer-sandbox integrations; exit status on a bad list.
int WidenEnforcement(const char* command, const std::optional<std::string>& flag,
                     tether::broker::RunOptions* options) {
  if (const char* env = std::getenv("TETHER_BEST_EFFORT"); env != nullptr) {
    absl::Status widened = options->enforcement.WidenFromList(env, "env:TETHER_BEST_EFFORT");
    if (!widened.ok()) {
      std::fprintf(stderr, "tether: %s\n", std::string(widened.message()).c_str());
      return kExitUsage;
    }
  }
  if (flag.has_value()) {
    absl::Status widened = options->enforcement.WidenFromList(*flag, "flag:--best-effort");
    if (!widened.ok()) {
      std::fprintf(stderr, "tether %s: %s\n", command, std::string(widened.message()).c_str());
      return kExitUsage;
    }
  }
  return 0;
}

tether::broker::RunOptions DefaultOptions() {
  tether::broker::RunOptions options;
  options.policy = tether::broker::DefaultPolicy();
  return options;
}

int Run(const std::vector<std::string>& args) {
  absl::StatusOr<tether::broker::RunCommandLine> line = tether::broker::ParseRunCommandLine(args);
  if (!line.ok()) {
    std::fprintf(stderr, "tether run: %s\n%s", std::string(line.status().message()).c_str(),
                 kUsage);
    return kExitUsage;
  }
  tether::broker::RunOptions options = DefaultOptions();
  if (line->policy_path.has_value()) {
    tether::policy::PolicyFile file;
    if (int status = LoadPolicy(*line->policy_path, &file, &options); status != 0) return status;
  }
  // The command line wins over the file; the environment and
  // --best-effort only widen, for outer-sandbox integrations.
  if (line->user.has_value()) options.user = line->user;
  if (int status = WidenEnforcement("run", line->best_effort, &options); status != 0) return status;
  if (line->gpus.has_value()) {
    if (int status = ParseGpus(*line->gpus, &options); status != 0) return status;
  }
  if (line->network.has_value() &&
      !tether::broker::ParseNetworkMode(*line->network, &options.network_mode)) {
    std::fprintf(stderr, "tether run: --network '%s' is not isolated, host or auto\n",
                 line->network->c_str());
    return kExitUsage;
  }
  if (int status = ApplyEgress("run", line->allow_net, line->network.has_value(), &options);
      status != 0) {
    return status;
  }
  if (absl::Status applied =
          tether::broker::ApplyResourceFlags(line->resources, &options.resources);
      !applied.ok()) {
    std::fprintf(stderr, "tether run: %s\n", std::string(applied.message()).c_str());
    return kExitUsage;
  }
  for (const std::string& name : line->allow_env) {
    options.policy.environment_allow.push_back(name);
  }
  // Like paths a policy lists: they must exist, and are bound into the view.
  for (const auto& [flag, paths, list] :
       {std::tuple{"--read-only", &line->read_only, &options.policy.read_only},
        std::tuple{"--read-write", &line->read_write, &options.policy.read_write}}) {
    for (const std::string& path : *paths) {
      struct stat st;
      if (stat(path.c_str(), &st) != 0) {
        std::fprintf(stderr, "tether run: %s '%s': %s\n", flag, path.c_str(), strerror(errno));
        return kExitUsage;
      }
      list->push_back(path);
    }
  }
  options.stub_path = line->stub_path.value_or("");
  options.report_path = line->report_path;
  options.events_path = line->events_path;
  options.argv = line->argv;
  tether::broker::RunSession session(std::move(options));
  return session.Run();
}

// `policy check FILE`: exit 0 when the file is valid, 2 naming the problem.
// `policy explain FILE [--gpus SPEC]`: the effective policy with origins.
int Policy(const std::vector<std::string>& args) {
  bool check = args.size() == 2 && args[0] == "check";
  bool explain =
      (args.size() == 2 || (args.size() == 4 && args[2] == "--gpus")) && args[0] == "explain";
  if (!check && !explain) {
    std::fprintf(stderr, "tether policy: expected check FILE or explain FILE\n%s", kUsage);
    return kExitUsage;
  }
  tether::broker::RunOptions options = DefaultOptions();
  tether::policy::PolicyFile file;
  if (int status = LoadPolicy(args[1], &file, &options); status != 0) return status;
  if (check) {
    std::printf("%s: valid\n", args[1].c_str());
    return 0;
  }
  if (args.size() == 4) {
    if (int status = ParseGpus(args[3], &options); status != 0) return status;
  }
  int abi = tether::kernel::QueryLandlockAbi();
  absl::StatusOr<std::string> explained =
      tether::broker::ExplainPolicy(file, options, abi > 0 ? static_cast<int>(abi) : 0);
  if (!explained.ok()) {
    if (explained.status().code() == absl::StatusCode::kInvalidArgument) {
      return BadPolicy(args[1], explained.status().message());
    }
    std::fprintf(stderr, "tether policy explain: %s\n",
                 std::string(explained.status().message()).c_str());
    return kExitSetupFailed;
  }
  std::fputs(explained->c_str(), stdout);
  return 0;
}

// `tether serve`: the broker as a sidecar for stubs started elsewhere.
int Serve(const std::vector<std::string>& args) {
  tether::broker::ServeOptions serve;
  serve.run = DefaultOptions();
  serve.allowed_uids = {static_cast<uint32_t>(getuid())};
  std::optional<std::string> policy_path;
  std::optional<std::string> network;
  std::vector<std::string> allow_net;
  tether::broker::ResourceFlags resources;
  std::optional<std::string> best_effort;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (i + 1 >= args.size()) {
      std::fprintf(stderr, "tether serve: %s needs a value\n%s", flag.c_str(), kUsage);
      return kExitUsage;
    }
    const std::string& value = args[++i];
    if (flag == "--socket") {
      serve.socket_path = value;
    } else if (flag == "--policy") {
      policy_path = value;
    } else if (flag == "--allow-uid") {
      absl::StatusOr<std::vector<uint32_t>> uids = tether::broker::ParseUidList(value);
      if (!uids.ok()) {
        std::fprintf(stderr, "tether serve: %s\n", std::string(uids.status().message()).c_str());
        return kExitUsage;
      }
      serve.allowed_uids = *uids;
    } else if (flag == "--report-dir") {
      serve.report_dir = value;
    } else if (flag == "--events") {
      serve.run.events_path = value;
    } else if (flag == "--network") {
      network = value;
    } else if (flag == "--allow-net") {
      allow_net.push_back(value);
    } else if (flag == "--best-effort") {
      best_effort = value;
    } else if (std::optional<std::string>* limit = resources.Find(flag); limit != nullptr) {
      if (limit->has_value()) {
        std::fprintf(stderr, "tether serve: %s given twice\n", flag.c_str());
        return kExitUsage;
      }
      *limit = value;
    } else if (flag == "--token-file") {
      absl::StatusOr<std::string> token = tether::ReadSmallFile(value);
      if (!token.ok() || token->empty()) {
        std::fprintf(stderr, "tether serve: --token-file %s: %s\n", value.c_str(),
                     token.ok() ? "empty" : std::string(token.status().message()).c_str());
        return kExitUsage;
      }
      while (!token->empty() && (token->back() == '\n' || token->back() == '\r')) token->pop_back();
      serve.run.sidecar_token = *token;
    } else if (flag == "--pool") {
      if (!absl::SimpleAtoi(value, &serve.pool) || serve.pool < 1 || serve.pool > 256) {
        std::fprintf(stderr, "tether serve: --pool '%s' is not 1 to 256\n", value.c_str());
        return kExitUsage;
      }
    } else if (flag == "--max-sessions") {
      if (!absl::SimpleAtoi(value, &serve.max_sessions) || serve.max_sessions < 1 ||
          serve.max_sessions > 4096) {
        std::fprintf(stderr, "tether serve: --max-sessions '%s' is not 1 to 4096\n", value.c_str());
        return kExitUsage;
      }
    } else if (flag == "--max-pending-per-uid") {
      if (!absl::SimpleAtoi(value, &serve.max_pending_per_uid) || serve.max_pending_per_uid < 1 ||
          serve.max_pending_per_uid > 4096) {
        std::fprintf(stderr, "tether serve: --max-pending-per-uid '%s' is not 1 to 4096\n",
                     value.c_str());
        return kExitUsage;
      }
    } else if (flag == "--handshake-timeout") {
      int seconds = 0;
      if (!absl::SimpleAtoi(value, &seconds) || seconds <= 0 || seconds > 3600) {
        std::fprintf(stderr, "tether serve: --handshake-timeout '%s' is not 1 to 3600 seconds\n",
                     value.c_str());
        return kExitUsage;
      }
      serve.run.handshake_timeout = absl::Seconds(seconds);
    } else {
      std::fprintf(stderr, "tether serve: unknown flag %s\n%s", flag.c_str(), kUsage);
      return kExitUsage;
    }
  }
  if (serve.socket_path.empty()) {
    std::fprintf(stderr, "tether serve: --socket is required\n%s", kUsage);
    return kExitUsage;
  }
  if (policy_path.has_value()) {
    tether::policy::PolicyFile file;
    if (int status = LoadPolicy(*policy_path, &file, &serve.run); status != 0) return status;
  }
  if (network.has_value() && !tether::broker::ParseNetworkMode(*network, &serve.run.network_mode)) {
    std::fprintf(stderr, "tether serve: --network '%s' is not isolated, host or auto\n",
                 network->c_str());
    return kExitUsage;
  }
  if (int status = ApplyEgress("serve", allow_net, network.has_value(), &serve.run); status != 0) {
    return status;
  }
  if (absl::Status applied = tether::broker::ApplyResourceFlags(resources, &serve.run.resources);
      !applied.ok()) {
    std::fprintf(stderr, "tether serve: %s\n", std::string(applied.message()).c_str());
    return kExitUsage;
  }
  if (int status = WidenEnforcement("serve", best_effort, &serve.run); status != 0) return status;
  return tether::broker::ServeForever(serve);
}

// Prints what this host and runtime allow, each with its evidence.
// The facts come from the launch cache where it has them (denials are
// always probed again); --fresh probes everything and replaces the entry.
int Probe(const std::vector<std::string>& args) {
  bool fresh = args.size() == 1 && args[0] == "--fresh";
  if (!args.empty() && !fresh) {
    std::fprintf(stderr, "tether probe: expected no argument or --fresh, got %s\n%s",
                 args[0].c_str(), kUsage);
    return kExitUsage;
  }
  // The facts are kept under the default workload filter's name: the
  // program is read back (or compiled) only if the seccomp probe runs.
  std::string filter_key = tether::broker::WorkloadFilterKey({});
  if (fresh) tether::broker::ForgetCachedHostFacts(filter_key);
  const tether::broker::HostFacts& facts = tether::broker::CachedHostFacts(
      {filter_key, [] { return tether::broker::CompiledWorkloadFilter({}); }});
  std::fputs(tether::broker::HostFactsToJson(facts).c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tether::broker::LaunchTimeline::NoteMainEntered();
  // A closed standard fd would be reused by the next open, and the stub or
  // the workload would then write its output into that file.
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd) return 125;
  }
  // An ignored SIGCHLD inherited from the caller would have the kernel reap
  // the stub behind the broker's back, and its status would be lost.
  signal(SIGCHLD, SIG_DFL);
  // Each path the filesystem view binds holds an fd while the run starts.
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  // `bazel run` starts binaries in their runfiles tree; the user meant the
  // directory they ran it from.
  if (const char* invoked_from = std::getenv("BUILD_WORKING_DIRECTORY");
      invoked_from != nullptr && *invoked_from == '/' && chdir(invoked_from) != 0) {
    std::fprintf(stderr, "tether: cannot enter %s (BUILD_WORKING_DIRECTORY): %s\n", invoked_from,
                 std::strerror(errno));
    return kExitUsage;
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "run") return Run(rest);
  if (args[0] == "probe") return Probe(rest);
  if (args[0] == "policy") return Policy(rest);
  if (args[0] == "serve") return Serve(rest);
  std::fprintf(stderr, "tether: unknown command '%s'\n%s", args[0].c_str(), kUsage);
  return kExitUsage;
}
