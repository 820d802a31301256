// The egress proxy on the real kernel, as root: a sandbox with an allow-list
// reaches the host's servers only through the proxy, only where a rule says,
// by absolute-URI request or CONNECT; every decision is an OCSF event; a name
// cannot open a loopback address; and nothing (process, namespace, fd)
// outlives a run or a sidecar session.
//
// The servers are the test's own, on the host: HTTP and echo listeners on
// 0.0.0.0, each first shown reachable from the host, so that only the
// sandbox can be what stops a request.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <ostream>
#include <random>
#include <set>
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

using namespace std::string_literals;

// What the test's HTTP server answers to GET /file: unique to this process,
// so that no other server can have produced it.
std::string Page() { return "page=tether-egress-it-" + std::to_string(getpid()); }

// A TCP server of the host's in a thread of this test, one connection at a
// time: HTTP (GET /file answers Page(), anything else 404) or echo (writes
// back what one read gets).
class HostServer {
 public:
  enum class Kind { kHttp, kEcho };

  explicit HostServer(Kind kind, const char* address = "0.0.0.0", uint16_t port = 0) : kind_(kind) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in bound = {};
    bound.sin_family = AF_INET;
    bound.sin_port = htons(port);
    inet_pton(AF_INET, address, &bound.sin_addr);
    socklen_t length = sizeof(bound);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&bound), sizeof(bound)) != 0 ||
        listen(fd_, 64) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
      bind_errno_ = errno;
      close(fd_);
      fd_ = -1;
      return;
    }
    port_ = ntohs(bound.sin_port);
    if (pipe2(stop_, O_CLOEXEC) != 0) std::abort();
    thread_ = std::thread([this] { Serve(); });
  }

  ~HostServer() {
    if (fd_ < 0) return;
    (void)!write(stop_[1], "x", 1);
    thread_.join();
    for (int fd : {fd_, stop_[0], stop_[1]}) close(fd);
  }

  bool listening() const { return fd_ >= 0; }
  int bind_errno() const { return bind_errno_; }
  std::string Port() const { return std::to_string(port_); }
  int Accepted() const { return accepted_; }
  // Every request line an HTTP server got, in order.
  std::vector<std::string> Requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  void Serve() {
    while (true) {
      struct pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) return;
      int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      ++accepted_;
      // A client that sends nothing holds the server for a second at most.
      struct timeval timeout = {1, 0};
      setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      if (kind_ == Kind::kEcho) {
        char buffer[256];
        ssize_t n = read(client, buffer, sizeof(buffer));
        if (n > 0) (void)!write(client, buffer, n);
      } else {
        Answer(client);
      }
      close(client);
    }
  }

  void Answer(int client) {
    std::string head;
    char buffer[1024];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
      ssize_t n = read(client, buffer, sizeof(buffer));
      if (n <= 0) break;
      head.append(buffer, n);
    }
    std::string line = head.substr(0, head.find("\r\n"));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(line);
    }
    bool found = line.rfind("GET /file ", 0) == 0;
    std::string body = found ? Page() + "\n" : "not found\n";
    std::string response =
        std::string(found ? "HTTP/1.1 200 OK" : "HTTP/1.1 404 Not Found") +
        "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    (void)!write(client, response.data(), response.size());
  }

  Kind kind_;
  int fd_ = -1;
  int bind_errno_ = 0;
  uint16_t port_ = 0;
  int stop_[2] = {-1, -1};
  std::thread thread_;
  std::atomic<int> accepted_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
};

// A connection from the host's own network to `address`:`port` that sends
// `request` and returns everything answered ("<connect: ERRNO>" if refused).
std::string HostExchange(const std::string& address, const std::string& port,
                         const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in peer = {};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<uint16_t>(std::stoi(port)));
  inet_pton(AF_INET, address.c_str(), &peer.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof(peer)) != 0) {
    std::string error = std::string("<connect: ") + strerrorname_np(errno) + ">";
    close(fd);
    return error;
  }
  struct timeval timeout = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  (void)!write(fd, request.data(), request.size());
  std::string answer;
  char buffer[1024];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) answer.append(buffer, n);
  close(fd);
  return answer;
}

// One Network Activity (4001) event of the proxy's.
struct EgressEvent {
  int activity_id = 0;
  std::string activity_name;
  std::string action;
  std::string hostname;
  std::string ip;  // empty: absent
  int port = 0;
  bool has_rule = false;
  std::string rule;
  std::string reason;
  std::string request;
  std::string mechanism;
};

// The 4001 lines of an event log, each decoded strictly through
// broker/report.capnp (a malformed one fails the test); the other classes
// are events_test's.
std::vector<EgressEvent> EgressEvents(const std::string& text) {
  std::vector<EgressEvent> events;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("\"class_uid\":4001,") == std::string::npos) continue;
    Decoded<schema::NetworkActivity> decoded(line);
    if (!decoded.ok()) {
      ADD_FAILURE() << decoded.error();
      continue;
    }
    schema::NetworkActivity::Reader event = decoded.get();
    EgressEvent out;
    out.activity_id = event.getBase().getActivityId();
    out.activity_name = Str(event.getBase().getActivityName());
    out.action = Str(event.getAction());
    out.hostname = Str(event.getDstEndpoint().getHostname());
    out.ip = Str(event.getDstEndpoint().getIp());
    out.port = event.getDstEndpoint().getPort();
    out.has_rule = event.getUnmapped().hasRule();
    out.rule = Str(event.getUnmapped().getRule());
    out.reason = Str(event.getUnmapped().getReason());
    out.request = Str(event.getUnmapped().getRequest());
    out.mechanism = Str(event.getUnmapped().getMechanism());
    events.push_back(out);
  }
  return events;
}

