#include "broker/egress_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "base/status.h"
#include "broker/stub_binary.h"
#include "kernel/spawn.h"
#include "policy/workload_seccomp.h"

namespace tether::broker {

using policy::EgressRule;
using policy::IpAddress;

// ---------------------------------------------------------------------------
// The decision, apart from any I/O.

namespace {

bool IsHostAddress(const IpAddress& address, const std::vector<IpAddress>& host_addresses) {
  return std::find(host_addresses.begin(), host_addresses.end(), address) != host_addresses.end();
}

// Why `address` may be reached only through a rule naming it; nullptr if it
// is an ordinary address.
const char* GuardedKind(const IpAddress& address, const std::vector<IpAddress>& host_addresses) {
  if (const char* special = policy::SpecialAddressKind(address)) return special;
  if (IsHostAddress(address, host_addresses)) return "an address of the host's own";
  return nullptr;
}

std::string Endpoint(const IpAddress& address, uint16_t port) {
  return address.family == AF_INET6 ? absl::StrCat("[", address.ToString(), "]:", port)
                                    : absl::StrCat(address.ToString(), ":", port);
}

EgressDecision Deny(std::string reason) {
  EgressDecision decision;
  decision.reason = std::move(reason);
  return decision;
}

EgressDecision Allow(const EgressRule& rule, const IpAddress& address, std::string reason) {
  EgressDecision decision;
  decision.allowed = true;
  decision.rule = rule.text;
  decision.address = address;
  decision.reason = std::move(reason);
  return decision;
}

}  // namespace

bool NameNeedsLookup(const std::vector<EgressRule>& rules, const std::string& host, uint16_t port) {
  return policy::MatchName(rules, host, port) != nullptr;
}

EgressDecision DecideEgress(const std::vector<EgressRule>& rules, const std::string& host,
                            uint16_t port, const std::vector<IpAddress>& resolved,
                            const std::vector<IpAddress>& host_addresses) {
  if (std::optional<IpAddress> literal = IpAddress::ParseLiteral(host)) {
    const EgressRule* rule = policy::MatchAddress(rules, *literal, port);
    if (rule == nullptr) return Deny(absl::StrCat("no rule allows ", Endpoint(*literal, port)));
    if (const char* kind = GuardedKind(*literal, host_addresses)) {
      rule = policy::MatchLiteralAddress(rules, *literal, port);
      if (rule == nullptr) {
        return Deny(absl::StrCat(literal->ToString(), " is ", kind,
                                 ", which only a rule naming exactly ", Endpoint(*literal, port),
                                 " opens"));
      }
    }
    return Allow(*rule, *literal, "the address is allowed");
  }
  // A name is reached only through a rule for it: a name no rule names is
  // never looked up, since a lookup alone carries data out.
  const EgressRule* by_name = policy::MatchName(rules, host, port);
  if (by_name == nullptr) return Deny(absl::StrCat("no rule allows ", host, ":", port));
  if (resolved.empty()) return Deny(absl::StrCat(host, " has no address"));
  // The first address allowed; a guarded one only by its literal rule, so
  // that a name (or a rebinding resolver) cannot open the host.
  std::string first_refusal;
  for (const IpAddress& address : resolved) {
    const char* kind = GuardedKind(address, host_addresses);
    const EgressRule* rule =
        kind == nullptr ? by_name : policy::MatchLiteralAddress(rules, address, port);
    if (rule != nullptr) {
      return Allow(*rule, address, absl::StrCat(host, " resolves to ", address.ToString()));
    }
    if (first_refusal.empty()) {
      first_refusal =
          absl::StrCat(host, " resolves to ", address.ToString(), ", ", kind,
                       ", which only a rule naming exactly ", Endpoint(address, port), " opens");
    }
  }
  return Deny(first_refusal);
}

// ---------------------------------------------------------------------------
// Starting the proxy's program.

namespace {

constexpr int kHelperFd = kEgressRulesFd + 1;

// What the helper's child is handed. `fds` are the listener, the ready
// pipe, the filter, the event log (or -1) and the rules, in that order;
// none of them, nor `helper`, is at or below kHelperFd (see Above).
struct HelperChild {
  pid_t parent;
  int helper;
  int fds[5];
  rlim_t files;
  char* const* argv;
};

// The child until its exec, in the broker's memory (kernel/spawn.h):
// system calls only. Every signal stays blocked; tether-egress sets its
// own mask.
int ExecHelper(void* raw) {
  const HelperChild& child = *static_cast<const HelperChild*>(raw);
  const int(&fds)[5] = child.fds;
  // What failed, on stderr (the broker then says the proxy did not start).
  auto fail = [](const char* step) {
    static const char kPrefix[] = "tether: starting the egress proxy: ";
    (void)!write(STDERR_FILENO, kPrefix, sizeof(kPrefix) - 1);
    (void)!write(STDERR_FILENO, step, strlen(step));
    (void)!write(STDERR_FILENO, " failed\n", 8);
    _exit(1);
  };
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != child.parent) _exit(1);
  // Not close-on-exec: were it to land on fd 0 or 1, dup2 onto itself would
  // keep the flag and the exec would close that standard fd. Elsewhere it
  // is replaced or closed below.
  int null = open("/dev/null", O_RDWR);
  if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0) {
    fail("opening /dev/null");
  }
  // dup2 leaves the copies open across the exec; the rest are closed.
  const int targets[5] = {kEgressListenerFd, kEgressReadyFd, kEgressFilterFd, kEgressEventsFd,
                          kEgressRulesFd};
  for (int i = 0; i < 5; ++i) {
    if (fds[i] >= 0 && dup2(fds[i], targets[i]) < 0) fail("dup2");
  }
  if (dup3(child.helper, kHelperFd, O_CLOEXEC) < 0) fail("dup3");
  if (syscall(SYS_close_range, kHelperFd + 1, ~0U, 0) != 0) fail("close_range");
  if (fds[3] < 0) close(kEgressEventsFd);
  // Each connection holds two fds; the rest is the event loop's own.
  struct rlimit limit = {child.files, child.files};
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) fail("setrlimit(RLIMIT_NOFILE)");
  // Nothing the exec could gain: the program drops what it holds itself.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_NO_NEW_PRIVS)");
  // The broker's environment, as a fork of it had: whoever sets the
  // broker's sets the proxy's, and nobody else.
  syscall(SYS_execveat, kHelperFd, "", child.argv, environ, AT_EMPTY_PATH);
  static const char kFailed[] = "tether: cannot execute the egress proxy (tether-egress)\n";
  (void)!write(STDERR_FILENO, kFailed, sizeof(kFailed) - 1);
  _exit(127);
}

