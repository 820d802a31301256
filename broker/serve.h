#ifndef TETHER_BROKER_SERVE_H_
#define TETHER_BROKER_SERVE_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "broker/run_session.h"

namespace tether::broker {

struct ServeOptions {
  std::string socket_path;
  std::vector<uint32_t> allowed_uids;        // SO_PEERCRED uids let in
  std::optional<std::string> report_dir;     // <dir>/<stub pid>.json per stub
  RunOptions run;                            // the policy every stub gets
  int pool = 4;                              // sessions waiting with a warm network
};

// `tether serve`: a long-lived broker for stubs started elsewhere (a stub-only
// container beside it). `pool` worker processes wait on the socket, each
// with its isolated network already made (a warm pool); a worker takes one
// stub, runs the same handshake and planner as `tether run`, and is
// replaced, so a stub that misbehaves disturbs no other. SIGTERM or SIGINT
// drain: the socket goes, no new stubs, handshakes under way finish.
int ServeForever(const ServeOptions& options);

// Parses "1000,1001"; errors name the bad entry.
absl::StatusOr<std::vector<uint32_t>> ParseUidList(absl::string_view text);

}  // namespace tether::broker

#endif  // TETHER_BROKER_SERVE_H_