std::string Describe(const std::vector<EgressEvent>& events) {
  std::ostringstream out;
  for (const EgressEvent& e : events) {
    out << e.activity_id << " " << e.action << " " << e.hostname << ":" << e.port << " ip=" << e.ip
        << " rule=" << (e.has_rule ? e.rule : "<none>") << " request=" << e.request
        << " reason=" << e.reason << "\n";
  }
  return out.str();
}

// curl through the proxy. NO_PROXY names 127.0.0.1 and localhost, so curl
// would go around the proxy for them without an empty --noproxy. The body
// is followed by `curl_exit=N` on a line of its own.
std::string CurlViaProxy(const std::string& url, const std::string& flags = "") {
  return "/usr/bin/curl -sS --max-time 10 --noproxy '' -x \"$http_proxy\" " + flags + " " + url +
         "; status=$?; echo; echo curl_exit=$status; ";
}

class EgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(http_.listening() && other_.listening() && echo_.listening())
        << "the host servers could not listen";
    // Reachable from the host, so that only the sandbox can stop a request.
    ASSERT_NE(HostExchange("127.0.0.1", http_.Port(), "GET /file HTTP/1.0\r\n\r\n").find(Page()),
              std::string::npos);
    ASSERT_NE(HostExchange("127.0.0.1", other_.Port(), "GET /file HTTP/1.0\r\n\r\n").find(Page()),
              std::string::npos);
    http_before_ = http_.Requests().size();
    other_before_ = other_.Requests().size();
  }

  // `tether run FLAGS --events FILE -- /bin/sh -c SCRIPT` in the binaries'
  // directory; events_ then holds the proxy's events.
  RunResult Run(std::vector<std::string> flags, const std::string& script) {
    RunSpec spec;
    spec.args = {"run", "--events", events_path_};
    spec.args.insert(spec.args.end(), flags.begin(), flags.end());
    spec.args.insert(spec.args.end(), {"--", "/bin/sh", "-c", script});
    spec.timeout_seconds = 30;
    RunResult result = RunTether(spec);
    events_ = EgressEvents(ReadFile(events_path_));
    unlink(events_path_.c_str());
    return result;
  }

  std::string HttpUrl() const { return "http://127.0.0.1:" + http_.Port() + "/file"; }
  std::string AllowHttp() const { return "127.0.0.1:" + http_.Port(); }
  // What the servers got since SetUp's own requests.
  std::vector<std::string> HttpRequestsSinceSetUp() const {
    std::vector<std::string> all = http_.Requests();
    return {all.begin() + http_before_, all.end()};
  }
  size_t OtherRequestsSinceSetUp() const { return other_.Requests().size() - other_before_; }

  HostServer http_{HostServer::Kind::kHttp};
  HostServer other_{HostServer::Kind::kHttp};  // listening, never allowed
  HostServer echo_{HostServer::Kind::kEcho};
  size_t http_before_ = 0;
  size_t other_before_ = 0;
  ScopedTempDir dir_{"/tmp", 0755};
  std::string events_path_ = dir_.Child("events.json");
  std::vector<EgressEvent> events_;
};

TEST_F(EgressTest, DefaultRunHasOnlyLoopbackAndNoProxyVariables) {
  RunSpec spec;
  spec.args = {"run", "--", "/bin/sh", "-c",
               "./sandbox_probe interfaces; ./sandbox_probe env; "
               "/usr/bin/sed -n 's/^ *\\([^:|]*\\):.*/netdev=\\1/p' /proc/net/dev"};
  // The caller's proxy points nowhere the sandbox can reach: it must not
  // pass in.
  spec.before_exec = [] {
    setenv("HTTP_PROXY", "http://127.0.0.1:3128", 1);
    setenv("https_proxy", "http://127.0.0.1:3128", 1);
  };
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLines(result.out, "interface="), (std::vector<std::string>{"lo"})) << result.out;
  EXPECT_EQ(FindLines(result.out, "netdev="), (std::vector<std::string>{"lo"})) << result.out;
  std::vector<std::string> env = FindLines(result.out, "env=");
  ASSERT_FALSE(env.empty()) << result.out;
  for (const std::string& variable : env) {
    std::string name = variable.substr(0, variable.find('='));
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    EXPECT_TRUE(name.find("proxy") == std::string::npos) << variable;
  }
}

// A listener on 0.0.0.0 answers the host on each of its addresses, and the
// default sandbox on none.
TEST_F(EgressTest, DefaultRunReachesNoHostAddress) {
  std::vector<std::string> addresses = HostIpv4Addresses();
  ASSERT_GT(addresses.size(), 1u) << "the host has no address but loopback";
  std::string script;
  for (const std::string& address : addresses) {
    ASSERT_EQ(HostExchange(address, echo_.Port(), "ping"), "ping") << "from the host: " << address;
    script += "printf 'address=" + address + " '; ./sandbox_probe echo " + address + " " +
              echo_.Port() + "; ";
  }
  int accepted = echo_.Accepted();
  RunResult result = Run({}, script);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const std::string& address : addresses) {
    std::string outcome = FindLine(result.out, "address=" + address + " ");
    EXPECT_EQ(outcome.rfind("connect=E", 0), 0u) << address << ": " << outcome;
  }
  EXPECT_EQ(echo_.Accepted(), accepted) << result.out;
}