// Above the fds the child arranges, so that arranging one never closes
// another.
absl::StatusOr<UniqueFd> Above(UniqueFd fd, const char* what) {
  if (!fd.valid() || fd.get() > kHelperFd) return fd;
  UniqueFd moved(fcntl(fd.get(), F_DUPFD_CLOEXEC, kHelperFd + 1));
  if (!moved.valid()) return ErrnoStatus(errno, absl::StrCat("fcntl(F_DUPFD_CLOEXEC) of ", what));
  return moved;
}

// The rules, a line each, in a memfd sealed against any change.
absl::StatusOr<UniqueFd> SealRules(const std::vector<policy::EgressRule>& rules) {
  std::string text;
  for (const policy::EgressRule& rule : rules) absl::StrAppend(&text, rule.text, "\n");
  return SealedMemfd("tether-egress-rules", text, "egress rules memfd");
}

}  // namespace

absl::StatusOr<std::unique_ptr<EgressProxy>> EgressProxy::Start(
    UniqueFd listener, const EgressConfig& config, int events_fd,
    const std::vector<struct sock_filter>& filter) {
  if (!listener.valid()) return absl::InvalidArgumentError("the egress proxy has no listener");
  ASSIGN_OR_RETURN(UniqueFd helper, OpenEgressHelper());
  ASSIGN_OR_RETURN(UniqueFd program, policy::SealProgram(filter));
  ASSIGN_OR_RETURN(UniqueFd rules, SealRules(config.rules));
  UniqueFd events;
  if (events_fd >= 0) {
    events.reset(fcntl(events_fd, F_DUPFD_CLOEXEC, kHelperFd + 1));
    if (!events.valid()) return ErrnoStatus(errno, "fcntl(F_DUPFD_CLOEXEC) of the event log");
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2 (the egress proxy)");
  UniqueFd ready_read(pipe_fds[0]);
  UniqueFd ready_write(pipe_fds[1]);
  ASSIGN_OR_RETURN(helper, Above(std::move(helper), "the egress proxy's program"));
  ASSIGN_OR_RETURN(listener, Above(std::move(listener), "the proxy's listener"));
  ASSIGN_OR_RETURN(ready_write, Above(std::move(ready_write), "the proxy's ready pipe"));
  ASSIGN_OR_RETURN(program, Above(std::move(program), "the proxy's filter"));
  ASSIGN_OR_RETURN(rules, Above(std::move(rules), "the proxy's rules"));
  pid_t parent = getpid();
  // Its arguments, made before the clone.
  std::vector<std::string> args = {"tether-egress",
                                   "--protocol",
                                   absl::StrCat(kEgressProtocol),
                                   "--parent",
                                   absl::StrCat(parent),
                                   "--max-connections",
                                   absl::StrCat(config.limits.max_connections),
                                   "--max-bytes",
                                   absl::StrCat(config.limits.max_bytes),
                                   "--max-events",
                                   absl::StrCat(config.limits.max_events)};
  if (events.valid()) args.push_back("--events");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  HelperChild child = {
      parent,
      helper.get(),
      {listener.get(), ready_write.get(), program.get(), events.get(), rules.get()},
      static_cast<rlim_t>(config.limits.max_connections) * 2 + 32,
      argv.data()};
  // Borrowing the broker's memory until the exec, not copying it.
  pid_t pid = kernel::CloneSharingMemory(ExecHelper, &child);
  if (pid < 0) return ErrnoStatus(-pid, "clone (the egress proxy)");
  // Killed on every early return.
  std::unique_ptr<EgressProxy> proxy(
      new EgressProxy(pid, UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)))));
  if (!proxy->pidfd_.valid()) return ErrnoStatus(errno, "pidfd_open (the egress proxy)");
  ready_write.reset();
  // Confined and listening, or gone: then it says why on stderr.
  struct pollfd ready = {ready_read.get(), POLLIN, 0};
  int polled;
  while ((polled = poll(&ready, 1, 10000)) < 0 && errno == EINTR) {
  }
  if (polled < 0) return ErrnoStatus(errno, "poll (the egress proxy starting)");
  if (polled == 0) return absl::DeadlineExceededError("the egress proxy did not start within 10 s");
  char byte = 0;
  if (read(ready_read.get(), &byte, 1) != 1) {
    return absl::InternalError("the egress proxy exited before it was ready");
  }
  // And the pipe closed: from here on the proxy holds only its own fds.
  while (read(ready_read.get(), &byte, 1) < 0 && errno == EINTR) {
  }
  return proxy;
}

std::string EgressProxy::Reap() {
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::StrCat("exited with status ", WEXITSTATUS(status));
}

EgressProxy::~EgressProxy() {
  if (reaped_) return;
  kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace tether::broker
