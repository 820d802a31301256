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
  std::vector<uint32_t> allowed_uids;  // SO_PEERCRED uids let in
  // <dir>/<stub pid>-<random>.json per stub; a directory only the broker
  // may write (checked at start).
  std::optional<std::string> report_dir;
  RunOptions run;               // the policy every stub gets
  int pool = 4;                 // sessions waiting with a warm network
  int max_sessions = 64;        // handshakes plus workloads the broker holds
  int max_pending_per_uid = 4;  // handshakes in progress for one peer uid
};

// `tether serve`: a long-lived broker for stubs started elsewhere (a stub-only
// container beside it). The server accepts every connection itself, checks
// the peer's uid and the session limits, and hands an admitted connection
// to one of `pool` worker processes that wait with their isolated network
// already made (a warm pool). A worker runs the same handshake and planner
// as `tether run` for one stub, so a stub that misbehaves disturbs no
// other, and holds that stub's network until its workload exits. SIGTERM or
// SIGINT drain: the socket goes, no new stubs, handshakes under way finish.
// Returns the exit status: 0 after a drain, 64 for a bad report directory
// or event log, 125 when the socket cannot be served.
int ServeForever(const ServeOptions& options);

// Parses "1000,1001"; errors name the bad entry.
absl::StatusOr<std::vector<uint32_t>> ParseUidList(absl::string_view text);

}  // namespace tether::broker

#endif  // TETHER_BROKER_SERVE_H_
