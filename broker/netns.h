#ifndef TETHER_BROKER_NETNS_H_
#define TETHER_BROKER_NETNS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ipc/unique_fd.h"
#include "policy/policy_types.h"

namespace tether::broker {

// The two ends of a point-to-point IPv4 link, each "address/prefix".
struct VethAddresses {
  std::string host_cidr;     // e.g. "10.200.0.1/30"
  std::string sandbox_cidr;  // e.g. "10.200.0.2/30"
};

// Splits a /30 or /31 subnet between the two ends of a veth pair:
// "10.200.0.0/30" gives host 10.200.0.1/30 and sandbox 10.200.0.2/30 (the
// network and broadcast addresses stay unused); "10.200.0.0/31" gives host
// 10.200.0.0/31 and sandbox 10.200.0.1/31 (RFC 3021). Bad syntax, another
// prefix length or host bits set are InvalidArgumentError naming the problem.
absl::StatusOr<VethAddresses> ParseVethSubnet(absl::string_view subnet);

// The same split for a subnet already parsed (policy::ParseIpv4Subnet).
VethAddresses VethAddressesFor(const policy::Ipv4Subnet& subnet);

class VethPair;  // netns.cc: owns the pair, deletes it when destroyed

// A network namespace the broker created and owns, with loopback up and one
// veth pair: the host end in the broker's namespace, the sandbox end inside,
// both up with their addresses. Destruction removes the veth pair (deleting
// the host end deletes both) and closes the namespace fd; the namespace
// itself disappears when no process is in it and no fd refers to it.
//
// The broker never enters the namespace: a short-lived child creates it and
// hands back its fd and a netlink socket opened inside it.
class IsolatedNetwork {
 public:
  // The sandbox end's name inside the namespace.
  static constexpr char kSandboxIfname[] = "eth0";

  // `host_ifname` names the host end (1 to 15 bytes, no '/', ':' or
  // whitespace, e.g. "tth<pid>") and must not exist yet. `addresses` must be
  // one /30 or /31 as ParseVethSubnet makes them. Every error removes what
  // was already made: no interface, fd or child process is left behind.
  static absl::StatusOr<std::unique_ptr<IsolatedNetwork>> Create(const std::string& host_ifname,
                                                                 const VethAddresses& addresses);

  IsolatedNetwork(const IsolatedNetwork&) = delete;
  IsolatedNetwork& operator=(const IsolatedNetwork&) = delete;
  ~IsolatedNetwork();

  // Deletes the veth pair and closes the namespace fd now, reporting what
  // went wrong; the destructor does the same and drops the error. Only the
  // first call does anything. If the deletion fails the fd is still closed:
  // once no process is left inside, the kernel tears the namespace down and
  // deletes the pair with it.
  absl::Status Destroy();

  // O_CLOEXEC fd of the namespace, to pass to the stub, which setns()es into
  // it. -1 after Destroy().
  int netns_fd() const { return netns_fd_.get(); }
  const std::string& host_ifname() const { return host_ifname_; }
  const std::string& sandbox_ifname() const { return sandbox_ifname_; }
  const VethAddresses& addresses() const { return addresses_; }

 private:
  friend class IsolatedNetworkTestPeer;

  // Create's steps, in order. Tests make Create fail right after one of
  // them to prove that each error path undoes the steps before it.
  enum class Step {
    kNone,
    kNamespace,
    kVethPair,
    kHostAddress,
    kHostUp,
    kLoopbackUp,
    kSandboxAddress,
    kSandboxUp,
  };

  static absl::StatusOr<std::unique_ptr<IsolatedNetwork>> CreateImpl(const std::string& host_ifname,
                                                                     const VethAddresses& addresses,
                                                                     Step fail_after);

  IsolatedNetwork(std::string host_ifname, VethAddresses addresses);

  std::string host_ifname_;
  std::string sandbox_ifname_ = kSandboxIfname;
  VethAddresses addresses_;
  UniqueFd netns_fd_;
  // Declared after netns_fd_ so that it goes first: the pair is deleted
  // while the namespace is still pinned and cannot take it away first.
  std::unique_ptr<VethPair> veth_;
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_NETNS_H_
