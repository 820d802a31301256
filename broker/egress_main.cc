// tether-egress: the sandbox's egress proxy, as EgressProxy::Start
// (broker/egress_proxy.cc) runs it: started by the broker, with its
// listener, ready pipe, seccomp program, event log and allow-list at
// kEgressListenerFd and the rest, no_new_privs set, the broker's
// environment and every signal blocked. Not for running by hand.
//
//   tether-egress --protocol N --parent PID --max-connections N
//                 --max-bytes N --max-events N [--events]
//
// It parses its allow-list again from the rules' canonical text (what the
// broker parsed from the policy), confines itself before it reads a byte
// from the sandbox (ServeEgressProxy), and exits 2 on arguments or rules
// it does not understand, 1 when it cannot read what it was given or
// cannot confine itself.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "base/files.h"
#include "broker/egress_proxy.h"
#include "broker/egress_server.h"
#include "policy/egress.h"
#include "policy/workload_seccomp.h"

namespace {

constexpr int kExitUsage = 2;

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(
      stderr,
      "tether-egress: %s\nusage: tether-egress --protocol N --parent PID --max-connections N "
      "--max-bytes N --max-events N [--events]\n(started by the broker for a sandbox "
      "with network egress, its allow-list on fd %d; not for running by hand)\n",
      why.c_str(), tether::broker::kEgressRulesFd);
  std::exit(kExitUsage);
}

template <typename Number>
Number Positive(const std::string& flag, const char* text) {
  Number value = 0;
  if (text == nullptr || !absl::SimpleAtoi(text, &value) || value <= 0) {
    Usage(flag + " needs a positive number");
  }
  return value;
}

// The allow-list the broker sealed; bounded, since a rule is a host name
// and a port.
absl::StatusOr<std::string> ReadRules() {
  return tether::ReadSealedMemfd(tether::broker::kEgressRulesFd, "egress rules fd", [](off_t size) {
    return size <= (1 << 20) ? absl::OkStatus() : absl::OutOfRangeError("larger than 1 MiB");
  });
}

}  // namespace

int main(int argc, char** argv) {
  // Blocked by the broker from before its clone to the exec (kernel/spawn.h).
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int protocol = 0;
  pid_t parent = 0;
  bool events = false;
  tether::broker::EgressConfig config;
  std::vector<std::string> rules;
  bool limits_given[3] = {false, false, false};
  int i = 1;
  for (; i < argc; ++i) {
    std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (flag == "--events") {
      events = true;
    } else if (flag == "--protocol") {
      protocol = Positive<int>(flag, value);
      ++i;
    } else if (flag == "--parent") {
      parent = Positive<pid_t>(flag, value);
      ++i;
    } else if (flag == "--max-connections") {
      config.limits.max_connections = Positive<int>(flag, value);
      limits_given[0] = true;
      ++i;
    } else if (flag == "--max-bytes") {
      config.limits.max_bytes = Positive<uint64_t>(flag, value);
      limits_given[1] = true;
      ++i;
    } else if (flag == "--max-events") {
      config.limits.max_events = Positive<int>(flag, value);
      limits_given[2] = true;
      ++i;
    } else {
      Usage("unknown argument '" + flag + "'");
    }
  }
  if (protocol != tether::broker::kEgressProtocol) {
    std::fprintf(stderr,
                 "tether-egress: the broker speaks protocol %d, this program %d: install the "
                 "broker and tether-egress of one release (and restart a running tether serve)\n",
                 protocol, tether::broker::kEgressProtocol);
    return kExitUsage;
  }
  if (parent == 0 || !limits_given[0] || !limits_given[1] || !limits_given[2]) {
    Usage("--parent and all three limits are required");
  }
  absl::StatusOr<std::string> text = ReadRules();
  if (!text.ok()) {
    std::fprintf(stderr, "tether-egress: its allow-list: %s\n",
                 std::string(text.status().message()).c_str());
    return 1;
  }
  close(tether::broker::kEgressRulesFd);
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    rules.emplace_back(line);
  }
  if (rules.empty()) Usage("no rule: a sandbox without egress has no proxy");
  absl::StatusOr<std::vector<tether::policy::EgressRule>> parsed =
      tether::policy::ParseEgressRules(rules);
  if (!parsed.ok()) Usage(std::string(parsed.status().message()));
  config.rules = std::move(*parsed);
  absl::StatusOr<std::vector<struct sock_filter>> filter =
      tether::policy::ReadSealedProgram(tether::broker::kEgressFilterFd);
  if (!filter.ok()) {
    std::fprintf(stderr, "tether-egress: its seccomp program: %s\n",
                 std::string(filter.status().message()).c_str());
    return 1;
  }
  close(tether::broker::kEgressFilterFd);
  tether::broker::ServeEgressProxy(parent, config, *filter, events);
}
