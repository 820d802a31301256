#include "broker/netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
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

#include "absl/memory/memory.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "ipc/fd_passing.h"

namespace tether::broker {
namespace {

// ---------------------------------------------------------------------------
// Names and addresses.

// The kernel's own rule (dev_valid_name), minus non-ASCII bytes.
absl::Status ValidateIfname(absl::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(absl::StrCat("interface name '", name, "' must be 1 to ",
                                                   IFNAMSIZ - 1, " bytes, not ", name.size()));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("interface name '", name, "' is reserved"));
  }
  for (char c : name) {
    if (c == '/' || c == ':' || !absl::ascii_isgraph(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("interface name '", absl::CHexEscape(name),
                       "' may not contain '/', ':', whitespace or non-printable bytes"));
    }
  }
  return absl::OkStatus();
}

using policy::Ipv4Cidr;
using policy::Netmask;
using policy::ParseIpv4Cidr;

// Both ends of one /30 or /31, distinct, neither the network nor the
// broadcast address of a /30.
absl::Status ValidateAddresses(const VethAddresses& addresses, Ipv4Cidr* host, Ipv4Cidr* sandbox) {
  absl::StatusOr<Ipv4Cidr> parsed_host = ParseIpv4Cidr(addresses.host_cidr);
  if (!parsed_host.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("host address: ", parsed_host.status().message()));
  }
  absl::StatusOr<Ipv4Cidr> parsed_sandbox = ParseIpv4Cidr(addresses.sandbox_cidr);
  if (!parsed_sandbox.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox address: ", parsed_sandbox.status().message()));
  }
  *host = *parsed_host;
  *sandbox = *parsed_sandbox;
  const std::string both = absl::StrCat(addresses.host_cidr, " and ", addresses.sandbox_cidr);
  if ((host->prefix != 30 && host->prefix != 31) || host->prefix != sandbox->prefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("veth addresses ", both, " are not both /30 or both /31"));
  }
  const uint32_t mask = Netmask(host->prefix);
  if ((host->address & mask) != (sandbox->address & mask) || host->address == sandbox->address) {
    return absl::InvalidArgumentError(
        absl::StrCat("veth addresses ", both, " are not two different addresses of one subnet"));
  }
  if (host->prefix == 30) {
    for (uint32_t address : {host->address, sandbox->address}) {
      if ((address & 3) == 0 || (address & 3) == 3) {
        return absl::InvalidArgumentError(
            absl::StrCat("veth addresses ", both, ": ", policy::FormatIpv4Cidr(address, 30),
                         " is the network or broadcast address of its /30"));
      }
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// libnl, with the kernel's errno kept.

struct LinkDeleter {
  void operator()(struct rtnl_link* link) const { rtnl_link_put(link); }
};
struct AddrDeleter {
  void operator()(struct rtnl_addr* addr) const { rtnl_addr_put(addr); }
};
struct NlAddrDeleter {
  void operator()(struct nl_addr* addr) const { nl_addr_put(addr); }
};
using LinkPtr = std::unique_ptr<struct rtnl_link, LinkDeleter>;
using AddrPtr = std::unique_ptr<struct rtnl_addr, AddrDeleter>;
using NlAddrPtr = std::unique_ptr<struct nl_addr, NlAddrDeleter>;

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

  // A socket in the caller's own namespace, with its own copy of SOCK_CLOEXEC
  // (libnl's nl_connect sets it only in some versions).
  static absl::StatusOr<std::unique_ptr<RouteSocket>> OpenHere(std::string where) {
    UniqueFd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!fd.valid()) return ErrnoStatus(errno, "socket(AF_NETLINK, NETLINK_ROUTE)");
    struct sockaddr_nl local = {};
    local.nl_family = AF_NETLINK;  // port 0: the kernel picks a free one
    if (bind(fd.get(), reinterpret_cast<struct sockaddr*>(&local), sizeof(local)) != 0) {
      return ErrnoStatus(errno, "bind(AF_NETLINK)");
    }
    return Adopt(std::move(fd), std::move(where));
  }

  RouteSocket(const RouteSocket&) = delete;
  RouteSocket& operator=(const RouteSocket&) = delete;
  ~RouteSocket() { nl_socket_free(sock_); }

  int fd() const { return nl_socket_get_fd(sock_); }
  const std::string& where() const { return where_; }
  // The errno of the kernel's answer to the last Run, 0 if it accepted.
  int kernel_errno() const { return kernel_errno_; }

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

absl::Status AddIpv4Address(RouteSocket& socket, int ifindex, absl::string_view ifname,
                            const Ipv4Cidr& cidr) {
  const uint32_t network_order = htonl(cidr.address);
  NlAddrPtr local(nl_addr_build(AF_INET, &network_order, sizeof(network_order)));
  AddrPtr addr(rtnl_addr_alloc());
  if (local == nullptr || addr == nullptr) return OutOfMemory("rtnl_addr_alloc");
  nl_addr_set_prefixlen(local.get(), cidr.prefix);
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  const std::string what = absl::StrCat(
      "rtnl_addr_add(", policy::FormatIpv4Cidr(cidr.address, cidr.prefix), " on ", ifname, ")");
  int result = rtnl_addr_set_local(addr.get(), local.get());  // also sets the prefix length
  if (result < 0) return absl::InternalError(absl::StrCat(what, ": libnl: ", nl_geterror(result)));
  return socket.Run(what, [&](struct nl_sock* sock) { return rtnl_addr_add(sock, addr.get(), 0); });
}

// ---------------------------------------------------------------------------
// The namespace itself.

// What the namespace child says: the call that failed (kOk if none) and its errno.
enum ChildCall : int32_t { kOk, kUnshare, kOpenNamespace, kSocket, kBind };
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
    default: return "an unknown call";
  }
}

