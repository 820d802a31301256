#include "broker/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "ipc/fd_passing.h"
#include "kernel/spawn.h"

namespace tether::broker {
namespace {

// ---------------------------------------------------------------------------
// libnl, with the kernel's errno kept.

struct LinkDeleter {
  void operator()(struct rtnl_link* link) const { rtnl_link_put(link); }
};
using LinkPtr = std::unique_ptr<struct rtnl_link, LinkDeleter>;

absl::Status OutOfMemory(absl::string_view call) {
  return absl::ResourceExhaustedError(absl::StrCat(call, ": out of memory"));
}

// A libnl NETLINK_ROUTE socket. It talks to the namespace it was opened in,
// whichever namespace its user is in. Heap-only: libnl's error callback
// keeps a pointer to it.
class RouteSocket {
 public:
  // Takes `fd`, a bound NETLINK_ROUTE socket; `where` ends error messages.
  static absl::StatusOr<std::unique_ptr<RouteSocket>> Adopt(UniqueFd fd, std::string where) {
    struct nl_sock* sock = nl_socket_alloc();
    if (sock == nullptr) return OutOfMemory("nl_socket_alloc");
    std::unique_ptr<RouteSocket> socket(new RouteSocket(sock, std::move(where)));
    int result = nl_socket_set_fd(sock, NETLINK_ROUTE, fd.get());
    if (result < 0) {
      return absl::InternalError(
          absl::StrCat("nl_socket_set_fd ", socket->where_, ": libnl: ", nl_geterror(result)));
    }
    fd.release();  // nl_socket_free closes it now
    // libnl turns the kernel's errno into its own codes, which lose detail
    // (EPERM and EACCES are one); keep the errno itself.
    nl_socket_modify_err_cb(sock, NL_CB_CUSTOM, &RouteSocket::OnKernelError, socket.get());
    return socket;
  }

  RouteSocket(const RouteSocket&) = delete;
  RouteSocket& operator=(const RouteSocket&) = delete;
  ~RouteSocket() { nl_socket_free(sock_); }

  int fd() const { return nl_socket_get_fd(sock_); }
  const std::string& where() const { return where_; }

  // Runs `call(nl_sock*)`, a libnl request that waits for the kernel's
  // answer, and names `what` and the errno in the error.
  template <typename Call>
  absl::Status Run(absl::string_view what, Call call) {
    kernel_errno_ = 0;
    int result = call(sock_);
    if (result >= 0) return absl::OkStatus();
    if (kernel_errno_ != 0) return ErrnoStatus(kernel_errno_, absl::StrCat(what, " ", where_));
    return absl::InternalError(absl::StrCat(what, " ", where_, ": libnl: ", nl_geterror(result),
                                            " (libnl error ", -result,
                                            ", before the kernel answered)"));
  }

 private:
  RouteSocket(struct nl_sock* sock, std::string where) : sock_(sock), where_(std::move(where)) {}

  static int OnKernelError(struct sockaddr_nl*, struct nlmsgerr* error, void* arg) {
    static_cast<RouteSocket*>(arg)->kernel_errno_ = -error->error;
    return NL_STOP;  // libnl then returns its own code for the same error
  }