TEST_F(EgressTest, AllowedDestinationIsServedThroughTheProxyAndRecorded) {
  RunResult result = Run({"--allow-net", AllowHttp()}, CurlViaProxy(HttpUrl()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "curl_exit="), "0") << result.out << result.err;
  EXPECT_EQ(FindLine(result.out, "page="), Page().substr(5)) << result.out;
  EXPECT_EQ(HttpRequestsSinceSetUp(), (std::vector<std::string>{"GET /file HTTP/1.1"}));
  ASSERT_EQ(events_.size(), 1u) << Describe(events_);
  const EgressEvent& open = events_[0];
  EXPECT_EQ(open.activity_id, 1);
  EXPECT_EQ(open.activity_name, "Open");
  EXPECT_EQ(open.action, "Allowed");
  EXPECT_EQ(open.hostname, "127.0.0.1");
  EXPECT_EQ(open.ip, "127.0.0.1");
  EXPECT_EQ(std::to_string(open.port), http_.Port());
  EXPECT_EQ(open.rule, AllowHttp());
  EXPECT_EQ(open.request, "GET");
  EXPECT_EQ(open.mechanism, "egress_proxy");
}

// A server listens on the other port too (SetUp reached it): the proxy
// refuses to go there, says why, and the server hears nothing.
TEST_F(EgressTest, AnotherPortIsRefusedWith403AndADeniedEvent) {
  std::string other = "127.0.0.1:" + other_.Port();
  RunResult result =
      Run({"--allow-net", AllowHttp()}, CurlViaProxy("http://" + other + "/file", "-i"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "curl_exit="), "0") << result.out << result.err;
  EXPECT_EQ(FindLine(result.out, "HTTP/1.1 "), "403 Forbidden\r") << result.out;
  EXPECT_EQ(FindLine(result.out, "tether egress proxy: "),
            "egress to " + other + " denied: no rule allows " + other)
      << result.out;
  EXPECT_EQ(FindLine(result.out, "page="), "<no line starting with page=>") << result.out;
  EXPECT_EQ(OtherRequestsSinceSetUp(), 0u);
  ASSERT_EQ(events_.size(), 1u) << Describe(events_);
  const EgressEvent& refused = events_[0];
  EXPECT_EQ(refused.activity_id, 5);
  EXPECT_EQ(refused.activity_name, "Refuse");
  EXPECT_EQ(refused.action, "Denied");
  EXPECT_EQ(refused.hostname, "127.0.0.1");
  EXPECT_EQ(std::to_string(refused.port), other_.Port());
  EXPECT_EQ(refused.ip, "") << "nothing was connected to";
  EXPECT_FALSE(refused.has_rule) << refused.rule;
  EXPECT_EQ(refused.reason, "no rule allows " + other);
  EXPECT_EQ(refused.request, "GET");
}

// With an allow-list the sandbox still has no route out: only the proxy is.
TEST_F(EgressTest, DirectConnectionsAroundTheProxyFail) {
  std::vector<std::string> addresses = HostIpv4Addresses();
  ASSERT_GT(addresses.size(), 1u) << "the host has no address but loopback";
  std::string script =
      "/usr/bin/curl -sS --max-time 10 --noproxy '*' " + HttpUrl() + "; echo direct_exit=$?; ";
  for (const std::string& address : addresses) {
    ASSERT_EQ(HostExchange(address, echo_.Port(), "ping"), "ping") << "from the host: " << address;
    script += "printf 'address=" + address + " '; ./sandbox_probe echo " + address + " " +
              echo_.Port() + "; ";
  }
  int accepted = echo_.Accepted();
  RunResult result =
      Run({"--allow-net", AllowHttp(), "--allow-net", "127.0.0.1:" + echo_.Port()}, script);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "direct_exit="), "7") << "curl: couldn't connect\n" << result.err;
  for (const std::string& address : addresses) {
    std::string outcome = FindLine(result.out, "address=" + address + " ");
    EXPECT_EQ(outcome.rfind("connect=E", 0), 0u) << address << ": " << outcome;
  }
  EXPECT_EQ(echo_.Accepted(), accepted);
  EXPECT_TRUE(HttpRequestsSinceSetUp().empty());
  EXPECT_TRUE(events_.empty()) << Describe(events_);
}

TEST_F(EgressTest, ConnectTunnelReachesTheAllowedDestination) {
  RunResult result = Run({"--allow-net", AllowHttp()}, CurlViaProxy(HttpUrl(), "-p"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "curl_exit="), "0") << result.out << result.err;
  EXPECT_EQ(FindLine(result.out, "page="), Page().substr(5)) << result.out;
  EXPECT_EQ(HttpRequestsSinceSetUp(), (std::vector<std::string>{"GET /file HTTP/1.1"}));
  ASSERT_EQ(events_.size(), 1u) << Describe(events_);
  EXPECT_EQ(events_[0].activity_id, 1);
  EXPECT_EQ(events_[0].request, "CONNECT");
  EXPECT_EQ(events_[0].rule, AllowHttp());
  EXPECT_EQ(std::to_string(events_[0].port), http_.Port());
}

