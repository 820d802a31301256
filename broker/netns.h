#ifndef TETHER_BROKER_NETNS_H_
#define TETHER_BROKER_NETNS_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ipc/unique_fd.h"

namespace tether::broker {

// A network namespace the broker created and owns, whose only interface is
// loopback, up: nothing of the host is reachable from it (no veth, no
// address of the host's, no route out). Destruction closes the namespace
// fd; the kernel removes the namespace once no process is in it and no fd
// refers to it, so a killed broker leaves nothing behind.
//
// The broker never enters the namespace: a short-lived child creates it and
// hands back its fd and a netlink socket opened inside it.
class IsolatedNetwork {
 public:
  // kProxy also makes a TCP socket of the namespace listening on
  // 127.0.0.1, for the egress proxy: the workload reaches it, the broker
  // serves it from outside.
  enum class Listener { kNone, kProxy };

  // Every error removes what was already made: no fd or child process is
  // left behind.
  static absl::StatusOr<std::unique_ptr<IsolatedNetwork>> Create(
      Listener listener = Listener::kNone);

  // A namespace made elsewhere: a non-root broker's sandbox gets a network
  // namespace of its user namespace at clone time (one of the host's user
  // namespace could not be joined without CAP_SYS_ADMIN there), and its
  // cloned child brings loopback up and makes the proxy's listener.
  static std::unique_ptr<IsolatedNetwork> Adopt(UniqueFd netns_fd, UniqueFd proxy_listener,
                                                uint16_t proxy_port);

  IsolatedNetwork(const IsolatedNetwork&) = delete;
  IsolatedNetwork& operator=(const IsolatedNetwork&) = delete;
  ~IsolatedNetwork() = default;

  // Closes the namespace fd now; only the first call does anything.
  void Destroy() { netns_fd_.reset(); }

  // O_CLOEXEC fd of the namespace, to pass to the stub, which setns()es into
  // it. -1 after Destroy().
  int netns_fd() const { return netns_fd_.get(); }

  // With Listener::kProxy: the listening socket (once; invalid afterwards)
  // and its port on 127.0.0.1 inside the namespace.
  UniqueFd TakeProxyListener() { return std::move(proxy_listener_); }
  uint16_t proxy_port() const { return proxy_port_; }

 private:
  friend class IsolatedNetworkTestPeer;

  // Create's steps, in order. Tests make Create fail right after one of
  // them to prove that each error path undoes the steps before it.
  enum class Step { kNone, kNamespace, kLoopbackUp, kProxyListener };

  static absl::StatusOr<std::unique_ptr<IsolatedNetwork>> CreateImpl(Listener listener,
                                                                     Step fail_after);

  IsolatedNetwork() = default;

  UniqueFd netns_fd_;
  UniqueFd proxy_listener_;
  uint16_t proxy_port_ = 0;
};

// Brings `lo` up in the caller's own network namespace, through libnl.
absl::Status BringLoopbackUpHere();

// Binds the TCP socket `fd` of a sandbox's namespace to 127.0.0.1 on a
// port the kernel picks (the namespace is the sandbox's own, so no port
// can collide) and listens; returns the port.
absl::StatusOr<uint16_t> ListenOnLoopback(int fd);

}  // namespace tether::broker

#endif  // TETHER_BROKER_NETNS_H_
