#ifndef TETHER_BROKER_EGRESS_SERVER_H_
#define TETHER_BROKER_EGRESS_SERVER_H_

#include <linux/filter.h>
#include <sys/types.h>

#include <vector>

#include "broker/egress_proxy.h"

namespace tether::broker {

// The egress proxy's process, after EgressProxy::Start's exec, with its fds
// at kEgressListenerFd and the rest: confines itself (a user namespace of
// its own for a non-root broker's, an empty bounding set, nobody for a
// root broker's, no capability, not dumpable, `filter`), shares the event
// log when `events`, says it is ready and serves `config`. Returns only by
// exiting: 1 when it could not confine itself.
[[noreturn]] void ServeEgressProxy(pid_t parent, const EgressConfig& config,
                                   const std::vector<struct sock_filter>& filter, bool events);

}  // namespace tether::broker

#endif  // TETHER_BROKER_EGRESS_SERVER_H_