TEST_F(EgressTest, ConnectToADeniedDestinationIsRefusedWith403) {
  std::string other = "127.0.0.1:" + other_.Port();
  RunResult result =
      Run({"--allow-net", AllowHttp()}, CurlViaProxy("http://" + other + "/file", "-p"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "curl_exit="), "56") << result.out;
  EXPECT_NE(result.err.find("CONNECT tunnel failed, response 403"), std::string::npos)
      << result.err;
  EXPECT_EQ(OtherRequestsSinceSetUp(), 0u);
  ASSERT_EQ(events_.size(), 1u) << Describe(events_);
  EXPECT_EQ(events_[0].activity_id, 5);
  EXPECT_EQ(events_[0].action, "Denied");
  EXPECT_EQ(events_[0].request, "CONNECT");
  EXPECT_EQ(std::to_string(events_[0].port), other_.Port());
  EXPECT_FALSE(events_[0].has_rule);
}

// A raw CONNECT client: for each HOST:PORT argument, the proxy's status
// line and, once a tunnel is up, what the far end echoes.
constexpr char kRawConnect[] = R"(
import os, socket, sys
port = int(os.environ['http_proxy'].rsplit(':', 1)[1])
for target in sys.argv[1:]:
    s = socket.create_connection(('127.0.0.1', port), 10)
    s.sendall(b'CONNECT ' + target.encode() + b' HTTP/1.1\r\nHost: ' + target.encode() + b'\r\n\r\n')
    head = b''
    while b'\r\n\r\n' not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    print(target + ' status=' + head.split(b'\r\n')[0].decode())
    if head.startswith(b'HTTP/1.1 200 '):
        s.sendall(b'tunnelled-ping')
        reply = b''
        while len(reply) < 14:
            chunk = s.recv(64)
            if not chunk:
                break
            reply += chunk
        print(target + ' echo=' + reply.decode())
    s.close()
)";

// The port HTTPS goes to: raw bytes through the tunnel both ways, and the
// next port refused. On a loopback address of its own (all of 127/8 is
// loopback), so that no service of the host's holds the port.
TEST_F(EgressTest, RawConnectToPort443IsTunnelledAndPort444Refused) {
  HostServer https(HostServer::Kind::kEcho, "127.0.0.43", 443);
  HostServer next(HostServer::Kind::kEcho, "127.0.0.43", 444);
  ASSERT_TRUE(https.listening()) << strerrorname_np(https.bind_errno());
  ASSERT_TRUE(next.listening()) << strerrorname_np(next.bind_errno());
  RunSpec spec;
  spec.args = {"run",
               "--events",
               events_path_,
               "--allow-net",
               "127.0.0.43:443",
               "--",
               "/usr/bin/python3",
               "-c",
               kRawConnect,
               "127.0.0.43:443",
               "127.0.0.43:444"};
  RunResult result = RunTether(spec);
  events_ = EgressEvents(ReadFile(events_path_));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "127.0.0.43:443 status="), "HTTP/1.1 200 Connection Established")
      << result.out;
  EXPECT_EQ(FindLine(result.out, "127.0.0.43:443 echo="), "tunnelled-ping") << result.out;
  EXPECT_EQ(https.Accepted(), 1);
  EXPECT_EQ(FindLine(result.out, "127.0.0.43:444 status="), "HTTP/1.1 403 Forbidden") << result.out;
  EXPECT_EQ(next.Accepted(), 0);
  ASSERT_EQ(events_.size(), 2u) << Describe(events_);
  EXPECT_EQ(events_[0].activity_id, 1);
  EXPECT_EQ(events_[0].rule, "127.0.0.43:443");
  EXPECT_EQ(events_[0].request, "CONNECT");
  EXPECT_EQ(events_[1].activity_id, 5);
  EXPECT_EQ(events_[1].port, 444);
}

// A name that resolves to loopback would point the proxy back at the host:
// only a rule naming the literal address opens it.
TEST_F(EgressTest, NameRuleDoesNotOpenTheLoopbackAddressItResolvesTo) {
  std::string localhost = "localhost:" + http_.Port();
  RunResult result =
      Run({"--allow-net", localhost}, CurlViaProxy("http://" + localhost + "/file", "-i"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "HTTP/1.1 "), "403 Forbidden\r") << result.out;
  EXPECT_EQ(FindLine(result.out, "tether egress proxy: "),
            "egress to " + localhost +
                " denied: localhost resolves to 127.0.0.1, a loopback address, which only a rule "
                "naming exactly " +
                AllowHttp() + " opens")
      << result.out;
  EXPECT_TRUE(HttpRequestsSinceSetUp().empty());
  ASSERT_EQ(events_.size(), 1u) << Describe(events_);
  EXPECT_EQ(events_[0].activity_id, 5);
  EXPECT_EQ(events_[0].hostname, "localhost");
  EXPECT_NE(events_[0].reason.find("loopback"), std::string::npos) << events_[0].reason;
  EXPECT_FALSE(events_[0].has_rule);
}