// Makes a new namespace and sends back its fd and a netlink socket opened
// inside it. Only async-signal-safe calls: the broker may have threads.
[[noreturn]] void RunNamespaceChild(int socket_fd) {
  ChildReport report = {kOk, 0};
  int fds[2] = {-1, -1};
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
  }
  // If this fails the parent reads EOF and says the child did not report.
  ipc::SendWithFds(socket_fd, &report, sizeof(report), fds, report.call == kOk ? 2 : 0);
  _exit(0);
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::StrCat("wait status ", status);
}

// Receives the child's report and reaps the child. The fds that arrive are
// owned from the start, so none leaks whatever else is wrong with the report.
absl::Status ReceiveChildReport(int socket_fd, pid_t child, UniqueFd* netns_fd,
                                UniqueFd* route_fd) {
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
  if (datagram.fds.size() != 2) {
    return absl::InternalError(
        absl::StrCat("the namespace child sent ", datagram.fds.size(), " fds instead of 2"));
  }
  *netns_fd = std::move(datagram.fds[0]);
  *route_fd = std::move(datagram.fds[1]);
  return absl::OkStatus();
}

// A new network namespace, made without moving the broker into it: a
// short-lived child unshare()s and sends back the namespace's fd and a
// NETLINK_ROUTE socket opened inside, through which the broker configures
// the inside from where it is.
absl::Status MakeNamespace(UniqueFd* netns_fd, UniqueFd* route_fd) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return ErrnoStatus(errno, "socketpair(AF_UNIX, SOCK_SEQPACKET)");
  }
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  pid_t child = fork();
  if (child < 0) return ErrnoStatus(errno, "fork");
  if (child == 0) RunNamespaceChild(theirs.get());
  theirs.reset();  // the child's exit then reads as EOF
  return ReceiveChildReport(ours.get(), child, netns_fd, route_fd);
}

}  // namespace

// ---------------------------------------------------------------------------
// The veth pair.

