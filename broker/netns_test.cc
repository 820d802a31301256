// IsolatedNetwork on the real kernel, as root with CAP_NET_ADMIN in the
// initial network namespace. The tests look at the result from the outside
// (/sys/class/net, getifaddrs) and from a child that setns()es inside.

#include "broker/netns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "ipc/unique_fd.h"

namespace tether::broker {

class IsolatedNetworkTestPeer {
 public:
  using Step = IsolatedNetwork::Step;
  static absl::StatusOr<std::unique_ptr<IsolatedNetwork>> CreateFailingAfter(
      const std::string& host_ifname, const VethAddresses& addresses, Step step) {
    return IsolatedNetwork::CreateImpl(host_ifname, addresses, step);
  }
};

namespace {

// Without gmock (not among the Debian packages ./dev installs).
std::vector<std::string> Sorted(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  return items;
}

::testing::AssertionResult Contains(const char* text_expr, const char* part_expr,
                                    absl::string_view text, absl::string_view part) {
  if (absl::StrContains(text, part)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << text_expr << " (\"" << text << "\") does not contain " << part_expr;
}

// ---------------------------------------------------------------------------
// ParseVethSubnet.

TEST(ParseVethSubnetTest, ParsesA30) {
  absl::StatusOr<VethAddresses> addresses = ParseVethSubnet("10.200.0.0/30");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_EQ(addresses->host_cidr, "10.200.0.1/30");
  EXPECT_EQ(addresses->sandbox_cidr, "10.200.0.2/30");

  addresses = ParseVethSubnet("192.168.255.252/30");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_EQ(addresses->host_cidr, "192.168.255.253/30");
  EXPECT_EQ(addresses->sandbox_cidr, "192.168.255.254/30");
}

TEST(ParseVethSubnetTest, ParsesA31) {
  absl::StatusOr<VethAddresses> addresses = ParseVethSubnet("10.200.0.0/31");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_EQ(addresses->host_cidr, "10.200.0.0/31");
  EXPECT_EQ(addresses->sandbox_cidr, "10.200.0.1/31");

  addresses = ParseVethSubnet("10.200.0.254/31");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_EQ(addresses->host_cidr, "10.200.0.254/31");
  EXPECT_EQ(addresses->sandbox_cidr, "10.200.0.255/31");
}

TEST(ParseVethSubnetTest, RejectsPrefixOtherThan30Or31) {
  for (const char* subnet :
       {"10.200.0.0/29", "10.200.0.0/32", "10.200.0.0/24", "0.0.0.0/0", "10.200.0.0/8"}) {
    absl::StatusOr<VethAddresses> addresses = ParseVethSubnet(subnet);
    ASSERT_FALSE(addresses.ok()) << subnet;
    EXPECT_EQ(addresses.status().code(), absl::StatusCode::kInvalidArgument) << subnet;
    EXPECT_PRED_FORMAT2(Contains, addresses.status().message(), "is not /30 or /31") << subnet;
    EXPECT_PRED_FORMAT2(Contains, addresses.status().message(), subnet);
  }
}

TEST(ParseVethSubnetTest, RejectsHostBitsSet) {
  for (const char* subnet : {"10.200.0.1/30", "10.200.0.2/30", "10.200.0.3/30", "10.200.0.1/31"}) {
    absl::StatusOr<VethAddresses> addresses = ParseVethSubnet(subnet);
    ASSERT_FALSE(addresses.ok()) << subnet;
    EXPECT_EQ(addresses.status().code(), absl::StatusCode::kInvalidArgument) << subnet;
    EXPECT_PRED_FORMAT2(Contains, addresses.status().message(), "host bits are set") << subnet;
  }
  EXPECT_PRED_FORMAT2(Contains, ParseVethSubnet("10.200.0.1/30").status().message(),
                      "the subnet is 10.200.0.0/30");
}

TEST(ParseVethSubnetTest, RejectsGarbage) {
  for (const char* subnet : {"",
                             "garbage",
                             "10.200.0.0",
                             "10.200.0.0/",
                             "/30",
                             "10.200.0/30",
                             "10.200.0.0.0/30",
                             "10.200.0.0/30/30",
                             "10.256.0.0/30",
                             "010.200.0.0/30",
                             "0x0a.200.0.0/30",
                             "10.200.0.0/030",
                             "10.200.0.0/+3",
                             "10.200.0.0/ 30",
                             "10.200.0.0/30 ",
                             " 10.200.0.0/30",
                             "10.200.0.0/3x",
                             "10.200.0.0/33",
                             "10.200.0.0/99",
                             "fd00::/127",
                             "10.200.0.0\n/30"}) {
    absl::StatusOr<VethAddresses> addresses = ParseVethSubnet(subnet);
    ASSERT_FALSE(addresses.ok()) << "'" << subnet << "'";
    EXPECT_EQ(addresses.status().code(), absl::StatusCode::kInvalidArgument) << subnet;
    EXPECT_PRED_FORMAT2(Contains, addresses.status().message(), "veth subnet") << subnet;
  }
  EXPECT_PRED_FORMAT2(Contains, ParseVethSubnet("10.200.0.0").status().message(), "ADDRESS/PREFIX");
  EXPECT_PRED_FORMAT2(Contains, ParseVethSubnet("10.256.0.0/30").status().message(),
                      "IPv4 address");
  EXPECT_PRED_FORMAT2(Contains, ParseVethSubnet("10.200.0.0/33").status().message(),
                      "not a number from 0 to 32");
}

// ---------------------------------------------------------------------------
// Helpers for the tests on the real kernel.

// Interface names and subnets derive from the pid, so that two runs of this
// test at once on one host stay apart.
std::string IfnamePrefix() { return absl::StrCat("tn", getpid() % 100000, "x"); }
std::string TestIfname(int n) { return absl::StrCat(IfnamePrefix(), n); }

VethAddresses TestAddresses(int n) {
  absl::StatusOr<VethAddresses> addresses =
      ParseVethSubnet(absl::StrCat("10.", 100 + getpid() % 100, ".", n, ".0/30"));
  EXPECT_TRUE(addresses.ok()) << addresses.status();
  return *addresses;
}

std::string Address(absl::string_view cidr) { return std::string(cidr.substr(0, cidr.find('/'))); }

std::vector<std::string> InterfacesWithOurPrefix() {
  std::vector<std::string> names;
  DIR* dir = opendir("/sys/class/net");
  if (dir == nullptr) {
    ADD_FAILURE() << "opendir(/sys/class/net): " << strerror(errno);
    return names;
  }
  while (struct dirent* entry = readdir(dir)) {
    if (absl::StartsWith(entry->d_name, IfnamePrefix())) names.push_back(entry->d_name);
  }
  closedir(dir);
  return names;
}

bool InterfaceExists(const std::string& name) {
  struct stat st;
  return stat(absl::StrCat("/sys/class/net/", name).c_str(), &st) == 0;
}

int OpenFdCount() {
  int count = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

// True when this process has no child left, reaped or not.
bool NoChildLeft() { return waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD; }

// Runs `body` in a forked child that has joined the namespace `netns_fd`,
// and returns what it printed.
std::string RunInNamespace(int netns_fd, const std::function<std::string()>& body) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << strerror(errno);
    return "";
  }
  pid_t child = fork();
  if (child < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    return "";
  }
  if (child == 0) {
    close(pipe_fds[0]);
    std::string output =
        setns(netns_fd, CLONE_NEWNET) == 0 ? body() : absl::StrCat("setns: ", strerror(errno));
    (void)!write(pipe_fds[1], output.data(), output.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string output;
  char buffer[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) output.append(buffer, n);
  }
  close(pipe_fds[0]);
  int status = 0;
  EXPECT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
  return output;
}

// One line per interface ("link NAME up|down") and per IPv4 address
// ("inet NAME ADDRESS/PREFIX") of the caller's namespace.
std::string DescribeNetwork() {
  std::string out;
  struct if_nameindex* names = if_nameindex();
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  for (struct if_nameindex* name = names; name != nullptr && name->if_index != 0; ++name) {
    struct ifreq request = {};
    strncpy(request.ifr_name, name->if_name, IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFFLAGS, &request) != 0) {
      absl::StrAppend(&out, "link ", name->if_name, " SIOCGIFFLAGS failed\n");
      continue;
    }
    absl::StrAppend(&out, "link ", name->if_name, (request.ifr_flags & IFF_UP) ? " up" : " down",
                    "\n");
  }
  if (names != nullptr) if_freenameindex(names);
  close(sock);
  struct ifaddrs* addresses = nullptr;
  if (getifaddrs(&addresses) != 0) return out + "getifaddrs failed\n";
  for (struct ifaddrs* a = addresses; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<struct sockaddr_in*>(a->ifa_addr)->sin_addr, text,
              sizeof(text));
    int prefix =
        __builtin_popcount(reinterpret_cast<struct sockaddr_in*>(a->ifa_netmask)->sin_addr.s_addr);
    absl::StrAppend(&out, "inet ", a->ifa_name, " ", text, "/", prefix, "\n");
  }
  freeifaddrs(addresses);
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

std::unique_ptr<IsolatedNetwork> CreateOrDie(int n) {
  absl::StatusOr<std::unique_ptr<IsolatedNetwork>> network =
      IsolatedNetwork::Create(TestIfname(n), TestAddresses(n));
  EXPECT_TRUE(network.ok()) << network.status();
  return network.ok() ? *std::move(network) : nullptr;
}

class IsolatedNetworkTest : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(InterfacesWithOurPrefix(), std::vector<std::string>{})
        << "a test left interfaces behind";
  }
};