// A name reaches a loopback address only with a rule for the name and one
// naming that literal address; the literal rule alone opens no name (which
// would not even be looked up).
TEST_F(EgressTest, NameToLoopbackNeedsItsOwnRuleAndTheLiteralOne) {
  std::string by_name = "localhost:" + http_.Port();
  RunResult result = Run({"--allow-net", AllowHttp(), "--allow-net", by_name},
                         CurlViaProxy("http://localhost:" + http_.Port() + "/file"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "page="), Page().substr(5)) << result.out << result.err;
  EXPECT_EQ(HttpRequestsSinceSetUp(), (std::vector<std::string>{"GET /file HTTP/1.1"}));
  ASSERT_EQ(events_.size(), 1u) << Describe(events_);
  EXPECT_EQ(events_[0].activity_id, 1);
  EXPECT_EQ(events_[0].hostname, "localhost");
  EXPECT_EQ(events_[0].ip, "127.0.0.1");
  EXPECT_EQ(events_[0].rule, AllowHttp());

  RunResult literal_only =
      Run({"--allow-net", AllowHttp()}, CurlViaProxy("http://localhost:" + http_.Port() + "/file"));
  EXPECT_NE(literal_only.out.find("denied: no rule allows localhost:" + http_.Port()),
            std::string::npos)
      << literal_only.out << literal_only.err;
  EXPECT_EQ(HttpRequestsSinceSetUp().size(), 1u) << "the name alone reached the server";
}

// One proxy serves the whole run: request after request, each way, one
// after another and all at once, and none takes the proxy down for the next.
TEST_F(EgressTest, ProxyServesEveryRequestOfARunInTurnAndAtOnce) {
  constexpr int kEach = 10;
  std::string script;
  for (int i = 0; i < kEach; ++i) script += CurlViaProxy(HttpUrl()) + CurlViaProxy(HttpUrl(), "-p");
  // All at once: each curl into a file of its own, printed once all ended.
  script += "for i in $(/usr/bin/seq " + std::to_string(kEach) + "); do /usr/bin/curl -sS " +
            "--max-time 10 --noproxy '' -x \"$http_proxy\" " + HttpUrl() +
            " > /tmp/at-once.$i 2>&1 & done; wait; /usr/bin/cat /tmp/at-once.*; echo";
  RunResult result = Run({"--allow-net", AllowHttp()}, script);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> exits = FindLines(result.out, "curl_exit=");
  EXPECT_EQ(exits, std::vector<std::string>(2 * kEach, "0")) << result.out << result.err;
  EXPECT_EQ(FindLines(result.out, "page="), std::vector<std::string>(3 * kEach, Page().substr(5)))
      << result.out << result.err;
  EXPECT_EQ(HttpRequestsSinceSetUp().size(), static_cast<size_t>(3 * kEach));
  size_t opened = 0;
  for (const EgressEvent& event : events_) opened += event.activity_id == 1;
  EXPECT_EQ(opened, static_cast<size_t>(3 * kEach)) << Describe(events_);
}

// What a test started, for the checks that nothing is left behind. Other
// sessions may run sandboxes on this host at the same time, so "ours" is
// what carries the test's mark in its environment: the broker passes its
// environment to the proxy it forks, and the workload gets the mark through
// --allow-env.

constexpr char kMarkName[] = "TETHER_EGRESS_IT_MARK";

std::string NewMark() {
  std::random_device random;
  return std::to_string(getpid()) + "-" + std::to_string(random());
}

bool CarriesMark(const std::string& pid, const std::string& mark) {
  std::string environ = "\0"s + ReadFile("/proc/" + pid + "/environ");
  return environ.find("\0"s + kMarkName + "=" + mark + "\0"s) != std::string::npos;
}

// Appends what `fd` gives to *text until a line is `line`, EOF or 10 s.
void ReadUntilLine(int fd, const std::string& line, std::string* text) {
  ReadUntil(fd, 10, text, [&](const std::string& read) {
    return ("\n" + read).find("\n" + line + "\n") != std::string::npos;
  });
}

std::string NetNamespaceOf(const std::string& pid) {
  std::error_code error;
  return std::filesystem::read_symlink("/proc/" + pid + "/ns/net", error).string();
}

std::string StatusLine(const std::string& status, const std::string& key) {
  return FindLine(status, key + ":\t");
}

