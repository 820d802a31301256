// A non-root broker (uid 1000, no capability) on a host that allows
// unprivileged user namespaces: the full posture, made inside a user
// namespace of the sandbox's own, and what a workload tries against it.

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/host_addresses.h"
#include "tests/support/report_json.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

constexpr uid_t kUser = 1000;

// What `setpriv --reuid 1000 --regid 1000 --clear-groups` does.
void BecomeUser() {
  if (setgroups(0, nullptr) != 0 || setresgid(kUser, kUser, kUser) != 0 ||
      setresuid(kUser, kUser, kUser) != 0) {
    _exit(202);
  }
}

// Whitespace collapsed: "1000 1000 1" however the kernel aligns a map.
std::string Words(const std::string& text) {
  std::istringstream in(text);
  std::string word, joined;
  while (in >> word) joined += (joined.empty() ? "" : " ") + word;
  return joined;
}

bool Has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

class RootlessTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(geteuid(), 0u) << "needs real root to become uid 1000"; }

  RunResult Run(std::vector<std::string> args, std::vector<std::string> command) {
    RunSpec spec;
    spec.args = {"run", "--report", dir_.Child("report.json")};
    spec.args.insert(spec.args.end(), args.begin(), args.end());
    spec.args.push_back("--");
    spec.args.insert(spec.args.end(), command.begin(), command.end());
    spec.before_exec = BecomeUser;
    return RunTether(spec);
  }

  PostureReport Report() { return ParseReport(ReadFile(dir_.Child("report.json"))); }

  ScopedTempDir dir_{"/tmp", 0777};
  // World-writable and outside every path the sandbox gets.
  ScopedTempDir outside_{"/var/tmp", 0777};
};

