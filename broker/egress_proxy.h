#ifndef TETHER_BROKER_EGRESS_PROXY_H_
#define TETHER_BROKER_EGRESS_PROXY_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ipc/unique_fd.h"
#include "policy/egress.h"

namespace tether::broker {

// The sandbox's only way out: an HTTP proxy (absolute-URI requests and
// CONNECT) whose listening socket is on 127.0.0.1 in the sandbox's network
// namespace, while its outbound connections are made from the broker's.
// It runs in a process of its own, so that no client, however slow or
// hostile, holds up the broker's supervision of the workload; the process
// dies with the run (and with the broker).
// The uid and gid a root broker's proxy runs as (nobody).
inline constexpr uid_t kEgressProxyUid = 65534;

struct EgressLimits {
  int max_connections = 64;                // open at once, per sandbox
  uint64_t max_bytes = uint64_t{8} << 30;  // through the proxy, both ways, per sandbox
  int max_events = 10000;  // OCSF events per sandbox; then one saying the rest go unlogged
};

struct EgressConfig {
  std::vector<policy::EgressRule> rules;
  EgressLimits limits;
};

// What the allow-list says about one destination.
struct EgressDecision {
  bool allowed = false;
  std::string rule;                          // the entry that decided; empty: none
  std::string reason;                        // why, in words
  std::optional<policy::IpAddress> address;  // allowed: the one to connect to
};

// Decides `host`:`port` (host as normalised by policy::NormalizeHost). For
// a name, `resolved` are its addresses as the broker resolved them and
// `host_addresses` the broker's own; a loopback, link-local or own address
// is reached only through a rule naming that literal address, so that no
// name can point the proxy back at the host. Pure: tests call it directly.
EgressDecision DecideEgress(const std::vector<policy::EgressRule>& rules, const std::string& host,
                            uint16_t port, const std::vector<policy::IpAddress>& resolved,
                            const std::vector<policy::IpAddress>& host_addresses);

// Whether a name needs resolving at all: only when some rule could allow it
// (a name rule for it, or an address rule for the port). Otherwise it is
// denied without a lookup, which would itself leak the name.
bool NameNeedsLookup(const std::vector<policy::EgressRule>& rules, const std::string& host,
                     uint16_t port);

// The proxy is a program of its own, tether-egress (broker/egress_main.cc),
// so that the broker does not carry KJ's HTTP and event loop code (a third
// of its size) into every start. These are its fds across the exec.
inline constexpr int kEgressListenerFd = 3;
inline constexpr int kEgressReadyFd = 4;   // one byte once confined, then closed
inline constexpr int kEgressFilterFd = 5;  // the seccomp program, sealed (policy::SealProgram)
inline constexpr int kEgressEventsFd = 6;  // with --events only
// The allow-list's entries in their canonical text, one a line, in a sealed
// memfd (not in argv, which any local user may read in /proc).
inline constexpr int kEgressRulesFd = 7;
// What the fds and arguments mean; the program refuses another (a broker
// that has run since before an upgrade, say). Changed with either.
inline constexpr int kEgressProtocol = 1;

class EgressProxy {
 public:
  // Starts the proxy's program (tether-egress beside the broker, opened and
  // checked as the stub is) from a child in the broker's memory
  // (kernel/spawn.h), which serves `listener` (a
  // listening socket of the sandbox's namespace) and writes one OCSF
  // Network Activity event per connection to `events_fd` (-1: none). The
  // child keeps only those fds, the filter's and stderr, and sets
  // no_new_privs before the exec; the program then clears its bounding
  // set, becomes kEgressProxyUid (a root broker's), drops every
  // capability, is not dumpable, and loads `filter`, the broker's own
  // seccomp filter (policy::CompileSupervisorFilter), before it reads a
  // byte from the sandbox.
  static absl::StatusOr<std::unique_ptr<EgressProxy>> Start(
      UniqueFd listener, const EgressConfig& config, int events_fd,
      const std::vector<struct sock_filter>& filter);
  EgressProxy(const EgressProxy&) = delete;
  EgressProxy& operator=(const EgressProxy&) = delete;
  // Kills and reaps the process.
  ~EgressProxy();

  pid_t pid() const { return pid_; }
  // Readable once the process has exited (poll it beside the workload).
  int pidfd() const { return pidfd_.get(); }
  // After pidfd() polled readable: reaps the process and says how it ended.
  std::string Reap();

 private:
  EgressProxy(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  pid_t pid_;
  UniqueFd pidfd_;
  bool reaped_ = false;
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_EGRESS_PROXY_H_