// ---------------------------------------------------------------------------
// IsolatedNetwork.

TEST_F(IsolatedNetworkTest, CreatesNamespaceWithOnlyLoopbackAndVeth) {
  std::unique_ptr<IsolatedNetwork> network = CreateOrDie(1);
  ASSERT_NE(network, nullptr);
  EXPECT_EQ(network->host_ifname(), TestIfname(1));
  EXPECT_EQ(network->sandbox_ifname(), "eth0");

  std::string inside = RunInNamespace(network->netns_fd(), DescribeNetwork);
  EXPECT_EQ(Sorted(Lines(inside)),
            Sorted({"link lo up", "link eth0 up", "inet lo 127.0.0.1/8",
                    absl::StrCat("inet eth0 ", TestAddresses(1).sandbox_cidr)}))
      << inside;
  // The host end stayed in the broker's namespace.
  EXPECT_TRUE(InterfaceExists(network->host_ifname()));
}

TEST_F(IsolatedNetworkTest, HostEndHasItsAddressAndIsUp) {
  std::unique_ptr<IsolatedNetwork> network = CreateOrDie(2);
  ASSERT_NE(network, nullptr);
  struct ifaddrs* addresses = nullptr;
  ASSERT_EQ(getifaddrs(&addresses), 0) << strerror(errno);
  std::vector<std::string> found;
  for (struct ifaddrs* a = addresses; a != nullptr; a = a->ifa_next) {
    if (network->host_ifname() != a->ifa_name || a->ifa_addr == nullptr ||
        a->ifa_addr->sa_family != AF_INET) {
      continue;
    }
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<struct sockaddr_in*>(a->ifa_addr)->sin_addr, text,
              sizeof(text));
    int prefix =
        __builtin_popcount(reinterpret_cast<struct sockaddr_in*>(a->ifa_netmask)->sin_addr.s_addr);
    found.push_back(absl::StrCat(text, "/", prefix, (a->ifa_flags & IFF_UP) ? " up" : " down"));
  }
  freeifaddrs(addresses);
  EXPECT_EQ(found, std::vector<std::string>{absl::StrCat(TestAddresses(2).host_cidr, " up")});
}