  struct nl_sock* sock_;
  std::string where_;
  int kernel_errno_ = 0;
};

// Asks the socket's own namespace, so it works for either side; libnl's
// rtnl_link_get_kernel would lose the errno.
absl::StatusOr<int> LinkIndex(RouteSocket& socket, const std::string& ifname) {
  struct ifreq request = {};
  memcpy(request.ifr_name, ifname.data(), std::min(ifname.size(), sizeof(request.ifr_name) - 1));
  if (ioctl(socket.fd(), SIOCGIFINDEX, &request) != 0) {
    return ErrnoStatus(errno, absl::StrCat("ioctl(SIOCGIFINDEX, ", ifname, ") ", socket.where()));
  }
  return request.ifr_ifindex;
}

absl::Status SetLinkUp(RouteSocket& socket, int ifindex, absl::string_view ifname) {
  LinkPtr link(rtnl_link_alloc());
  LinkPtr changes(rtnl_link_alloc());
  if (link == nullptr || changes == nullptr) return OutOfMemory("rtnl_link_alloc");
  rtnl_link_set_ifindex(link.get(), ifindex);
  rtnl_link_set_flags(changes.get(), IFF_UP);
  return socket.Run(absl::StrCat("rtnl_link_change(", ifname, " up)"), [&](struct nl_sock* sock) {
    return rtnl_link_change(sock, link.get(), changes.get(), 0);
  });
}

// A new namespace's loopback is down; most workloads expect it up.
absl::Status BringLoopbackUp(UniqueFd route_fd, std::string where) {
  ASSIGN_OR_RETURN(std::unique_ptr<RouteSocket> socket,
                   RouteSocket::Adopt(std::move(route_fd), std::move(where)));
  ASSIGN_OR_RETURN(int loopback, LinkIndex(*socket, "lo"));
  return SetLinkUp(*socket, loopback, "lo");
}

// ---------------------------------------------------------------------------
// The namespace itself.

// What the namespace child says: the call that failed (kOk if none) and its errno.
enum ChildCall : int32_t { kOk, kUnshare, kOpenNamespace, kSocket, kBind, kTcpSocket };
struct ChildReport {
  int32_t call;
  int32_t error;
};

const char* ChildCallName(int32_t call) {
  switch (call) {
    case kUnshare: return "unshare(CLONE_NEWNET)";
    case kOpenNamespace: return "open(/proc/self/ns/net)";
    case kSocket: return "socket(AF_NETLINK, NETLINK_ROUTE)";
    case kBind: return "bind(AF_NETLINK)";
    case kTcpSocket: return "socket(AF_INET, SOCK_STREAM)";
    default: return "an unknown call";
  }
}

// Makes a new namespace and sends back its fd, a netlink socket opened
// inside it and, when asked, a TCP socket of the namespace (bound later,
// once loopback is up). Only system calls, no allocation: it runs in the
// broker's memory (MakeNamespace), and the broker may have threads.
[[noreturn]] void RunNamespaceChild(int socket_fd, bool tcp_socket) {
  ChildReport report = {kOk, 0};
  int fds[3] = {-1, -1, -1};
  struct sockaddr_nl local = {};
  local.nl_family = AF_NETLINK;
  if (unshare(CLONE_NEWNET) != 0) {
    report = {kUnshare, errno};
  } else if ((fds[0] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) {
    report = {kOpenNamespace, errno};
  } else if ((fds[1] = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0) {
    report = {kSocket, errno};
  } else if (bind(fds[1], reinterpret_cast<struct sockaddr*>(&local), sizeof(local)) != 0) {
    report = {kBind, errno};
  } else if (tcp_socket && (fds[2] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
    report = {kTcpSocket, errno};
  }
  int sent = report.call != kOk ? 0 : tcp_socket ? 3 : 2;
  // If this fails the parent reads EOF and says the child did not report.
  ipc::SendWithFds(socket_fd, &report, sizeof(report), fds, sent);
  _exit(0);
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::StrCat("wait status ", status);
}

// Receives the child's report and reaps the child. The fds that arrive are
// owned from the start, so none leaks whatever else is wrong with the report.
absl::Status ReceiveChildReport(int socket_fd, pid_t child, UniqueFd* netns_fd, UniqueFd* route_fd,
                                UniqueFd* tcp_fd) {
  ChildReport report = {};
  ipc::Datagram datagram = ipc::ReceiveWithFds(socket_fd, &report, sizeof(report));
  int wait_status = 0;
  while (waitpid(child, &wait_status, 0) < 0 && errno == EINTR) {
  }

  if (datagram.size < 0) {
    return ErrnoStatus(datagram.errno_value, "recvmsg from the namespace child");
  }
  if (datagram.size == 0) {
    return absl::InternalError(absl::StrCat("the namespace child ", DescribeWaitStatus(wait_status),
                                            " without reporting"));
  }
  if (datagram.size != sizeof(report) || (datagram.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    return absl::InternalError(
        absl::StrCat("the namespace child's report is malformed (", datagram.size, " bytes)"));
  }
  if (report.call != kOk) {
    return ErrnoStatus(report.error,
                       absl::StrCat(ChildCallName(report.call), " in the namespace child"));
  }
  size_t expected = tcp_fd != nullptr ? 3 : 2;
  if (datagram.fds.size() != expected) {
    return absl::InternalError(absl::StrCat("the namespace child sent ", datagram.fds.size(),
                                            " fds instead of ", expected));
  }
  *netns_fd = std::move(datagram.fds[0]);
  *route_fd = std::move(datagram.fds[1]);
  if (tcp_fd != nullptr) *tcp_fd = std::move(datagram.fds[2]);
  return absl::OkStatus();
}

// A new network namespace, made without moving the broker into it: a
// short-lived child unshare()s and sends back the namespace's fd and a
// NETLINK_ROUTE socket opened inside, through which the broker configures
// the inside from where it is. `tcp_fd`, when not null, receives a TCP
// socket of the new namespace.
absl::Status MakeNamespace(UniqueFd* netns_fd, UniqueFd* route_fd, UniqueFd* tcp_fd) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return ErrnoStatus(errno, "socketpair(AF_UNIX, SOCK_SEQPACKET)");
  }
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  // The child makes five system calls: it borrows the broker's memory
  // instead of copying it (kernel/spawn.h), with every signal blocked.
  struct ChildArguments {
    int socket_fd;
    bool tcp_socket;
  } arguments = {theirs.get(), tcp_fd != nullptr};
  auto child_main = [](void* raw) -> int {
    auto* given = static_cast<ChildArguments*>(raw);
    RunNamespaceChild(given->socket_fd, given->tcp_socket);
  };
  pid_t child = kernel::CloneSharingMemory(child_main, &arguments);
  if (child < 0) return ErrnoStatus(-child, "clone(CLONE_VM | CLONE_VFORK)");
  theirs.reset();  // had the child not reported, its exit reads as EOF
  return ReceiveChildReport(ours.get(), child, netns_fd, route_fd, tcp_fd);
}

}  // namespace

absl::Status BringLoopbackUpHere() {
  UniqueFd route(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!route.valid()) return ErrnoStatus(errno, "socket(AF_NETLINK, NETLINK_ROUTE)");
  struct sockaddr_nl local = {};
  local.nl_family = AF_NETLINK;
  if (bind(route.get(), reinterpret_cast<struct sockaddr*>(&local), sizeof(local)) != 0) {
    return ErrnoStatus(errno, "bind(AF_NETLINK)");
  }
  return BringLoopbackUp(std::move(route), "in the sandbox's namespace");
}

// Binds a TCP socket of the namespace to 127.0.0.1 on a port the kernel picks
// (the namespace is the sandbox's own, so no port can collide) and listens.
absl::StatusOr<uint16_t> ListenOnLoopback(int fd) {
  struct sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&address), sizeof(address)) != 0) {
    return ErrnoStatus(errno, "bind(127.0.0.1:0) in the new namespace");
  }
  if (listen(fd, 128) != 0) return ErrnoStatus(errno, "listen in the new namespace");
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&address), &length) != 0) {
    return ErrnoStatus(errno, "getsockname of the proxy listener");
  }
  return ntohs(address.sin_port);
}

