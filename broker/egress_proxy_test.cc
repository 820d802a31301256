// The egress proxy's decisions (a pure function) and its process, driven by
// real clients over real sockets: here the listener is on the host's
// loopback, since the namespace part is netns_test's and egress_test's.

#include "broker/egress_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "ipc/unique_fd.h"
#include "policy/supervisor_seccomp.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::broker {
namespace {

using policy::EgressRule;
using policy::IpAddress;

std::vector<EgressRule> Rules(const std::vector<std::string>& texts) {
  absl::StatusOr<std::vector<EgressRule>> rules = policy::ParseEgressRules(texts);
  EXPECT_TRUE(rules.ok()) << rules.status();
  return rules.ok() ? *rules : std::vector<EgressRule>{};
}

IpAddress Ip(const std::string& text) { return *IpAddress::ParseLiteral(text); }

// ---------------------------------------------------------------------------
// DecideEgress.

struct DecisionCase {
  const char* name;
  std::vector<std::string> rules;
  std::string host;
  uint16_t port;
  std::vector<std::string> resolved;
  bool allowed;
  std::string rule_or_reason;  // the deciding rule if allowed, else part of the reason
};

class DecideEgressTest : public ::testing::TestWithParam<DecisionCase> {};

TEST_P(DecideEgressTest, DecidesByTheRuleAndTheAddress) {
  const DecisionCase& c = GetParam();
  std::vector<IpAddress> resolved;
  for (const std::string& text : c.resolved) resolved.push_back(Ip(text));
  // 192.0.2.10 plays the host's own address.
  EgressDecision decision =
      DecideEgress(Rules(c.rules), c.host, c.port, resolved, {Ip("192.0.2.10")});
  EXPECT_EQ(decision.allowed, c.allowed) << decision.reason;
  if (c.allowed) {
    EXPECT_EQ(decision.rule, c.rule_or_reason);
    ASSERT_TRUE(decision.address.has_value());
  } else {
    EXPECT_TRUE(absl::StrContains(decision.reason, c.rule_or_reason)) << decision.reason;
    EXPECT_FALSE(decision.address.has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, DecideEgressTest,
    ::testing::Values(
        DecisionCase{
            "NameRule", {"pypi.org:443"}, "pypi.org", 443, {"151.101.0.223"}, true, "pypi.org:443"},
        DecisionCase{"NameRuleOtherPort",
                     {"pypi.org:443"},
                     "pypi.org",
                     80,
                     {},
                     false,
                     "no rule allows pypi.org:80"},
        DecisionCase{"SuffixRule",
                     {"*.pythonhosted.org:443"},
                     "files.pythonhosted.org",
                     443,
                     {"151.101.1.63"},
                     true,
                     "*.pythonhosted.org:443"},
        DecisionCase{"SuffixIsNotApex",
                     {"*.pythonhosted.org:443"},
                     "pythonhosted.org",
                     443,
                     {},
                     false,
                     "no rule allows"},
        DecisionCase{"LookalikeName",
                     {"*.pythonhosted.org:443"},
                     "evilpythonhosted.org",
                     443,
                     {},
                     false,
                     "no rule allows"},
        // Address rules open addresses, never names: a name no rule names
        // is not even looked up.
        DecisionCase{"CidrRuleOpensNoName",
                     {"10.0.0.0/8:5432"},
                     "db.internal",
                     5432,
                     {"10.1.2.3"},
                     false,
                     "no rule allows db.internal:5432"},
        DecisionCase{
            "LiteralInCidr", {"10.0.0.0/8:5432"}, "10.9.9.9", 5432, {}, true, "10.0.0.0/8:5432"},
        DecisionCase{"LiteralOutsideCidr",
                     {"10.0.0.0/8:5432"},
                     "11.0.0.1",
                     5432,
                     {},
                     false,
                     "no rule allows 11.0.0.1:5432"},
        DecisionCase{"NameToLoopbackDenied",
                     {"localhost:8080"},
                     "localhost",
                     8080,
                     {"127.0.0.1"},
                     false,
                     "a loopback address, which only a rule naming exactly 127.0.0.1:8080"},
        DecisionCase{"NameToLoopbackWithItsRuleAndTheLiteralRule",
                     {"localhost:8080", "127.0.0.1:8080"},
                     "localhost",
                     8080,
                     {"127.0.0.1"},
                     true,
                     "127.0.0.1:8080"},
        DecisionCase{"LiteralRuleAloneOpensNoName",
                     {"127.0.0.1:8080"},
                     "localhost",
                     8080,
                     {"127.0.0.1"},
                     false,
                     "no rule allows localhost:8080"},
        DecisionCase{"RebindingToHostsOwnAddress",
                     {"api.example.com:443"},
                     "api.example.com",
                     443,
                     {"192.0.2.10"},
                     false,
                     "an address of the host's own"},
        DecisionCase{"RebindingToLinkLocal",
                     {"api.example.com:80"},
                     "api.example.com",
                     80,
                     {"169.254.169.254"},
                     false,
                     "link-local"},
        DecisionCase{"CidrDoesNotOpenLoopback",
                     {"127.0.0.0/8:8080"},
                     "127.0.0.1",
                     8080,
                     {},
                     false,
                     "only a rule naming exactly 127.0.0.1:8080"},
        DecisionCase{"FirstAllowedAddressWins",
                     {"api.example.com:443"},
                     "api.example.com",
                     443,
                     {"127.0.0.1", "203.0.113.7"},
                     true,
                     "api.example.com:443"},
        DecisionCase{"Ipv6Literal",
                     {"[2001:db8::1]:443"},
                     "2001:db8::1",
                     443,
                     {},
                     true,
                     "[2001:db8::1]:443"},
        DecisionCase{
            "Ipv6LoopbackByName", {"localhost:443"}, "localhost", 443, {"::1"}, false, "loopback"},
        DecisionCase{"NameWithoutAddresses",
                     {"pypi.org:443"},
                     "pypi.org",
                     443,
                     {},
                     false,
                     "has no address"}),
    [](const ::testing::TestParamInfo<DecisionCase>& info) { return info.param.name; });

TEST(DecideEgressTest, NamesNoRuleCouldAllowAreNotLookedUp) {
  std::vector<EgressRule> rules = Rules({"pypi.org:443", "10.0.0.0/8:5432"});
  EXPECT_TRUE(NameNeedsLookup(rules, "pypi.org", 443));
  EXPECT_FALSE(NameNeedsLookup(rules, "anything.example", 5432));  // the CIDR opens no name
  EXPECT_FALSE(NameNeedsLookup(rules, "secret-exfiltration.example", 443));
  EXPECT_FALSE(NameNeedsLookup(rules, "pypi.org", 80));
}

// ---------------------------------------------------------------------------
// The proxy process.

const std::vector<struct sock_filter>& SupervisorFilter() {
  static const auto* filter =
      new std::vector<struct sock_filter>(*policy::CompileSupervisorFilter());
  return *filter;
}

UniqueFd ListenOnLoopback(uint16_t* port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd.get(), reinterpret_cast<struct sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd.get(), 64) != 0) {
    return UniqueFd();
  }
  socklen_t length = sizeof(address);
  getsockname(fd.get(), reinterpret_cast<struct sockaddr*>(&address), &length);
  *port = ntohs(address.sin_port);
  return fd;
}

UniqueFd Connect(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<struct sockaddr*>(&address), sizeof(address)) != 0) {
    return UniqueFd();
  }
  struct timeval timeout = {20, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

void SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += n;
  }
}

