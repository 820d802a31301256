#ifndef TETHER_IPC_FD_PASSING_H_
#define TETHER_IPC_FD_PASSING_H_

// One datagram with fds attached as SCM_RIGHTS: the one place that builds
// and parses control messages. Abseil-free so that the static stub links it.

#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "ipc/unique_fd.h"

namespace tether::ipc {

// The kernel's cap on fds in one SCM_RIGHTS message (SCM_MAX_FD).
inline constexpr size_t kMaxFdsPerDatagram = 253;

// Sends `size` bytes and `fd_count` fds as one datagram, with MSG_NOSIGNAL
// added to `flags`, retrying EINTR. Returns what sendmsg returns; more than
// kMaxFdsPerDatagram fds fails with EINVAL. Allocates nothing, so a forked
// child of a threaded process may call it.
ssize_t SendWithFds(int socket_fd, const void* data, size_t size, const int* fds, size_t fd_count,
                    int flags = 0);

struct Datagram {
  ssize_t size = -1;          // what recvmsg returned
  int errno_value = 0;        // set when size < 0
  int msg_flags = 0;          // MSG_TRUNC, MSG_CTRUNC as the kernel reported
  std::vector<UniqueFd> fds;  // every fd that arrived, close-on-exec
};

// Receives one datagram into `buffer`, retrying EINTR. Every fd that arrives
// is owned at once, whatever else is wrong with the datagram, so none leaks.
// There is room for more fds than any message of ours may carry, so that a
// peer's excess is seen (and closed) rather than only cut by MSG_CTRUNC.
Datagram ReceiveWithFds(int socket_fd, void* buffer, size_t capacity);

}  // namespace tether::ipc

#endif  // TETHER_IPC_FD_PASSING_H_