// ---------------------------------------------------------------------------
// IsolatedNetwork.

std::unique_ptr<IsolatedNetwork> IsolatedNetwork::Adopt(UniqueFd netns_fd, UniqueFd proxy_listener,
                                                        uint16_t proxy_port) {
  std::unique_ptr<IsolatedNetwork> network(new IsolatedNetwork());
  network->netns_fd_ = std::move(netns_fd);
  network->proxy_listener_ = std::move(proxy_listener);
  network->proxy_port_ = proxy_port;
  return network;
}

absl::StatusOr<std::unique_ptr<IsolatedNetwork>> IsolatedNetwork::Create(Listener listener) {
  return CreateImpl(listener, Step::kNone);
}

absl::StatusOr<std::unique_ptr<IsolatedNetwork>> IsolatedNetwork::CreateImpl(Listener listener,
                                                                             Step fail_after) {
  // Everything made from here on belongs to `network` (or to a local RAII
  // object), so each early return undoes it.
  std::unique_ptr<IsolatedNetwork> network(new IsolatedNetwork());
  auto injected = [fail_after](Step step, absl::string_view name) {
    return step == fail_after ? absl::AbortedError(absl::StrCat("injected failure after ", name))
                              : absl::OkStatus();
  };

  UniqueFd route_fd;
  bool with_listener = listener == Listener::kProxy;
  RETURN_IF_ERROR(MakeNamespace(&network->netns_fd_, &route_fd,
                                with_listener ? &network->proxy_listener_ : nullptr));
  RETURN_IF_ERROR(injected(Step::kNamespace, "the namespace"));

  RETURN_IF_ERROR(BringLoopbackUp(std::move(route_fd), "in the new namespace"));
  RETURN_IF_ERROR(injected(Step::kLoopbackUp, "loopback up"));
  if (with_listener) {
    ASSIGN_OR_RETURN(network->proxy_port_, ListenOnLoopback(network->proxy_listener_.get()));
    RETURN_IF_ERROR(injected(Step::kProxyListener, "the proxy listener"));
  }
  return network;
}

}  // namespace tether::broker
