#ifndef TETHER_BROKER_PEER_PROCESS_H_
#define TETHER_BROKER_PEER_PROCESS_H_

#include <sys/types.h>

namespace tether::broker {

// Whether the process at the other end of a connected unix socket lives in
// the broker's own pid namespace, so that /proc/<peer_pid> is the stub's and
// its Hello can be checked against it. Decided by the kernel, never by what
// the stub says: the peer is pinned with SO_PEERPIDFD (Linux 6.5; without
// it, never visible), its /proc/<pid>/ns/pid is compared with the broker's,
// and the pidfd must still name `peer_pid` afterwards, so a recycled pid
// cannot stand in for the stub. `peer_pid` is SO_PEERCRED's (0 when the
// peer's pid namespace is not below the broker's). What is verified is the
// process that connected.
bool PeerSharesPidNamespace(int socket_fd, pid_t peer_pid);

}  // namespace tether::broker

#endif  // TETHER_BROKER_PEER_PROCESS_H_