// The proxy is where the broker's own network is (it connects out from
// there), and it holds nothing a workload could turn against the host.
TEST_F(EgressTest, ProxyIsAConfinedChildOfTheBrokerInTheHostNetworkAndEndsWithTheRun) {
  RunSpec spec;
  spec.args = {"run",
               "--allow-net",
               AllowHttp(),
               "--",
               "/bin/sh",
               "-c",
               "echo workload_net=$(/usr/bin/readlink /proc/self/ns/net); "
               "exec ./sandbox_probe wait-signal"};
  const std::string mark = NewMark();
  spec.before_exec = [&mark] { setenv(kMarkName, mark.c_str(), 1); };
  std::string early;
  pid_t proxy = 0;
  std::string proxy_status, proxy_net, proxy_cmdline;
  bool proxy_marked = false;
  spec.while_running = [&](pid_t tether, int out_fd, int) {
    ReadUntilLine(out_fd, "ready", &early);
    for (pid_t child : Descendants(tether)) {
      std::string pid = std::to_string(child);
      if (ReadFile("/proc/" + pid + "/comm") != "tether-egress\n") continue;
      proxy = child;
      proxy_status = ReadFile("/proc/" + pid + "/status");
      proxy_net = NetNamespaceOf(pid);
      proxy_marked = CarriesMark(pid, mark);
      proxy_cmdline = ReadFile("/proc/" + pid + "/cmdline");
    }
    kill(tether, SIGTERM);  // forwarded: the workload ends the run
  };
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  ASSERT_NE(proxy, 0) << "no tether-egress process under the broker while the workload ran";
  EXPECT_EQ(StatusLine(proxy_status, "PPid"), std::to_string(result.pid)) << proxy_status;
  EXPECT_EQ(proxy_net, NetNamespaceOf("self")) << "the proxy is not in the host's network";
  std::string workload_net = FindLine(early, "workload_net=");
  EXPECT_EQ(workload_net.rfind("net:[", 0), 0u) << early;
  EXPECT_NE(workload_net, proxy_net);
  EXPECT_EQ(StatusLine(proxy_status, "Seccomp"), "2");
  EXPECT_EQ(StatusLine(proxy_status, "NoNewPrivs"), "1");
  for (const char* set : {"CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"}) {
    EXPECT_EQ(StatusLine(proxy_status, set), "0000000000000000") << set;
  }
  // Started with every signal blocked (kernel/spawn.h), it unblocks them
  // itself: a proxy that kept them would outlive a SIGTERM.
  EXPECT_EQ(StatusLine(proxy_status, "SigBlk"), "0000000000000000") << proxy_status;
  // What the leak tests below find a proxy of theirs by.
  EXPECT_TRUE(proxy_marked) << "the proxy does not carry its broker's environment";
  // Any local user reads a command line: the allow-list travels in a memfd.
  EXPECT_NE(proxy_cmdline.find("tether-egress"), std::string::npos) << proxy_cmdline;
  EXPECT_EQ(proxy_cmdline.find(AllowHttp()), std::string::npos)
      << "the allow-list is readable in the proxy's /proc/<pid>/cmdline";
  EXPECT_TRUE(ProcessGone(proxy)) << "the proxy outlived its run";
}

// A proxy that dies leaves the sandbox with no way out (nothing else
// listens there); the broker says so at once, and the run goes on.
TEST_F(EgressTest, AProxyThatDiesIsReportedAndTheRunGoesOn) {
  std::string events_path = "/tmp/egress-proxy-gone-" + std::to_string(getpid()) + ".jsonl";
  unlink(events_path.c_str());
  RunSpec spec;
  spec.args = {"run",      "--allow-net", AllowHttp(),
               "--events", events_path,   "--",
               "/bin/sh",  "-c",          "exec ./sandbox_probe wait-signal"};
  std::string early;
  bool killed = false;
  spec.while_running = [&](pid_t tether, int out_fd, int) {
    ReadUntilLine(out_fd, "ready", &early);
    for (pid_t child : Descendants(tether)) {
      if (ReadFile("/proc/" + std::to_string(child) + "/comm") != "tether-egress\n") continue;
      killed = kill(child, SIGKILL) == 0;
    }
    // The broker notices before the workload is told to end.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(tether, SIGTERM);
  };
  RunResult result = RunTether(spec);
  std::string events = ReadFile(events_path);
  unlink(events_path.c_str());
  ASSERT_TRUE(killed) << "no tether-egress process under the broker";
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("the egress proxy killed by signal 9; the sandbox has no egress"),
            std::string::npos)
      << result.err;
  bool reported = false;
  std::istringstream lines(events);
  for (std::string line; std::getline(lines, line);) {
    reported |= line.find("\"activity_name\":\"Degraded\"") != std::string::npos &&
                line.find("\"mechanism\":\"egress_proxy\"") != std::string::npos;
  }
  EXPECT_TRUE(reported) << events;
}

// ---------------------------------------------------------------------------
// Nothing left behind.

std::vector<std::string> ProcessIds() {
  std::vector<std::string> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") == std::string::npos) pids.push_back(name);
  }
  return pids;
}

// "PID comm" of every live process carrying `mark`, after up to five
// seconds for the dying to go.
std::vector<std::string> MarkedProcesses(const std::string& mark) {
  std::vector<std::string> marked;
  for (int attempt = 0; attempt < 100; ++attempt) {
    marked.clear();
    for (const std::string& pid : ProcessIds()) {
      std::string stat = ReadFile("/proc/" + pid + "/stat");
      size_t paren = stat.rfind(')');
      if (stat.empty() || (paren != std::string::npos && stat[paren + 2] == 'Z')) continue;
      if (CarriesMark(pid, mark)) marked.push_back(pid + " " + ReadFile("/proc/" + pid + "/comm"));
    }
    if (marked.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return marked;
}

// Every network namespace a process is in or holds an fd of, with the pids.
std::map<std::string, std::set<std::string>> NetworkNamespaces() {
  std::map<std::string, std::set<std::string>> found;
  for (const std::string& pid : ProcessIds()) {
    std::string own = NetNamespaceOf(pid);
    if (!own.empty()) found[own].insert(pid);
    std::error_code error;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/" + pid + "/fd", error)) {
      std::error_code link_error;
      std::string target = std::filesystem::read_symlink(fd.path(), link_error).string();
      if (target.rfind("net:[", 0) == 0) found[target].insert(pid);
    }
  }
  return found;
}

// Namespaces that are new since `before` and held by a process of ours.
std::vector<std::string> OurNewNamespaces(
    const std::map<std::string, std::set<std::string>>& before, const std::string& mark) {
  std::vector<std::string> ours;
  for (const auto& [ns, holders] : NetworkNamespaces()) {
    if (before.count(ns)) continue;
    for (const std::string& pid : holders) {
      if (CarriesMark(pid, mark)) ours.push_back(ns + " held by " + pid);
    }
  }
  return ours;
}

size_t OpenFds(const std::string& pid) {
  size_t count = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + pid + "/fd", error)) {
    (void)entry;
    ++count;
  }
  return count;
}

