#ifndef TETHER_BROKER_SANDBOX_CHILD_H_
#define TETHER_BROKER_SANDBOX_CHILD_H_

// The broker's code in the child it clones into the sandbox's namespaces,
// from the clone to the exec of the stub: the hostname, the filesystem
// view, then the stub. This is the privileged side of the boundary: the
// stub it executes never mounts and decides nothing.

#include <sys/types.h>

#include <vector>

#include "broker/filesystem_view.h"
#include "ipc/unique_fd.h"

namespace tether::broker {

// What the cloned child needs: everything decided and allocated before
// the clone.
struct SandboxChild {
  int stub_binary = -1;
  int stub_socket = -1;
  pid_t broker_pid = 0;
  bool new_pid_namespace = false;
  const char* hostname = nullptr;                       // set in a new uts namespace
  const ViewPlan* view = nullptr;                       // built in a new mount namespace
  const std::vector<UniqueFd>* view_sources = nullptr;  // the host paths, cloned
  int view_report_fd = -1;
  int proceed_fd = -1;  // one byte once the broker checked the view
  // The broker's ends of those two pipes, which the child closes at once:
  // with them gone, a dead broker is a hang-up the child can see.
  int broker_ends[2] = {-1, -1};
};

// Runs in the cloned child (the broker is single-threaded there) and never
// returns: it execs the stub, or exits with 125.
[[noreturn]] void StartSandboxChild(const SandboxChild& setup);

}  // namespace tether::broker

#endif  // TETHER_BROKER_SANDBOX_CHILD_H_