TEST_F(RootlessTest, StrictRunHasEveryNamespaceAndTheWholePostureVerified) {
  RunResult result = Run({}, {"./sandbox_probe", "posture", outside_.Child("file")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ExpectFullPosture(result.out, kUser);
  EXPECT_EQ(FindLine(result.out, "write="), "ENOENT");
  EXPECT_FALSE(std::filesystem::exists(outside_.Child("file")));

  std::string text = ReadFile(dir_.Child("report.json"));
  PostureReport report = ParseReport(text);
  EXPECT_EQ(report.outcome, "running") << text;
  EXPECT_EQ(report.target.uid, kUser);
  // Only the default pids limit: this host's cgroup tree is root's, not
  // delegated to uid 1000, and no limit was asked for.
  EXPECT_EQ(report.CountState("degraded") + report.CountState("unavailable"), 1u) << text;
  const MechanismRecord* pids = report.Find("resource_limits", "pids_limit");
  ASSERT_NE(pids, nullptr) << text;
  EXPECT_EQ(pids->state, "degraded") << text;
  EXPECT_EQ(pids->errno_value, EACCES) << text;
  for (const char* mechanism : {"pid_namespace", "mount_namespace", "ipc_namespace",
                                "uts_namespace", "cgroup_namespace", "user_namespace"}) {
    const MechanismRecord* record = report.Find(mechanism);
    ASSERT_NE(record, nullptr) << mechanism << " in " << text;
    EXPECT_EQ(record->state, "enforced") << mechanism << " in " << text;
    EXPECT_EQ(record->evidence, "verified") << mechanism << " in " << text;
  }
  // Made at clone time, so the stub's join step is already satisfied; the
  // broker still checks the stub's namespace before Go.
  const MechanismRecord* network = report.Find("network_namespace");
  ASSERT_NE(network, nullptr) << text;
  EXPECT_EQ(network->state, "skipped") << text;
  EXPECT_EQ(network->evidence, "verified") << text;
  EXPECT_TRUE(Has(network->reason, "cloned into the sandbox's own namespace")) << network->reason;
  // Cleared by the broker's child inside the user namespace, before the stub.
  const MechanismRecord* bounding = report.Find("bounding_set");
  ASSERT_NE(bounding, nullptr) << text;
  EXPECT_EQ(bounding->state, "skipped") << text;
  EXPECT_EQ(bounding->evidence, "verified") << text;
  EXPECT_TRUE(Has(bounding->reason, "cleared in the sandbox's user namespace")) << bounding->reason;
  for (const char* mechanism : {"no_new_privs", "workload_seccomp", "supervisor_seccomp"}) {
    const MechanismRecord* record = report.Find(mechanism);
    ASSERT_NE(record, nullptr) << mechanism << " in " << text;
    EXPECT_EQ(record->state, "enforced") << mechanism << " in " << text;
    EXPECT_EQ(record->evidence, "verified") << mechanism << " in " << text;
  }
  // Landlock's effect cannot be read from /proc: the stub's word stands.
  const MechanismRecord* landlock = report.Find("landlock", "landlock_restrict_self");
  ASSERT_NE(landlock, nullptr) << text;
  EXPECT_EQ(landlock->state, "enforced") << text;
  const MechanismRecord* view = report.Find("filesystem_view", "mount_root_tmpfs /");
  ASSERT_NE(view, nullptr) << text;
  EXPECT_EQ(view->evidence, "verified") << text;
}

// Seen from the host: the workload is uid 1000 and nothing more, in a user
// namespace whose maps have one line each.
TEST_F(RootlessTest, TheWorkloadIsTheInvokingUidOnTheHost) {
  std::string host_status, host_uid_map;
  RunSpec spec;
  spec.args = {"run", "--", "./sandbox_probe", "sleep"};
  spec.before_exec = BecomeUser;
  spec.while_running = [&](pid_t tether, int out_fd, int) {
    std::string out;
    ASSERT_TRUE(ReadUntil(out_fd, 20, &out, [](const std::string& text) {
      return Has(text, "pid=");
    })) << out;
    std::vector<pid_t> descendants = Descendants(tether);
    ASSERT_FALSE(descendants.empty());
    pid_t workload = descendants.back();
    host_status = ReadFile("/proc/" + std::to_string(workload) + "/status");
    host_uid_map = ReadFile("/proc/" + std::to_string(workload) + "/uid_map");
    kill(tether, SIGTERM);
  };
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 143) << result.err;
  EXPECT_EQ(FindLine(host_status, "Uid:"), "\t1000\t1000\t1000\t1000") << host_status;
  EXPECT_EQ(FindLine(host_status, "Gid:"), "\t1000\t1000\t1000\t1000") << host_status;
  EXPECT_EQ(FindLine(host_status, "CapEff:"), "\t0000000000000000") << host_status;
  EXPECT_EQ(FindLine(host_status, "CapBnd:"), "\t0000000000000000") << host_status;
  EXPECT_EQ(Words(host_uid_map), "1000 1000 1") << host_uid_map;
}

TEST_F(RootlessTest, TheUserNamespaceMapsExactlyOneIdAndDeniesSetgroups) {
  RunResult result =
      Run({}, {"/bin/cat", "/proc/self/uid_map", "/proc/self/gid_map", "/proc/self/setgroups"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(Words(result.out), "1000 1000 1 1000 1000 1 deny") << result.out;
}

TEST_F(RootlessTest, UserMapsAnotherInsideIdToTheInvokingUid) {
  RunResult result = Run({"--user", "5"}, {"/bin/sh", "-c",
                                           "./sandbox_probe status; echo map=$(cat "
                                           "/proc/self/uid_map); echo gmap=$(cat "
                                           "/proc/self/gid_map)"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "Uid:"), "\t5\t5\t5\t5") << result.out;
  EXPECT_EQ(FindLine(result.out, "Gid:"), "\t5\t5\t5\t5") << result.out;
  EXPECT_EQ(Words(FindLine(result.out, "map=")), "5 1000 1") << result.out;
  EXPECT_EQ(Words(FindLine(result.out, "gmap=")), "5 1000 1") << result.out;
  EXPECT_EQ(FindLine(result.out, "CapEff:"), "\t0000000000000000");
  PostureReport report = Report();
  EXPECT_EQ(report.target.uid, 5u);
  const MechanismRecord* user = report.Find("user_namespace");
  ASSERT_NE(user, nullptr);
  EXPECT_TRUE(Has(user->reason, "uid 5 and gid 5 in it are uid 1000 and gid 1000 on the host"))
      << user->reason;
}

TEST_F(RootlessTest, UserZeroInsideIsRefused) {
  RunResult result = Run({"--user", "0"}, {"./sandbox_probe", "exit", "0"});
  EXPECT_EQ(result.exit_code, 64) << result.err;
  EXPECT_EQ(result.out, "");
}

TEST_F(RootlessTest, TheWorkloadSeesNoHostProcess) {
  RunResult result = Run({}, {"./tenant_probe", "ps"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> processes = FindLines(result.out, "proc=");
  // The stub as init and the workload: nothing of the host.
  EXPECT_LE(processes.size(), 2u) << result.out;
  for (const std::string& process : processes) {
    int pid = std::stoi(process.substr(0, process.find(' ')));
    EXPECT_LE(pid, 3) << result.out;
  }
  EXPECT_TRUE(Has(FindLine(result.out, "init_cmdline="), "tether-stub")) << result.out;
}

TEST_F(RootlessTest, TheWorkloadCannotWriteOutsideItsWritablePaths) {
  ScopedTempDir read_only("/var/tmp", 0777);
  RunResult result =
      Run({"--read-only", read_only.path()},
          {"/bin/sh", "-c",
           "./sandbox_probe write " + outside_.Child("file") + "; ./sandbox_probe write " +
               read_only.Child("file") + "; ./sandbox_probe write /etc/tether-rootless-test"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> writes = FindLines(result.out, "write=");
  ASSERT_EQ(writes.size(), 3u) << result.out;
  EXPECT_EQ(writes[0], "ENOENT") << "not in the view";
  // Read-only twice over: the mount and Landlock.
  EXPECT_TRUE(writes[1] == "EROFS" || writes[1] == "EACCES") << writes[1];
  EXPECT_TRUE(writes[2] == "EROFS" || writes[2] == "EACCES") << writes[2];
  EXPECT_FALSE(std::filesystem::exists(outside_.Child("file")));
  EXPECT_FALSE(std::filesystem::exists(read_only.Child("file")));
  EXPECT_FALSE(std::filesystem::exists("/etc/tether-rootless-test"));
}

// A TCP listener of the host, on loopback and on each of its addresses.
class Listener {
 public:
  explicit Listener(const std::string& address) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in bound = {};
    bound.sin_family = AF_INET;
    inet_pton(AF_INET, address.c_str(), &bound.sin_addr);
    socklen_t length = sizeof(bound);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&bound), sizeof(bound)) != 0 || listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
      ADD_FAILURE() << "listen on " << address;
    }
    port_ = ntohs(bound.sin_port);
  }
  ~Listener() { close(fd_); }
  int port() const { return port_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(RootlessTest, TheWorkloadCannotReachAHostListener) {
  std::vector<std::string> addresses = {"127.0.0.1"};
  for (const std::string& address : HostIpv4Addresses()) addresses.push_back(address);
  std::vector<std::unique_ptr<Listener>> listeners;
  std::string script;
  for (const std::string& address : addresses) {
    listeners.push_back(std::make_unique<Listener>(address));
    script +=
        "./sandbox_probe echo " + address + " " + std::to_string(listeners.back()->port()) + "; ";
  }
  RunResult result = Run({}, {"/bin/sh", "-c", script});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> connects = FindLines(result.out, "connect=");
  ASSERT_EQ(connects.size(), addresses.size()) << result.out;
  // Its own loopback refuses; the host's addresses are no route at all.
  EXPECT_EQ(connects[0], "ECONNREFUSED") << result.out;
  for (size_t i = 1; i < connects.size(); ++i) {
    EXPECT_TRUE(connects[i] == "ENETUNREACH" || connects[i] == "ECONNREFUSED")
        << addresses[i] << ": " << connects[i];
  }
  EXPECT_TRUE(FindLines(result.out, "echo=").empty()) << result.out;
  RunResult interfaces = Run({}, {"./sandbox_probe", "interfaces"});
  EXPECT_EQ(FindLines(interfaces.out, "interface="), std::vector<std::string>{"lo"})
      << interfaces.out;
}

TEST_F(RootlessTest, TheWorkloadCannotRegainCapabilitiesOrMakeANestedUserNamespace) {
  RunResult result = Run({}, {"/bin/sh", "-c",
                              "./sandbox_probe unshare; ./sandbox_probe mount; "
                              "/usr/bin/unshare --user --map-root-user /bin/true; "
                              "echo unshare_exit=$?; ./sandbox_probe status"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // The workload seccomp filter denies every namespace flag.
  EXPECT_EQ(FindLine(result.out, "unshare="), "EPERM") << result.out;
  EXPECT_EQ(FindLine(result.out, "mount="), "EPERM") << result.out;
  EXPECT_EQ(FindLine(result.out, "unshare_exit="), "1") << result.out << result.err;
  for (const char* set : {"CapBnd:", "CapEff:", "CapPrm:", "CapInh:", "CapAmb:"}) {
    EXPECT_EQ(FindLine(result.out, set), "\t0000000000000000") << set;
  }
  EXPECT_EQ(FindLine(result.out, "NoNewPrivs:"), "\t1");
}

// A one-shot HTTP server on the host's loopback.
class HttpServer {
 public:
  HttpServer() : listener_("127.0.0.1") {
    thread_ = std::thread([this] {
      while (!stop_) {
        int client = accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) return;
        char request[4096];
        (void)!read(client, request, sizeof(request));
        std::string response =
            "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello-host\n";
        (void)!write(client, response.data(), response.size());
        close(client);
      }
    });
  }
  ~HttpServer() {
    stop_ = true;
    shutdown(listener_.fd(), SHUT_RDWR);
    thread_.join();
  }
  int port() const { return listener_.port(); }

 private:
  Listener listener_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(RootlessTest, TheEgressProxyServesTheAllowListForANonRootBroker) {
  HttpServer server;
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
  std::string allowed = "127.0.0.1:" + std::to_string(server.port());
  RunResult result = Run({"--allow-net", allowed},
                         {"/bin/sh", "-c",
                          "/usr/bin/curl -sS --max-time 10 --noproxy '' -x \"$http_proxy\" " + url +
                              "; echo curl_exit=$?; /usr/bin/curl -sS --max-time 5 --noproxy '*' " +
                              url + "; echo direct_exit=$?"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(Has(result.out, "hello-host")) << result.out << result.err;
  EXPECT_EQ(FindLine(result.out, "curl_exit="), "0") << result.out << result.err;
  // Straight to the host's listener: the sandbox's own loopback refuses.
  EXPECT_EQ(FindLine(result.out, "direct_exit="), "7") << result.out << result.err;
  std::string text = ReadFile(dir_.Child("report.json"));
  PostureReport report = ParseReport(text);
  const MechanismRecord* proxy = report.Find("egress_proxy");
  ASSERT_NE(proxy, nullptr) << text;
  EXPECT_EQ(proxy->state, "enforced") << text;
  EXPECT_EQ(proxy->evidence, "verified") << text;
}

TEST_F(RootlessTest, ProbeRunsTheNamespaceProbesInsideAUserNamespace) {
  RunSpec spec;
  spec.args = {"probe"};
  spec.before_exec = BecomeUser;
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* probe :
       {"unshare(CLONE_NEWPID) in a new user namespace succeeded",
        "unshare(CLONE_NEWNET) in a new user namespace succeeded",
        "fsmount of a procfs in a new mount and pid namespace in a new user namespace succeeded",
        "prctl(PR_CAPBSET_DROP) of every capability in a new user namespace succeeded",
        "unshare(CLONE_NEWUSER) and a tmpfs mount inside it succeeded"}) {
    EXPECT_TRUE(Has(result.out, probe)) << probe << " in " << result.out;
  }
}

}  // namespace
}  // namespace tether::testing