TEST_F(EgressTest, HundredRunsWithAnAllowListLeaveNoProcessNamespaceOrFdBehind) {
  constexpr int kRuns = 100;
  const std::string mark = NewMark();
  auto namespaces_before = NetworkNamespaces();
  size_t fds_before = OpenFds("self");
  std::set<std::string> sandbox_namespaces;
  auto start = std::chrono::steady_clock::now();
  for (int run = 0; run < kRuns; ++run) {
    RunSpec spec;
    spec.args = {
        "run",
        "--allow-net",
        AllowHttp(),
        "--allow-env",
        kMarkName,
        "--",
        "/bin/sh",
        "-c",
        "echo sandbox_net=$(/usr/bin/readlink /proc/self/ns/net); " + CurlViaProxy(HttpUrl())};
    spec.before_exec = [&mark] { setenv(kMarkName, mark.c_str(), 1); };
    spec.timeout_seconds = 30;
    RunResult result = RunTether(spec);
    ASSERT_EQ(result.exit_code, 0) << "run " << run << ": " << result.err;
    ASSERT_EQ(FindLine(result.out, "page="), Page().substr(5))
        << "run " << run << ": " << result.out << result.err;
    sandbox_namespaces.insert(FindLine(result.out, "sandbox_net="));
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  std::cout << kRuns << " runs in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms\n";
  EXPECT_EQ(HttpRequestsSinceSetUp().size(), static_cast<size_t>(kRuns));
  EXPECT_FALSE(sandbox_namespaces.count(NetNamespaceOf("self"))) << "a run had the host's network";
  EXPECT_EQ(MarkedProcesses(mark), std::vector<std::string>{})
      << "processes of these runs (brokers, tether-egress, workloads) are still alive";
  EXPECT_EQ(OurNewNamespaces(namespaces_before, mark), std::vector<std::string>{});
  EXPECT_EQ(OpenFds("self"), fds_before) << "the test's (and its servers') fds";
}

// What a `tether serve` with an allow-list is at rest: its fd count, its
// workers, and the proxies under them.
struct ServerState {
  size_t fds = 0;
  size_t workers = 0;
  size_t proxies = 0;      // tether-egress, each a worker's child
  size_t descendants = 0;  // all of them

  bool operator==(const ServerState&) const = default;
};

std::ostream& operator<<(std::ostream& os, const ServerState& state) {
  return os << "{fds " << state.fds << ", workers " << state.workers << ", proxies "
            << state.proxies << ", descendants " << state.descendants << "}";
}

ServerState StateOf(pid_t server) {
  ServerState state;
  state.fds = OpenFds(std::to_string(server));
  std::istringstream children(ReadFile("/proc/" + std::to_string(server) + "/task/" +
                                       std::to_string(server) + "/children"));
  std::set<pid_t> workers;
  for (pid_t child; children >> child;) workers.insert(child);
  state.workers = workers.size();
  for (pid_t pid : Descendants(server)) {
    ++state.descendants;
    std::string status = ReadFile("/proc/" + std::to_string(pid) + "/status");
    if (StatusLine(status, "Name") == "tether-egress" &&
        workers.count(std::atoi(StatusLine(status, "PPid").c_str()))) {
      ++state.proxies;
    }
  }
  return state;
}

// The state once every worker is warm (a worker and its proxy each), or
// whatever it is after ten seconds.
ServerState SettledState(pid_t server, size_t pool) {
  ServerState settled = {0, pool, pool, 2 * pool};
  ServerState state;
  for (int attempt = 0; attempt < 200; ++attempt) {
    state = StateOf(server);
    if (state.workers == settled.workers && state.proxies == settled.proxies &&
        state.descendants == settled.descendants) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return state;
}

// Each waiting worker of a sidecar server holds a warm network with its own
// proxy; a hundred launches through them leave the server as it was, and a
// drain leaves nothing.
TEST_F(EgressTest, HundredSidecarLaunchesLeaveTheServerAsItWas) {
  constexpr int kLaunches = 100;
  constexpr size_t kPool = 2;
  const std::string mark = NewMark();
  std::filesystem::create_directories(dir_.Child("reports"));
  chmod(dir_.Child("reports").c_str(), 0700);
  const std::string socket = dir_.Child("broker.sock");
  auto namespaces_before = NetworkNamespaces();
  pid_t server =
      StartServe({"--socket", socket, "--report-dir", dir_.Child("reports"), "--allow-uid", "0",
                  "--allow-net", AllowHttp(), "--pool", std::to_string(kPool)},
                 socket, dir_.Child("serve.log"), [&mark] { setenv(kMarkName, mark.c_str(), 1); });
  ASSERT_TRUE(std::filesystem::exists(socket)) << ReadFile(dir_.Child("serve.log"));
  ServerState before = SettledState(server, kPool);
  EXPECT_EQ(before.proxies, kPool) << before;
  for (pid_t pid : Descendants(server)) {
    EXPECT_TRUE(CarriesMark(std::to_string(pid), mark)) << "the check below would miss " << pid;
  }
  auto start = std::chrono::steady_clock::now();
  for (int launch = 0; launch < kLaunches; ++launch) {
    RunSpec spec;
    spec.command = {Binaries().Bin("tether-stub"), "--connect", socket, "--", "/bin/sh", "-c",
                    CurlViaProxy(HttpUrl())};
    spec.before_exec = [&mark] { setenv(kMarkName, mark.c_str(), 1); };
    spec.timeout_seconds = 30;
    RunResult result = RunTether(spec);
    ASSERT_EQ(result.exit_code, 0)
        << "launch " << launch << ": " << result.err << ReadFile(dir_.Child("serve.log"));
    ASSERT_EQ(FindLine(result.out, "page="), Page().substr(5))
        << "launch " << launch << ": " << result.out << result.err;
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  std::cout << kLaunches << " sidecar launches in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms\n";
  EXPECT_EQ(HttpRequestsSinceSetUp().size(), static_cast<size_t>(kLaunches));
  ServerState after = SettledState(server, kPool);
  for (int attempt = 0; attempt < 100 && after.fds != before.fds; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    after = StateOf(server);
  }
  EXPECT_EQ(after, before);
  StopServe(server);
  EXPECT_EQ(MarkedProcesses(mark), std::vector<std::string>{})
      << "processes of the server (workers, tether-egress, workloads) outlived its drain";
  EXPECT_EQ(OurNewNamespaces(namespaces_before, mark), std::vector<std::string>{});
}

TEST_F(EgressTest, ReportNamesTheAllowListAndTheEnforcedProxy) {
  const std::string report_path = dir_.Child("report.json");
  RunResult result =
      Run({"--report", report_path, "--allow-net", AllowHttp()}, "echo proxy=$http_proxy");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string text = ReadFile(report_path);
  Decoded<schema::PostureReport> decoded(text);
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  ASSERT_TRUE(decoded.get().hasNetwork()) << text;
  auto network = decoded.get().getNetwork();
  EXPECT_EQ(Strings(network.getEgress()), (std::vector<std::string>{AllowHttp()})) << text;
  // The very proxy the workload was given.
  EXPECT_EQ(Str(network.getProxy()), FindLine(result.out, "proxy=")) << text;
  EXPECT_EQ(Str(network.getProxy()).rfind("http://127.0.0.1:", 0), 0u) << text;
  PostureReport report = ParseReport(text);
  const MechanismRecord* proxy = report.Find("egress_proxy");
  ASSERT_NE(proxy, nullptr) << text;
  EXPECT_EQ(proxy->state, "enforced") << text;
  EXPECT_EQ(proxy->evidence, "verified") << text;

  // Without an allow-list there is no network section at all.
  RunResult plain = Run({"--report", report_path}, "true");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  Decoded<schema::PostureReport> without(ReadFile(report_path));
  ASSERT_TRUE(without.ok()) << without.error();
  EXPECT_FALSE(without.get().hasNetwork());
  EXPECT_EQ(ParseReport(ReadFile(report_path)).Find("egress_proxy"), nullptr);
}

// ---------------------------------------------------------------------------
// Allow-lists that cannot be enforced or parsed: the run is refused before
// the workload starts.

struct RefusedCase {
  const char* name;
  std::vector<std::string> flags;
  const char* policy;  // written to a file and passed with --policy; nullptr: none
  int exit_code;
  const char* message;  // in stderr
};

void PrintTo(const RefusedCase& value, std::ostream* os) { *os << value.name; }

const RefusedCase kRefused[] = {
    {"AllowNetWithNetworkHostIsAUsageError",
     {"--network", "host", "--allow-net", "127.0.0.1:1"},
     nullptr,
     64,
     "--allow-net cannot be enforced with --network host"},
    {"PolicyEgressWithModeHostIsABadPolicy",
     {},
     R"({"network": {"mode": "host", "egress": ["a.example:443"]}})",
     2,
     "$.network.egress"},
    {"WildcardForEveryHostIsAUsageError", {"--allow-net", "*:443"}, nullptr, 64, "'*:443'"},
    {"DestinationWithoutAPortIsAUsageError", {"--allow-net", "bad"}, nullptr, 64, "'bad'"},
};

class RefusedAllowListTest : public ::testing::TestWithParam<RefusedCase> {};

TEST_P(RefusedAllowListTest, RunIsRefusedBeforeTheWorkloadStarts) {
  const RefusedCase& refused = GetParam();
  ScopedTempDir dir("/tmp", 0755);
  RunSpec spec;
  spec.args = {"run"};
  if (refused.policy != nullptr) {
    std::ofstream(dir.Child("policy.json")) << refused.policy;
    spec.args.insert(spec.args.end(), {"--policy", dir.Child("policy.json")});
  }
  spec.args.insert(spec.args.end(), refused.flags.begin(), refused.flags.end());
  spec.args.insert(spec.args.end(), {"--", "/bin/sh", "-c", "echo workload=ran"});
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, refused.exit_code) << result.err;
  EXPECT_NE(result.err.find(refused.message), std::string::npos) << result.err;
  EXPECT_EQ(result.out, "");
}

INSTANTIATE_TEST_SUITE_P(Cases, RefusedAllowListTest, ::testing::ValuesIn(kRefused),
                         [](const ::testing::TestParamInfo<RefusedCase>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace tether::testing