// Everything until the peer closes (or the 20 s receive timeout).
std::string ReadAll(int fd) {
  std::string bytes;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) bytes.append(buffer, n);
  return bytes;
}

// One HTTP response: its head and as much body as Content-Length says (the
// proxy keeps a connection open for the next request, as HTTP/1.1 does).
std::string ReadResponse(int fd) {
  std::string bytes;
  char buffer[4096];
  ssize_t n;
  size_t head_end;
  while ((head_end = bytes.find("\r\n\r\n")) == std::string::npos &&
         (n = recv(fd, buffer, sizeof(buffer), 0)) > 0) {
    bytes.append(buffer, n);
  }
  if (head_end == std::string::npos) return bytes;
  size_t length = 0;
  std::string head = absl::AsciiStrToLower(bytes.substr(0, head_end));
  if (size_t at = head.find("content-length: "); at != std::string::npos) {
    length = std::strtoul(head.c_str() + at + 16, nullptr, 10);
  }
  while (bytes.size() < head_end + 4 + length && (n = recv(fd, buffer, sizeof(buffer), 0)) > 0) {
    bytes.append(buffer, n);
  }
  return bytes;
}

// A host HTTP server answering every request with `body`, one connection
// at a time, counting requests.
class OriginServer {
 public:
  explicit OriginServer(std::string body) : body_(std::move(body)) {
    listener_ = ListenOnLoopback(&port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OriginServer() {
    stop_ = true;
    shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int requests() const { return requests_; }
  std::string last_head() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_head_;
  }

 private:
  void Serve() {
    while (!stop_) {
      int client = accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      std::string head;
      char buffer[1024];
      ssize_t n;
      while (head.find("\r\n\r\n") == std::string::npos &&
             (n = recv(client, buffer, sizeof(buffer), 0)) > 0) {
        head.append(buffer, n);
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        last_head_ = head;
      }
      ++requests_;
      SendAll(client, absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", body_.size(),
                                   "\r\nConnection: close\r\n\r\n", body_));
      close(client);
    }
  }

  std::string body_;
  UniqueFd listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  std::string last_head_;
  std::thread thread_;
};

class EgressProxyTest : public ::testing::Test {
 protected:
  void StartProxy(const std::vector<std::string>& rules, EgressLimits limits = {}) {
    EgressConfig config;
    config.rules = Rules(rules);
    config.limits = limits;
    UniqueFd listener = ListenOnLoopback(&proxy_port_);
    ASSERT_TRUE(listener.valid());
    events_path_ = dir_.path() + "/events.jsonl";
    events_ = UniqueFd(open(events_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    absl::StatusOr<std::unique_ptr<EgressProxy>> proxy =
        EgressProxy::Start(std::move(listener), config, events_.get(), SupervisorFilter());
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
  }

  std::string Request(const std::string& request) {
    UniqueFd client = Connect(proxy_port_);
    EXPECT_TRUE(client.valid());
    SendAll(client.get(), request);
    return ReadResponse(client.get());
  }

  std::string Events() {
    std::ifstream in(events_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  testing::ScopedTempDir dir_;
  std::string events_path_;
  UniqueFd events_;
  uint16_t proxy_port_ = 0;
  std::unique_ptr<EgressProxy> proxy_;
};

TEST_F(EgressProxyTest, RelaysAnAllowedAbsoluteUriRequest) {
  OriginServer origin("the page");
  StartProxy({absl::StrCat("127.0.0.1:", origin.port())});
  std::string response = Request(absl::StrCat("GET http://127.0.0.1:", origin.port(),
                                              "/index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                              "Connection: close\r\n\r\n"));
  EXPECT_TRUE(absl::StartsWith(response, "HTTP/1.1 200")) << response;
  EXPECT_TRUE(absl::EndsWith(response, "the page")) << response;
  EXPECT_EQ(origin.requests(), 1);
  EXPECT_TRUE(absl::StrContains(Events(), "\"activity_name\":\"Open\"")) << Events();
}

TEST_F(EgressProxyTest, RefusesADeniedDestinationWith403AndAnEventWithoutConnecting) {
  OriginServer origin("the page");
  StartProxy({"127.0.0.1:1"});
  std::string response =
      Request(absl::StrCat("GET http://127.0.0.1:", origin.port(),
                           "/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(absl::StartsWith(response, "HTTP/1.1 403")) << response;
  EXPECT_TRUE(absl::StrContains(response, "no rule allows 127.0.0.1:")) << response;
  EXPECT_EQ(origin.requests(), 0);
  std::string events = Events();
  EXPECT_TRUE(absl::StrContains(events, "\"class_uid\":4001")) << events;
  EXPECT_TRUE(absl::StrContains(events, "\"action\":\"Denied\"")) << events;
}

TEST_F(EgressProxyTest, TunnelsAnAllowedConnectAndRefusesADeniedOne) {
  OriginServer origin("through the tunnel");
  StartProxy({absl::StrCat("127.0.0.1:", origin.port())});
  UniqueFd client = Connect(proxy_port_);
  SendAll(client.get(), absl::StrCat("CONNECT 127.0.0.1:", origin.port(),
                                     " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                     // sent ahead of the 200, as some clients do
                                     "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  std::string tunnelled = ReadAll(client.get());
  EXPECT_TRUE(absl::StartsWith(tunnelled, "HTTP/1.1 200 Connection Established\r\n\r\n"))
      << tunnelled;
  EXPECT_TRUE(absl::EndsWith(tunnelled, "through the tunnel")) << tunnelled;

  std::string refused = Request("CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(refused, "HTTP/1.1 403")) << refused;
  EXPECT_EQ(origin.requests(), 1);
}

TEST_F(EgressProxyTest, MalformedRequestsGet400AndNoConnection) {
  OriginServer origin("never");
  StartProxy({absl::StrCat("127.0.0.1:", origin.port())});
  const std::string cases[] = {
      "CONNECT nonsense HTTP/1.1\r\n\r\n",
      absl::StrCat("CONNECT 127.0.0.1:", origin.port(), " SMTP/1.0\r\n\r\n"),
      absl::StrCat("CONNECT 127.0.0.1:", origin.port(), "\r\n\r\n"),
      absl::StrCat("CONNECT 127.0.0.1:", origin.port(), " HTTP/1.1\r\nno colon here\r\n\r\n"),
      absl::StrCat("GET ftp://127.0.0.1:", origin.port(),
                   "/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      // A URL whose host is not a host.
      "GET http://exa%mple.com/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "CONNECT 0x7f.0.0.1:80 HTTP/1.1\r\n\r\n",
  };
  for (const std::string& request : cases) {
    std::string response = Request(request);
    EXPECT_TRUE(absl::StartsWith(response, "HTTP/1.1 400")) << request << " -> " << response;
  }
  EXPECT_EQ(origin.requests(), 0);
}

TEST_F(EgressProxyTest, AnEndlessConnectHeadIsCutOff) {
  StartProxy({"127.0.0.1:1"});
  UniqueFd client = Connect(proxy_port_);
  SendAll(client.get(), "CONNECT 127.0.0.1:1 HTTP/1.1\r\n");
  SendAll(client.get(), std::string(64 * 1024, 'a'));
  std::string response = ReadAll(client.get());
  EXPECT_TRUE(absl::StartsWith(response, "HTTP/1.1 400")) << response.substr(0, 200);
}

// Connections beyond the limit are answered 503 at once; the ones held
// (idle clients that never send a request) do not stop others later.
TEST_F(EgressProxyTest, ConnectionsBeyondTheLimitGet503) {
  OriginServer origin("ok");
  EgressLimits limits;
  limits.max_connections = 2;
  StartProxy({absl::StrCat("127.0.0.1:", origin.port())}, limits);
  UniqueFd idle1 = Connect(proxy_port_);
  UniqueFd idle2 = Connect(proxy_port_);
  ASSERT_TRUE(idle1.valid() && idle2.valid());
  // The proxy has accepted both once a third connection is answered.
  std::string response;
  for (int attempt = 0; attempt < 50; ++attempt) {
    response = Request("GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if (absl::StartsWith(response, "HTTP/1.1 503")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(absl::StartsWith(response, "HTTP/1.1 503")) << response;
  EXPECT_TRUE(absl::StrContains(Events(), "network.max_connections")) << Events();
  idle1.reset();
  idle2.reset();
  // Slots come back once the idle clients leave.
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    served = absl::StartsWith(
        Request(absl::StrCat("GET http://127.0.0.1:", origin.port(),
                             "/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
        "HTTP/1.1 200");
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served);
}

TEST_F(EgressProxyTest, TheByteLimitEndsTheTransfer) {
  OriginServer origin(std::string(256 * 1024, 'x'));
  EgressLimits limits;
  limits.max_bytes = 16 * 1024;
  StartProxy({absl::StrCat("127.0.0.1:", origin.port())}, limits);
  std::string response =
      Request(absl::StrCat("GET http://127.0.0.1:", origin.port(),
                           "/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_LE(response.size(), 32u * 1024) << "the limit let " << response.size() << " bytes through";
  EXPECT_TRUE(absl::StrContains(Events(), "network.max_bytes")) << Events();
}

// A client that connects and sends nothing holds one slot, not the proxy.
TEST_F(EgressProxyTest, ASilentClientDoesNotHoldUpOthers) {
  OriginServer origin("prompt");
  StartProxy({absl::StrCat("127.0.0.1:", origin.port())});
  UniqueFd silent = Connect(proxy_port_);
  UniqueFd half = Connect(proxy_port_);
  SendAll(half.get(), "GET http://127.0.0.1");  // and never the rest
  auto start = std::chrono::steady_clock::now();
  std::string response =
      Request(absl::StrCat("GET http://127.0.0.1:", origin.port(),
                           "/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(absl::EndsWith(response, "prompt")) << response;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// What reaches the server: the path exactly as written, the URL's host as
// Host whatever the client claimed, and no header meant for the proxy hop.
TEST_F(EgressProxyTest, ForwardsTheTargetAsWrittenWithTheUrlsHostAndNoHopHeaders) {
  OriginServer origin("ok");
  StartProxy({absl::StrCat("127.0.0.1:", origin.port())});
  std::string response =
      Request(absl::StrCat("GET http://127.0.0.1:", origin.port(),
                           "/signed?a=b%2Fc&x=@y+z HTTP/1.1\r\nHost: evil.example:1\r\n"
                           "Proxy-Authorization: Basic c2VjcmV0\r\nConnection: X-Hop-Secret\r\n"
                           "X-Hop-Secret: internal-token\r\nX-Kept: yes\r\n\r\n"));
  ASSERT_TRUE(absl::StartsWith(response, "HTTP/1.1 200")) << response;
  std::string head = absl::AsciiStrToLower(origin.last_head());
  EXPECT_TRUE(absl::StartsWith(head, "get /signed?a=b%2fc&x=@y+z http/1.1\r\n")) << head;
  EXPECT_TRUE(absl::StrContains(head, absl::StrCat("host: 127.0.0.1:", origin.port(), "\r\n")))
      << head;
  EXPECT_FALSE(absl::StrContains(head, "evil.example")) << head;
  EXPECT_FALSE(absl::StrContains(head, "proxy-authorization")) << head;
  EXPECT_FALSE(absl::StrContains(head, "internal-token")) << head;
  EXPECT_TRUE(absl::StrContains(head, "x-kept: yes")) << head;
}

// KJ's default error pages carry the exception and a stack trace: addresses
// of the broker's. The proxy's say only what failed.
TEST_F(EgressProxyTest, ErrorPagesCarryNoInternals) {
  OriginServer origin("ok");
  StartProxy({absl::StrCat("127.0.0.1:", origin.port())});
  const std::string requests[] = {
      absl::StrCat("POST http://127.0.0.1:", origin.port(),
                   "/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
      "GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
      "BREW http://127.0.0.1:1/ HTTP/1.1\r\n\r\n",
  };
  for (const std::string& request : requests) {
    std::string response = Request(request);
    EXPECT_TRUE(absl::StartsWith(response, "HTTP/1.1 4") ||
                absl::StartsWith(response, "HTTP/1.1 5"))
        << response;
    EXPECT_TRUE(absl::StrContains(response, "tether egress proxy: ")) << response;
    EXPECT_FALSE(absl::StrContains(response, "stack")) << response;
    EXPECT_FALSE(absl::StrContains(response, ".c++")) << response;
  }
}

// A workload looping over connections must not fill the host's disk.
TEST_F(EgressProxyTest, EventsStopAtTheirLimitWithOneEventSayingSo) {
  EgressLimits limits;
  limits.max_events = 20;
  StartProxy({"127.0.0.1:1"}, limits);
  for (int i = 0; i < 40; ++i) {
    Request("GET http://127.0.0.1:2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  }
  std::string events = Events();
  EXPECT_EQ(std::count(events.begin(), events.end(), '\n'), 21) << events;
  EXPECT_TRUE(absl::StrContains(events, "more than 20 connections; the rest are not logged"));
}

// The process the sandbox talks to holds nothing it does not need.
TEST_F(EgressProxyTest, TheProxyProcessIsConfinedAndHoldsOnlyItsFds) {
  StartProxy({"127.0.0.1:1"});
  std::ifstream status(absl::StrCat("/proc/", proxy_->pid(), "/status"));
  std::string line;
  std::vector<std::string> wanted = {"Uid:\t65534\t65534\t65534\t65534",
                                     "Gid:\t65534\t65534\t65534\t65534",
                                     "CapEff:\t0000000000000000",
                                     "CapPrm:\t0000000000000000",
                                     "CapBnd:\t0000000000000000",
                                     "NoNewPrivs:\t1",
                                     "Seccomp:\t2"};
  std::string all;
  while (std::getline(status, line)) all += line + "\n";
  for (const std::string& expected : wanted) {
    EXPECT_TRUE(absl::StrContains(all, expected)) << expected << " not in\n" << all;
  }
  size_t groups = all.find("Groups:");
  ASSERT_NE(groups, std::string::npos);
  EXPECT_EQ(absl::StripAsciiWhitespace(all.substr(groups + 7, all.find('\n', groups) - groups - 7)),
            "")
      << "supplementary groups kept";
  // Beyond stdin, stdout (/dev/null) and stderr: the listener (a socket),
  // the event log and KJ's own epoll and eventfd; nothing of the broker's.
  std::string fd_dir = absl::StrCat("/proc/", proxy_->pid(), "/fd");
  int sockets = 0;
  for (int fd = 0; fd < 256; ++fd) {
    char target[256];
    ssize_t length = readlink(absl::StrCat(fd_dir, "/", fd).c_str(), target, sizeof(target));
    if (length <= 0) continue;
    std::string name(target, length);
    if (fd <= 1) {
      EXPECT_EQ(name, "/dev/null") << "fd " << fd;
    } else if (fd > 2) {
      sockets += absl::StartsWith(name, "socket:");
      EXPECT_TRUE(absl::StartsWith(name, "socket:") || absl::StartsWith(name, "anon_inode:") ||
                  name == events_path_)
          << "fd " << fd << " is " << name;
    }
  }
  EXPECT_EQ(sockets, 1) << "only the listener";
}

// Dead, or a zombie waiting for a reaper that is not this test.
bool ProcessIsDead(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text;
  if (!std::getline(stat, text)) return true;
  size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z';
}

// Its parent-death signal survives its change to nobody (which clears it).
TEST_F(EgressProxyTest, TheProxyDiesWithTheProcessThatStartedIt) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  pid_t starter = fork();
  if (starter == 0) {
    uint16_t port;
    EgressConfig config;
    config.rules = Rules({"127.0.0.1:1"});
    absl::StatusOr<std::unique_ptr<EgressProxy>> proxy =
        EgressProxy::Start(ListenOnLoopback(&port), config, -1, SupervisorFilter());
    pid_t pid = proxy.ok() ? (*proxy)->pid() : -1;
    (void)!write(pipe_fds[1], &pid, sizeof(pid));
    _exit(0);  // without the destructor that would kill it
  }
  close(pipe_fds[1]);
  pid_t proxy = -1;
  ASSERT_EQ(read(pipe_fds[0], &proxy, sizeof(proxy)), static_cast<ssize_t>(sizeof(proxy)));
  close(pipe_fds[0]);
  ASSERT_GT(proxy, 0);
  waitpid(starter, nullptr, 0);
  bool dead = false;
  for (int i = 0; i < 200 && !dead; ++i) {
    dead = ProcessIsDead(proxy);
    if (!dead) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(dead) << "the proxy outlived the process that started it";
}

TEST_F(EgressProxyTest, DestroyingTheProxyKillsItsProcess) {
  StartProxy({"127.0.0.1:1"});
  pid_t pid = proxy_->pid();
  proxy_.reset();
  EXPECT_NE(access(absl::StrCat("/proc/", pid).c_str(), F_OK), 0);
  EXPECT_FALSE(Connect(proxy_port_).valid());
}

// tether-egress beside this test, as beside the broker.
std::string EgressProgram() {
  char self[4096];
  ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string path(self, length > 0 ? length : 0);
  return path.substr(0, path.rfind('/') + 1) + "tether-egress";
}

// Runs tether-egress with `args` and no fds beyond stdio: its exit status
// and what it said.
std::pair<int, std::string> RunEgressProgram(const std::vector<std::string>& args) {
  int err[2];
  EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
  pid_t child = fork();
  if (child == 0) {
    dup2(err[1], STDERR_FILENO);
    std::vector<std::string> all = {EgressProgram()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : all) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(err[1]);
  std::string said;
  char buffer[512];
  for (ssize_t n; (n = read(err[0], buffer, sizeof(buffer))) > 0;) said.append(buffer, n);
  close(err[0]);
  int status = 0;
  waitpid(child, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), said};
}

// Run by hand, or by a broker of another release, the program refuses
// before it listens: a wrong protocol, missing or bad arguments, and no
// sealed allow-list on its fd.
TEST(EgressProgramTest, RefusesWhatItWasNotStartedWith) {
  const std::vector<std::string> limits = {"--parent",    "1",  "--max-connections", "4",
                                           "--max-bytes", "10", "--max-events",      "5"};
  auto with = [&](std::vector<std::string> head) {
    head.insert(head.end(), limits.begin(), limits.end());
    return head;
  };
  struct Case {
    std::vector<std::string> args;
    int status;
    std::string says;
  } cases[] = {
      {with({"--protocol", "999"}), 2, "protocol 999"},
      {limits, 2, "protocol 0"},
      {with({"--protocol", "1", "--bogus"}), 2, "unknown argument '--bogus'"},
      {{"--protocol", "1", "--parent", "1"}, 2, "all three limits are required"},
      {{"--protocol", "1", "--parent", "-3"}, 2, "--parent needs a positive number"},
      // Everything right but the fds: fd 7 is no sealed allow-list.
      {with({"--protocol", "1"}), 1, "its allow-list"},
  };
  ASSERT_EQ(kEgressProtocol, 1) << "the table speaks protocol 1";
  for (const Case& test : cases) {
    auto [status, said] = RunEgressProgram(test.args);
    EXPECT_EQ(status, test.status) << absl::StrJoin(test.args, " ") << ": " << said;
    EXPECT_NE(said.find(test.says), std::string::npos)
        << absl::StrJoin(test.args, " ") << ": " << said;
  }
}

}  // namespace
}  // namespace tether::broker