TEST_F(IsolatedNetworkTest, WorkloadReachesHostEndOverTcp) {
  std::unique_ptr<IsolatedNetwork> network = CreateOrDie(3);
  ASSERT_NE(network, nullptr);
  const VethAddresses addresses = TestAddresses(3);

  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener.valid()) << strerror(errno);
  struct sockaddr_in address = {};
  address.sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, Address(addresses.host_cidr).c_str(), &address.sin_addr), 1);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<struct sockaddr*>(&address), sizeof(address)), 0)
      << strerror(errno);
  ASSERT_EQ(listen(listener.get(), 1), 0) << strerror(errno);
  socklen_t length = sizeof(address);
  ASSERT_EQ(getsockname(listener.get(), reinterpret_cast<struct sockaddr*>(&address), &length), 0);

  static constexpr char kMessage[] = "hello from inside the namespace";
  pid_t child = fork();
  ASSERT_GE(child, 0) << strerror(errno);
  if (child == 0) {
    alarm(20);  // never outlive a broken test
    if (setns(network->netns_fd(), CLONE_NEWNET) != 0) _exit(10);
    int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) _exit(11);
    if (connect(sock, reinterpret_cast<struct sockaddr*>(&address), sizeof(address)) != 0) {
      _exit(12);
    }
    if (write(sock, kMessage, sizeof(kMessage)) != sizeof(kMessage)) _exit(13);
    char echo[sizeof(kMessage)] = {};
    size_t got = 0;
    while (got < sizeof(echo)) {
      ssize_t n = read(sock, echo + got, sizeof(echo) - got);
      if (n <= 0) _exit(14);
      got += n;
    }
    _exit(memcmp(echo, kMessage, sizeof(kMessage)) == 0 ? 0 : 15);
  }

  struct pollfd ready = {listener.get(), POLLIN, 0};
  ASSERT_EQ(poll(&ready, 1, 10000), 1) << "no connection from inside the namespace";
  struct sockaddr_in peer = {};
  length = sizeof(peer);
  UniqueFd connection(
      accept4(listener.get(), reinterpret_cast<struct sockaddr*>(&peer), &length, SOCK_CLOEXEC));
  ASSERT_TRUE(connection.valid()) << strerror(errno);
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
  // It came over the veth, from the sandbox end's address.
  EXPECT_EQ(std::string(text), Address(addresses.sandbox_cidr));

  char buffer[sizeof(kMessage)] = {};
  size_t got = 0;
  while (got < sizeof(buffer)) {
    ssize_t n = read(connection.get(), buffer + got, sizeof(buffer) - got);
    ASSERT_GT(n, 0) << strerror(errno);
    got += n;
  }
  EXPECT_EQ(memcmp(buffer, kMessage, sizeof(kMessage)), 0);
  ASSERT_EQ(write(connection.get(), buffer, sizeof(buffer)), static_cast<ssize_t>(sizeof(buffer)));

  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status)) << "wait status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setns, 12 connect, 14 read, 15 wrong echo";
}