// One veth pair, known by its host end: deleting that end deletes the peer
// wherever it lives. Deleted on destruction. It keeps its own netlink socket
// so that the deletion needs no new fd.
class VethPair {
 public:
  // Creates `host_ifname` in the broker's namespace and its peer
  // `sandbox_ifname` directly inside `netns_fd`, in one request: the peer
  // never exists in the broker's namespace, where its name could clash.
  static absl::StatusOr<std::unique_ptr<VethPair>> Create(const std::string& host_ifname,
                                                          const std::string& sandbox_ifname,
                                                          int netns_fd) {
    ASSIGN_OR_RETURN(std::unique_ptr<RouteSocket> socket,
                     RouteSocket::OpenHere("in the broker's namespace"));
    LinkPtr link(rtnl_link_veth_alloc());
    if (link == nullptr) return OutOfMemory("rtnl_link_veth_alloc");
    rtnl_link_set_name(link.get(), host_ifname.c_str());
    LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
    rtnl_link_set_name(peer.get(), sandbox_ifname.c_str());
    rtnl_link_set_ns_fd(peer.get(), netns_fd);
    RETURN_IF_ERROR(socket->Run(absl::StrCat("rtnl_link_add(veth ", host_ifname, ", peer ",
                                             sandbox_ifname, " inside the new namespace)"),
                                [&](struct nl_sock* sock) {
                                  return rtnl_link_add(sock, link.get(), NLM_F_CREATE | NLM_F_EXCL);
                                }));
    // Owned from here on: an error below deletes it (by name until the
    // index is known).
    std::unique_ptr<VethPair> pair(new VethPair(std::move(socket), host_ifname));
    ASSIGN_OR_RETURN(int ifindex, LinkIndex(*pair->socket_, host_ifname));
    pair->host_ifindex_ = ifindex;
    return pair;
  }

  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;
  ~VethPair() { (void)Delete(); }

  // Deletes the pair; gone already (ENODEV) counts as done. Tried once.
  absl::Status Delete() {
    if (deleted_) return absl::OkStatus();
    deleted_ = true;
    LinkPtr link(rtnl_link_alloc());
    if (link == nullptr) return OutOfMemory("rtnl_link_alloc");
    // By index, not by name: a name can be reused by someone else's link.
    if (host_ifindex_ > 0) {
      rtnl_link_set_ifindex(link.get(), host_ifindex_);
    } else {
      rtnl_link_set_name(link.get(), host_ifname_.c_str());
    }
    absl::Status status =
        socket_->Run(absl::StrCat("rtnl_link_delete(", host_ifname_, ")"),
                     [&](struct nl_sock* sock) { return rtnl_link_delete(sock, link.get()); });
    if (!status.ok() && socket_->kernel_errno() == ENODEV) return absl::OkStatus();
    return status;
  }

  RouteSocket& host_socket() { return *socket_; }
  int host_ifindex() const { return host_ifindex_; }

 private:
  VethPair(std::unique_ptr<RouteSocket> socket, std::string host_ifname)
      : socket_(std::move(socket)), host_ifname_(std::move(host_ifname)) {}

  std::unique_ptr<RouteSocket> socket_;  // in the broker's namespace
  std::string host_ifname_;
  int host_ifindex_ = 0;
  bool deleted_ = false;
};

// ---------------------------------------------------------------------------
// Parsing.

absl::StatusOr<VethAddresses> ParseVethSubnet(absl::string_view subnet) {
  ASSIGN_OR_RETURN(policy::Ipv4Subnet parsed, policy::ParseIpv4Subnet(subnet));
  return VethAddressesFor(parsed);
}

VethAddresses VethAddressesFor(const policy::Ipv4Subnet& subnet) {
  // A /31 has no network or broadcast address to skip (RFC 3021).
  const int prefix = subnet.prefix_length;
  const uint32_t first = prefix == 30 ? subnet.network + 1 : subnet.network;
  return VethAddresses{policy::FormatIpv4Cidr(first, prefix),
                       policy::FormatIpv4Cidr(first + 1, prefix)};
}

