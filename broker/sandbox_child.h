#ifndef TETHER_BROKER_SANDBOX_CHILD_H_
#define TETHER_BROKER_SANDBOX_CHILD_H_

// The broker's code in the child it clones into the sandbox's namespaces,
// from the clone to the exec of the stub: the hostname, the filesystem
// view, then the stub. This is the privileged side of the boundary: the
// stub it executes never mounts and decides nothing.

#include <sys/types.h>

#include <cstdint>
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
  const char* hostname = nullptr;  // set in a new uts namespace
  const ViewPlan* view = nullptr;  // built in a new mount namespace
  int view_report_fd = -1;
  // One byte once the broker wrote the id maps (in a new user namespace),
  // one more once it checked the view.
  int proceed_fd = -1;
  // A broker without CAP_SYS_ADMIN: the child is in a new user namespace,
  // where it holds every capability. It waits for its id maps before it
  // does anything, and clears its bounding set before it execs the stub
  // (which then starts with none: a uid other than 0 keeps no capability
  // across exec).
  bool user_namespace = false;
  // CLONE_NEWNET was among the flags (only with a user namespace): the
  // child brings lo up and, for the egress proxy, makes the listener on
  // 127.0.0.1, then sends a NetworkOutcome (with the listener) here.
  int network_report_fd = -1;
  bool proxy_listener = false;
  // The broker's ends of the pipes and the socket, which the child closes
  // at once: with them gone, a dead broker is a hang-up the child can see.
  int broker_ends[3] = {-1, -1, -1};
};

// What the child says of the network it set up: 0 or an errno, the
// message of what failed, the listener's port (the listener travels with
// it, SCM_RIGHTS).
struct NetworkOutcome {
  int32_t error = 0;
  uint16_t port = 0;
  char message[238] = {};
};

// Runs in the cloned child (the broker is single-threaded there) and never
// returns: it execs the stub, or exits with 125.
[[noreturn]] void StartSandboxChild(const SandboxChild& setup);

}  // namespace tether::broker

#endif  // TETHER_BROKER_SANDBOX_CHILD_H_