TEST_F(IsolatedNetworkTest, DestructionRemovesTheVethPair) {
  std::unique_ptr<IsolatedNetwork> network = CreateOrDie(4);
  ASSERT_NE(network, nullptr);
  const std::string host_ifname = network->host_ifname();
  ASSERT_TRUE(InterfaceExists(host_ifname));
  // Keep the namespace alive past the destruction to look inside.
  UniqueFd netns(fcntl(network->netns_fd(), F_DUPFD_CLOEXEC, 0));
  ASSERT_TRUE(netns.valid()) << strerror(errno);

  network.reset();

  EXPECT_FALSE(InterfaceExists(host_ifname));
  std::string inside = RunInNamespace(netns.get(), DescribeNetwork);
  EXPECT_EQ(Sorted(Lines(inside)), Sorted({"link lo up", "inet lo 127.0.0.1/8"})) << inside;
}

TEST_F(IsolatedNetworkTest, DestroyReportsAndIsIdempotent) {
  std::unique_ptr<IsolatedNetwork> network = CreateOrDie(5);
  ASSERT_NE(network, nullptr);
  EXPECT_TRUE(network->Destroy().ok());
  EXPECT_EQ(network->netns_fd(), -1);
  EXPECT_FALSE(InterfaceExists(TestIfname(5)));
  EXPECT_TRUE(network->Destroy().ok());
}

TEST_F(IsolatedNetworkTest, ManyCreateDestroyCyclesLeaveNothingBehind) {
  const int fds_before = OpenFdCount();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) {
    std::unique_ptr<IsolatedNetwork> network = CreateOrDie(10 + i);
    ASSERT_NE(network, nullptr) << "cycle " << i;
    ASSERT_TRUE(InterfaceExists(network->host_ifname())) << "cycle " << i;
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  std::cerr << "50 create/destroy cycles: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms\n";
  EXPECT_EQ(InterfacesWithOurPrefix(), std::vector<std::string>{});
  EXPECT_EQ(OpenFdCount(), fds_before);
  EXPECT_TRUE(NoChildLeft());
}