// ---------------------------------------------------------------------------
// IsolatedNetwork.

IsolatedNetwork::IsolatedNetwork(std::string host_ifname, VethAddresses addresses)
    : host_ifname_(std::move(host_ifname)), addresses_(std::move(addresses)) {}

IsolatedNetwork::~IsolatedNetwork() { (void)Destroy(); }

absl::Status IsolatedNetwork::Destroy() {
  absl::Status status;
  if (veth_ != nullptr) status = veth_->Delete();
  veth_.reset();
  netns_fd_.reset();
  return status;
}

absl::StatusOr<std::unique_ptr<IsolatedNetwork>> IsolatedNetwork::Create(
    const std::string& host_ifname, const VethAddresses& addresses) {
  return CreateImpl(host_ifname, addresses, Step::kNone);
}

absl::StatusOr<std::unique_ptr<IsolatedNetwork>> IsolatedNetwork::CreateImpl(
    const std::string& host_ifname, const VethAddresses& addresses, Step fail_after) {
  RETURN_IF_ERROR(ValidateIfname(host_ifname));
  Ipv4Cidr host_cidr;
  Ipv4Cidr sandbox_cidr;
  RETURN_IF_ERROR(ValidateAddresses(addresses, &host_cidr, &sandbox_cidr));

  // Everything made from here on belongs to `network` (or to a local RAII
  // object), so each early return undoes it.
  std::unique_ptr<IsolatedNetwork> network(new IsolatedNetwork(host_ifname, addresses));
  auto injected = [fail_after](Step step, absl::string_view name) {
    return step == fail_after ? absl::AbortedError(absl::StrCat("injected failure after ", name))
                              : absl::OkStatus();
  };

  UniqueFd route_fd;
  RETURN_IF_ERROR(MakeNamespace(&network->netns_fd_, &route_fd));
  ASSIGN_OR_RETURN(std::unique_ptr<RouteSocket> inside,
                   RouteSocket::Adopt(std::move(route_fd), "in the new namespace"));
  RETURN_IF_ERROR(injected(Step::kNamespace, "the namespace"));

  ASSIGN_OR_RETURN(
      std::unique_ptr<VethPair> veth,
      VethPair::Create(host_ifname, network->sandbox_ifname_, network->netns_fd_.get()));
  network->veth_ = std::move(veth);
  RETURN_IF_ERROR(injected(Step::kVethPair, "the veth pair"));

  RouteSocket& outside = network->veth_->host_socket();
  const int host_ifindex = network->veth_->host_ifindex();
  RETURN_IF_ERROR(AddIpv4Address(outside, host_ifindex, host_ifname, host_cidr));
  RETURN_IF_ERROR(injected(Step::kHostAddress, "the host address"));

  RETURN_IF_ERROR(SetLinkUp(outside, host_ifindex, host_ifname));
  RETURN_IF_ERROR(injected(Step::kHostUp, "the host end up"));

  // A new namespace's loopback is down; most workloads expect it up.
  ASSIGN_OR_RETURN(int loopback, LinkIndex(*inside, "lo"));
  RETURN_IF_ERROR(SetLinkUp(*inside, loopback, "lo"));
  RETURN_IF_ERROR(injected(Step::kLoopbackUp, "loopback up"));

  ASSIGN_OR_RETURN(int sandbox_ifindex, LinkIndex(*inside, network->sandbox_ifname_));
  RETURN_IF_ERROR(AddIpv4Address(*inside, sandbox_ifindex, network->sandbox_ifname_, sandbox_cidr));
  RETURN_IF_ERROR(injected(Step::kSandboxAddress, "the sandbox address"));

  RETURN_IF_ERROR(SetLinkUp(*inside, sandbox_ifindex, network->sandbox_ifname_));
  RETURN_IF_ERROR(injected(Step::kSandboxUp, "the sandbox end up"));

  return network;
}

}  // namespace tether::broker
