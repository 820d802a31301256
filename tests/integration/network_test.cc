// Network modes on the real kernel: an isolated workload sees only `lo` and
// its veth end, reaches the host end over the /30, and nothing is left
// behind, whichever way a run ends.

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/host_addresses.h"

namespace tether::testing {
namespace {

std::set<std::string> TetherInterfaces() {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net")) {
    std::string name = entry.path().filename();
    if (name.rfind("tth", 0) == 0) names.insert(name);
  }
  return names;
}

std::set<std::string> NamedNamespaces() {
  std::set<std::string> names;
  if (!std::filesystem::exists("/run/netns")) return names;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns")) {
    names.insert(entry.path().filename());
  }
  return names;
}

RunResult RunIsolated(std::vector<std::string> probe_args, std::vector<std::string> flags = {}) {
  RunSpec spec;
  spec.args = {"run", "--network", "isolated"};
  spec.args.insert(spec.args.end(), flags.begin(), flags.end());
  spec.args.push_back("--");
  spec.args.push_back("./sandbox_probe");
  spec.args.insert(spec.args.end(), probe_args.begin(), probe_args.end());
  return RunTether(spec);
}

TEST(NetworkTest, IsolatedWorkloadSeesOnlyLoopback) {
  RunResult result = RunIsolated({"interfaces"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> interfaces = FindLines(result.out, "interface=");
  EXPECT_EQ(std::set<std::string>(interfaces.begin(), interfaces.end()),
            (std::set<std::string>{"lo"}))
      << result.out;
}

TEST(NetworkTest, HostModeWorkloadSeesTheHostInterfaces) {
  RunSpec spec;
  spec.args = {"run", "--network", "host", "--", "./sandbox_probe", "interfaces"};
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  size_t host_interfaces = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net")) {
    (void)entry;
    ++host_interfaces;
  }
  EXPECT_EQ(FindLines(result.out, "interface=").size(), host_interfaces) << result.out;
}

// A host service on 0.0.0.0 answers on every host address, and from none of
// them inside the isolated network (there is no link out at all).
TEST(NetworkTest, HostListenerOnEveryAddressIsUnreachableFromInside) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in any = {};
  any.sin_family = AF_INET;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof(any)), 0);
  ASSERT_EQ(listen(listener, 16), 0);
  socklen_t length = sizeof(any);
  getsockname(listener, reinterpret_cast<sockaddr*>(&any), &length);
  std::string port = std::to_string(ntohs(any.sin_port));
  std::atomic<bool> stop{false};
  std::thread echo([listener, &stop] {
    while (!stop) {
      int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      char buffer[16];
      ssize_t n = read(client, buffer, sizeof(buffer));
      if (n > 0) (void)!write(client, buffer, n);
      close(client);
    }
  });
  std::vector<std::string> addresses = HostIpv4Addresses();
  ASSERT_GT(addresses.size(), 1u) << "the host has no address but loopback";
  for (const std::string& address : addresses) {
    // The same probe, outside any namespace (host network): it answers.
    RunSpec host;
    host.args = {"run", "--network", "host", "--", "./sandbox_probe", "echo", address, port};
    RunResult reached = RunTether(host);
    EXPECT_EQ(FindLine(reached.out, "echo="), "ping") << address << ": " << reached.out;
    RunResult result = RunIsolated({"echo", address, port});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(FindLine(result.out, "echo="), "ping") << address << ": " << result.out;
    EXPECT_NE(FindLine(result.out, "connect="), "<no line starting with connect=>")
        << address << ": " << result.out;
  }
  stop = true;
  shutdown(listener, SHUT_RDWR);
  close(listener);
  echo.join();
}

TEST(NetworkTest, TwoHundredRunsSomeKilledLeaveNoInterfaceBehind) {
  std::set<std::string> named_before = NamedNamespaces();
  // Other tests run beside this one, so only this test's brokers count.
  std::set<std::string> ours;
  for (int run = 0; run < 200; ++run) {
    RunSpec spec;
    bool kill_workload = run % 10 == 3;
    bool kill_broker = run % 10 == 7;
    spec.args = {"run", "--network",       "isolated",
                 "--",  "./sandbox_probe", kill_workload || kill_broker ? "sleep" : "exit"};
    if (!(kill_workload || kill_broker)) spec.args.push_back("0");
    if (kill_workload || kill_broker) {
      spec.while_running = [&](pid_t tether, int out_fd, int) {
        char buffer[64] = {};
        // The workload's own pid is that of its namespace; by the host's
        // numbering it is the last of tether's descendants (after its init).
        pid_t workload = 0;
        if (read(out_fd, buffer, sizeof(buffer) - 1) > 0) {
          std::vector<pid_t> sandbox = Descendants(tether);
          if (!sandbox.empty()) workload = sandbox.back();
        }
        if (kill_workload && workload > 0) kill(workload, SIGKILL);
        if (kill_broker) kill(tether, SIGKILL);
      };
    }
    RunResult result = RunTether(spec);
    EXPECT_EQ(result.exit_code, kill_workload || kill_broker ? 128 + SIGKILL : 0)
        << "run " << run << ": " << result.err;
    ours.insert("tth" + std::to_string(result.pid));
  }
  // A killed broker leaves the pair to the kernel, which removes it with the
  // namespace once the workload (killed by its parent-death signal) is gone.
  std::set<std::string> left;
  for (int attempt = 0; attempt < 100; ++attempt) {
    left.clear();
    for (const std::string& name : TetherInterfaces()) {
      if (ours.count(name)) left.insert(name);
    }
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(left.empty()) << left.size() << " interfaces left, e.g. " << *left.begin();
  // What `ip netns list` reads: tether never names a namespace.
  EXPECT_EQ(NamedNamespaces(), named_before);
}

// The veth subnet is gone with the veth: naming it is a clear error.
TEST(NetworkTest, SubnetInThePolicyIsAnUnknownKeyExit2) {
  std::string dir = "/tmp/tether-net-bad-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/policy.json") << R"({"network": {"subnet": "10.0.0.0/24"}})";
  RunResult result = RunIsolated({"exit", "0"}, {"--policy", dir + "/policy.json"});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("$.network.subnet: unknown key"), std::string::npos) << result.err;
}

TEST(NetworkTest, UnknownNetworkModeIsAUsageError) {
  RunSpec spec;
  spec.args = {"run", "--network", "bridged", "--", "./sandbox_probe", "exit", "0"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 64);
  EXPECT_NE(result.err.find("--network 'bridged'"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace tether::testing
