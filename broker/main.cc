// tether: the privileged broker. `tether run` starts one sandboxed workload.

#include <limits.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "broker/cli.h"
#include "broker/default_policy.h"
#include "broker/exit_codes.h"
#include "broker/run_session.h"

namespace {

constexpr char kUsage[] =
    "usage: tether run [--policy FILE] [--user NAME|UID[:GID]] [--report FILE]\n"
    "                  [--allow-env NAME]... [--stub PATH] -- CMD [ARGS...]\n";

// The stub ships beside the broker binary unless --stub says otherwise.
std::string DefaultStubPath() {
  char self[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length <= 0) return "tether-stub";
  std::string path(self, length);
  return path.substr(0, path.rfind('/') + 1) + "tether-stub";
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
  for (const std::string& name : line->allow_env) {
    options.policy.environment_allow.push_back(name);
  }
  options.stub_path = line->stub_path.value_or(DefaultStubPath());
  options.user = line->user;
  options.report_path = line->report_path;
  options.argv = line->argv;
  tether::broker::RunSession session(std::move(options));
  return session.Run();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? tether::broker::kExitUsage : 0;
  }
  if (args[0] == "run") return Run({args.begin() + 1, args.end()});
  std::fprintf(stderr, "tether: unknown command '%s'\n%s", args[0].c_str(), kUsage);
  return tether::broker::kExitUsage;
}
