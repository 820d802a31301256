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
#include "tests/support/host_addresses.h"

namespace tether::broker {

class IsolatedNetworkTestPeer {
 public:
  using Step = IsolatedNetwork::Step;
  static absl::StatusOr<std::unique_ptr<IsolatedNetwork>> CreateFailingAfter(Step step) {
    return IsolatedNetwork::CreateImpl(IsolatedNetwork::Listener::kProxy, step);
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
// Helpers for the tests on the real kernel.

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

std::unique_ptr<IsolatedNetwork> CreateOrDie() {
  absl::StatusOr<std::unique_ptr<IsolatedNetwork>> network = IsolatedNetwork::Create();
  EXPECT_TRUE(network.ok()) << network.status();
  return network.ok() ? *std::move(network) : nullptr;
}

// The interfaces of the broker's own namespace, to see that none is added.
std::vector<std::string> HostInterfaces() {
  std::vector<std::string> names;
  DIR* dir = opendir("/sys/class/net");
  if (dir == nullptr) return names;
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') names.push_back(entry->d_name);
  }
  closedir(dir);
  return Sorted(names);
}

// ---------------------------------------------------------------------------
// IsolatedNetwork.

TEST(IsolatedNetworkTest, NamespaceHasOnlyLoopbackUp) {
  std::vector<std::string> before = HostInterfaces();
  std::unique_ptr<IsolatedNetwork> network = CreateOrDie();
  ASSERT_NE(network, nullptr);
  std::string inside = RunInNamespace(network->netns_fd(), DescribeNetwork);
  EXPECT_EQ(Sorted(Lines(inside)), Sorted({"link lo up", "inet lo 127.0.0.1/8"})) << inside;
  EXPECT_EQ(HostInterfaces(), before) << "nothing is added to the broker's namespace";
}

// Nothing of the host answers from inside: not the host's addresses (a
// listener on 0.0.0.0 here), not anything else (no route at all).
TEST(IsolatedNetworkTest, HostListenerIsUnreachableFromInside) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in any = {};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof(any)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t size = sizeof(any);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&any), &size), 0);
  std::vector<std::string> targets = testing::HostIpv4Addresses();
  ASSERT_FALSE(targets.empty()) << "getifaddrs failed";
  std::unique_ptr<IsolatedNetwork> network = CreateOrDie();
  ASSERT_NE(network, nullptr);
  for (const std::string& target : targets) {
    // From the host side first: the listener is there.
    int here = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {};
    to.sin_family = AF_INET;
    to.sin_port = any.sin_port;
    inet_pton(AF_INET, target.c_str(), &to.sin_addr);
    EXPECT_EQ(connect(here, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0) << target;
    close(here);
    std::string inside = RunInNamespace(network->netns_fd(), [&] {
      int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int result = connect(s, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
      return std::string(result == 0 ? "connected" : strerrorname_np(errno));
    });
    EXPECT_NE(inside, "connected") << target;
  }
  close(listener);
}

TEST(IsolatedNetworkTest, DestroyClosesTheFdAndIsIdempotent) {
  std::unique_ptr<IsolatedNetwork> network = CreateOrDie();
  ASSERT_NE(network, nullptr);
  network->Destroy();
  EXPECT_EQ(network->netns_fd(), -1);
  network->Destroy();
  EXPECT_EQ(network->netns_fd(), -1);
}

TEST(IsolatedNetworkTest, ManyCreateDestroyCyclesLeaveNothingBehind) {
  const int fds_before = OpenFdCount();
  for (int i = 0; i < 50; ++i) {
    std::unique_ptr<IsolatedNetwork> network = CreateOrDie();
    ASSERT_NE(network, nullptr) << "cycle " << i;
  }
  EXPECT_EQ(OpenFdCount(), fds_before);
  EXPECT_TRUE(NoChildLeft());
}

TEST(IsolatedNetworkTest, FailureAfterEachStepLeavesNothingBehind) {
  using Step = IsolatedNetworkTestPeer::Step;
  const int fds_before = OpenFdCount();
  for (Step step : {Step::kNamespace, Step::kLoopbackUp, Step::kProxyListener}) {
    absl::StatusOr<std::unique_ptr<IsolatedNetwork>> network =
        IsolatedNetworkTestPeer::CreateFailingAfter(step);
    ASSERT_FALSE(network.ok()) << "step " << static_cast<int>(step);
    EXPECT_PRED_FORMAT2(Contains, network.status().message(), "injected failure");
    EXPECT_EQ(OpenFdCount(), fds_before) << "step " << static_cast<int>(step);
    EXPECT_TRUE(NoChildLeft()) << "step " << static_cast<int>(step);
  }
  absl::StatusOr<std::unique_ptr<IsolatedNetwork>> network =
      IsolatedNetworkTestPeer::CreateFailingAfter(Step::kNone);
  EXPECT_TRUE(network.ok()) << network.status();
}

TEST(IsolatedNetworkTest, NamespaceFdIsCloseOnExec) {
  std::unique_ptr<IsolatedNetwork> network = CreateOrDie();
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

// The proxy's listener is a socket of the sandbox's namespace: a process in
// that namespace connects to 127.0.0.1:<port>, the host's 127.0.0.1 does not
// have it, and the listener is close-on-exec.
TEST(IsolatedNetworkTest, ProxyListenerIsOnTheNamespacesLoopbackOnly) {
  absl::StatusOr<std::unique_ptr<IsolatedNetwork>> network =
      IsolatedNetwork::Create(IsolatedNetwork::Listener::kProxy);
  ASSERT_TRUE(network.ok()) << network.status();
  UniqueFd listener = (*network)->TakeProxyListener();
  ASSERT_TRUE(listener.valid());
  uint16_t port = (*network)->proxy_port();
  ASSERT_NE(port, 0);
  EXPECT_TRUE(fcntl(listener.get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_FALSE((*network)->TakeProxyListener().valid()) << "taken once";

  struct sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto connect_from = [&](bool inside) {
    pid_t child = fork();
    if (child == 0) {
      if (inside && setns((*network)->netns_fd(), CLONE_NEWNET) != 0) _exit(2);
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      _exit(connect(fd, reinterpret_cast<struct sockaddr*>(&address), sizeof(address)) == 0 ? 0
                                                                                            : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(connect_from(/*inside=*/true), 0);
  // The host's loopback has no such listener (unless, by chance, something
  // of the host's listens on the same port: then the accept below proves
  // which one was reached).
  int outside = connect_from(/*inside=*/false);
  ASSERT_EQ(fcntl(listener.get(), F_SETFL, O_NONBLOCK), 0);
  int accepted = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(accepted, 0) << "the inside connection reached the listener: " << strerror(errno);
  close(accepted);
  EXPECT_LT(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC), 0)
      << "a connection from the host reached the sandbox's listener (outside: " << outside << ")";
}

TEST(IsolatedNetworkTest, NoListenerUnlessAsked) {
  std::unique_ptr<IsolatedNetwork> network = CreateOrDie();
  ASSERT_NE(network, nullptr);
  EXPECT_FALSE(network->TakeProxyListener().valid());
  EXPECT_EQ(network->proxy_port(), 0);
}

}  // namespace
}  // namespace tether::broker