TEST_F(IsolatedNetworkTest, FailedCreateLeavesNothingBehind) {
  const int fds_before = OpenFdCount();

  // Rejected before anything is made.
  for (const std::string& bad : {std::string(16, 'x'), std::string(), std::string("a/b"),
                                 std::string("a b"), std::string("a:b"), std::string("..")}) {
    absl::StatusOr<std::unique_ptr<IsolatedNetwork>> network =
        IsolatedNetwork::Create(bad, TestAddresses(6));
    ASSERT_FALSE(network.ok()) << "'" << bad << "'";
    EXPECT_EQ(network.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_PRED_FORMAT2(Contains, network.status().message(), "interface name");
  }
  for (const VethAddresses& bad : std::vector<VethAddresses>{
           {"10.200.0.1/24", "10.200.0.2/24"},
           {"10.200.0.1/30", "10.200.0.2/31"},
           {"10.200.0.1/30", "10.200.0.5/30"},
           {"10.200.0.1/30", "10.200.0.1/30"},
           {"10.200.0.0/30", "10.200.0.1/30"},
           {"10.200.0.1/30", "garbage"},
       }) {
    absl::StatusOr<std::unique_ptr<IsolatedNetwork>> network =
        IsolatedNetwork::Create(TestIfname(6), bad);
    ASSERT_FALSE(network.ok()) << bad.host_cidr << " " << bad.sandbox_cidr;
    EXPECT_EQ(network.status().code(), absl::StatusCode::kInvalidArgument);
  }

  // Refused by the kernel after the namespace exists: the name is taken.
  absl::StatusOr<std::unique_ptr<IsolatedNetwork>> taken =
      IsolatedNetwork::Create("lo", TestAddresses(6));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kAlreadyExists) << taken.status();
  EXPECT_PRED_FORMAT2(Contains, taken.status().message(), "rtnl_link_add(veth lo, peer eth0");
  EXPECT_PRED_FORMAT2(Contains, taken.status().message(), "errno 17");

  {
    std::unique_ptr<IsolatedNetwork> first = CreateOrDie(7);
    ASSERT_NE(first, nullptr);
    const int fds_with_first = OpenFdCount();
    absl::StatusOr<std::unique_ptr<IsolatedNetwork>> second =
        IsolatedNetwork::Create(TestIfname(7), TestAddresses(8));
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists) << second.status();
    EXPECT_EQ(InterfacesWithOurPrefix(), std::vector<std::string>{TestIfname(7)});
    EXPECT_EQ(OpenFdCount(), fds_with_first);
    // The first one is untouched.
    std::string inside = RunInNamespace(first->netns_fd(), DescribeNetwork);
    EXPECT_PRED_FORMAT2(Contains, inside, "link eth0 up");
  }

  EXPECT_EQ(InterfacesWithOurPrefix(), std::vector<std::string>{});
  EXPECT_EQ(OpenFdCount(), fds_before);
  EXPECT_TRUE(NoChildLeft());
}

TEST_F(IsolatedNetworkTest, FailureAfterEachStepLeavesNothingBehind) {
  using Step = IsolatedNetworkTestPeer::Step;
  const int fds_before = OpenFdCount();
  for (Step step : {Step::kNamespace, Step::kVethPair, Step::kHostAddress, Step::kHostUp,
                    Step::kLoopbackUp, Step::kSandboxAddress, Step::kSandboxUp}) {
    absl::StatusOr<std::unique_ptr<IsolatedNetwork>> network =
        IsolatedNetworkTestPeer::CreateFailingAfter(TestIfname(9), TestAddresses(9), step);
    ASSERT_FALSE(network.ok()) << "step " << static_cast<int>(step);
    EXPECT_PRED_FORMAT2(Contains, network.status().message(), "injected failure");
    EXPECT_FALSE(InterfaceExists(TestIfname(9))) << "step " << static_cast<int>(step);
    EXPECT_EQ(OpenFdCount(), fds_before) << "step " << static_cast<int>(step);
    EXPECT_TRUE(NoChildLeft()) << "step " << static_cast<int>(step);
  }
  // And the same name works afterwards.
  absl::StatusOr<std::unique_ptr<IsolatedNetwork>> network =
      IsolatedNetworkTestPeer::CreateFailingAfter(TestIfname(9), TestAddresses(9), Step::kNone);
  EXPECT_TRUE(network.ok()) << network.status();
}

TEST_F(IsolatedNetworkTest, NamespaceFdIsCloseOnExec) {
  std::unique_ptr<IsolatedNetwork> network = CreateOrDie(60);
  ASSERT_NE(network, nullptr);
  int flags = fcntl(network->netns_fd(), F_GETFD);
  ASSERT_GE(flags, 0) << strerror(errno);
  EXPECT_TRUE(flags & FD_CLOEXEC);
  // It is a network namespace, and not the broker's own.
  EXPECT_EQ(ioctl(network->netns_fd(), NS_GET_NSTYPE), CLONE_NEWNET);
  struct stat theirs;
  struct stat ours;
  ASSERT_EQ(fstat(network->netns_fd(), &theirs), 0);
  ASSERT_EQ(stat("/proc/self/ns/net", &ours), 0);
  EXPECT_NE(theirs.st_ino, ours.st_ino);
}

}  // namespace
}  // namespace tether::broker
