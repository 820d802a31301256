#include "broker/egress_server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ifaddrs.h>
#include <kj/async-io.h>
#include <kj/compat/http.h>
#include <kj/compat/url.h>
#include <kj/debug.h>
#include <linux/capability.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "broker/report/ocsf_events.h"
#include "kernel/capabilities.h"
#include "policy/supervisor_seccomp.h"

namespace tether::broker {

using policy::EgressRule;
using policy::IpAddress;

// The proxy process: the program tether-egress runs (egress_main.cc).

namespace {

using Outcome = OcsfEventLog::Connection::Outcome;

constexpr auto kHeadTimeout = 15 * kj::SECONDS;  // a CONNECT request's head, as KJ's own
constexpr auto kConnectTimeout = 10 * kj::SECONDS;
constexpr size_t kMaxConnectHead = 16 * 1024;
constexpr char kConnectPrefix[] = "CONNECT ";

struct Destination {
  std::string host;  // normalised
  uint16_t port = 0;
};

// "host:port", "[v6]:port", or, with a default port, just the host.
std::optional<Destination> SplitAuthority(absl::string_view authority,
                                          std::optional<uint16_t> default_port) {
  absl::string_view host = authority;
  absl::string_view port_text;
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != absl::string_view::npos && (bracket == absl::string_view::npos || colon > bracket)) {
    host = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  Destination destination;
  if (port_text.empty()) {
    if (!default_port.has_value() || colon != absl::string_view::npos) return std::nullopt;
    destination.port = *default_port;
  } else {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535 ||
        !absl::ascii_isdigit(port_text[0])) {
      return std::nullopt;
    }
    destination.port = static_cast<uint16_t>(port);
  }
  std::optional<std::string> normalized = policy::NormalizeHost(host);
  if (!normalized.has_value()) return std::nullopt;
  destination.host = *normalized;
  return destination;
}

std::vector<IpAddress> HostAddresses() {
  std::vector<IpAddress> addresses;
  struct ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return addresses;
  for (struct ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr) continue;
    socklen_t length = entry->ifa_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                              : sizeof(struct sockaddr_in);
    if (std::optional<IpAddress> address = IpAddress::FromSockaddr(entry->ifa_addr, length)) {
      addresses.push_back(*address);
    }
  }
  freeifaddrs(list);
  return addresses;
}

// What Open gives: the upstream connection, or why there is none.
struct Upstream {
  kj::Maybe<kj::Own<kj::AsyncIoStream>> stream;
  unsigned status = 0;  // without a stream: 403 or 502
  std::string status_text;
  std::string message;  // the response body

  static Upstream Connected(kj::Own<kj::AsyncIoStream> stream) {
    Upstream upstream;
    upstream.stream = kj::mv(stream);
    return upstream;
  }
  static Upstream Refused(unsigned status, const char* status_text, const std::string& reason) {
    Upstream upstream;
    upstream.status = status;
    upstream.status_text = status_text;
    upstream.message = absl::StrCat("tether egress proxy: ", reason, "\n");
    return upstream;
  }
};

struct Lookup {
  int error = 0;  // getaddrinfo's
  std::vector<IpAddress> addresses;
};

// Lookups under way, each on its thread. A lookup outlives a client that
// gave up on it, so they are bounded apart from the connections.
std::atomic<int> lookups_in_flight{0};

// getaddrinfo blocks, so it runs on a thread of its own; the event loop
// goes on serving the other connections meanwhile. At most `limit` at once:
// beyond that the lookup fails at once (EAI_AGAIN).
kj::Promise<Lookup> Resolve(const std::string& host, int limit) {
  if (lookups_in_flight.fetch_add(1) >= limit) {
    lookups_in_flight.fetch_sub(1);
    Lookup busy;
    busy.error = EAI_AGAIN;
    return busy;
  }
  auto paf = kj::newPromiseAndCrossThreadFulfiller<Lookup>();
  // std::thread wants a callable whose destructor cannot throw; kj::Own's may.
  struct Fulfiller {
    explicit Fulfiller(kj::Own<kj::CrossThreadPromiseFulfiller<Lookup>> owned)
        : fulfiller(kj::mv(owned)) {}
    ~Fulfiller() noexcept {}
    kj::Own<kj::CrossThreadPromiseFulfiller<Lookup>> fulfiller;
  };
  auto holder = std::make_shared<Fulfiller>(kj::mv(paf.fulfiller));
  std::thread thread;
  try {
    thread = std::thread([host, holder]() {
      struct addrinfo hints = {};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      struct addrinfo* results = nullptr;
      Lookup lookup;
      lookup.error = getaddrinfo(host.c_str(), nullptr, &hints, &results);
      for (struct addrinfo* entry = results; lookup.error == 0 && entry != nullptr;
           entry = entry->ai_next) {
        std::optional<IpAddress> address =
            IpAddress::FromSockaddr(entry->ai_addr, entry->ai_addrlen);
        if (address.has_value() && std::find(lookup.addresses.begin(), lookup.addresses.end(),
                                             *address) == lookup.addresses.end()) {
          lookup.addresses.push_back(*address);
        }
      }
      if (results != nullptr) freeaddrinfo(results);
      lookups_in_flight.fetch_sub(1);
      holder->fulfiller->fulfill(kj::mv(lookup));
    });
  } catch (const std::system_error&) {  // no thread to be had
    lookups_in_flight.fetch_sub(1);
    Lookup failed;
    failed.error = EAI_AGAIN;
    return failed;
  }
  thread.detach();
  return kj::mv(paf.promise);
}

// The bytes every client of one sandbox may move through the proxy, both
// ways together.
class ByteBudget {
 public:
  // `exceeded` runs once, when the limit is first passed.
  ByteBudget(uint64_t limit, std::function<void()> exceeded)
      : limit_(limit), exceeded_(std::move(exceeded)) {}
  // Every connection of the sandbox fails from then on.
  void Charge(uint64_t bytes) {
    used_ += bytes;
    if (used_ <= limit_) return;
    if (exceeded_) std::exchange(exceeded_, nullptr)();
    kj::throwFatalException(KJ_EXCEPTION(
        OVERLOADED, "the sandbox's egress byte limit (network.max_bytes) is reached", limit_));
  }

 private:
  uint64_t limit_;
  uint64_t used_ = 0;
  std::function<void()> exceeded_;
};

// A client's connection: every byte either way is charged to the budget,
// and bytes already read (to tell CONNECT from the rest) are read again.
class ClientStream final : public kj::AsyncIoStream {
 public:
  ClientStream(kj::Own<kj::AsyncIoStream> inner, ByteBudget& budget)
      : inner_(kj::mv(inner)), budget_(budget) {}

  void Unread(std::string bytes) {
    pending_ = std::move(bytes) + pending_.substr(offset_);
    offset_ = 0;
  }

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override {
    size_t copied = std::min(max_bytes, pending_.size() - offset_);
    memcpy(buffer, pending_.data() + offset_, copied);
    offset_ += copied;
    if (copied >= min_bytes && copied > 0) return copied;
    return inner_
        ->tryRead(static_cast<char*>(buffer) + copied, min_bytes - copied, max_bytes - copied)
        .then([this, copied](size_t read) {
          budget_.Charge(read);
          return copied + read;
        });
  }
  kj::Promise<void> write(const void* buffer, size_t size) override {
    budget_.Charge(size);
    return inner_->write(buffer, size);
  }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    for (const auto& piece : pieces) budget_.Charge(piece.size());
    return inner_->write(pieces);
  }
  kj::Promise<void> whenWriteDisconnected() override { return inner_->whenWriteDisconnected(); }
  void shutdownWrite() override { inner_->shutdownWrite(); }
  void abortRead() override { inner_->abortRead(); }

 private:
  kj::Own<kj::AsyncIoStream> inner_;
  ByteBudget& budget_;
  std::string pending_;
  size_t offset_ = 0;
};

class Proxy final : public kj::HttpService,
                    private kj::HttpServerErrorHandler,
                    private kj::TaskSet::ErrorHandler {
 public:
  Proxy(kj::AsyncIoContext& io, const EgressConfig& config, std::optional<OcsfEventLog> events)
      : timer_(io.provider->getTimer()),
        network_(io.provider->getNetwork()),
        config_(config),
        events_(std::move(events)),
        budget_(config.limits.max_bytes,
                [this] {
                  Record(Outcome::kFailed, "-", "", 0, "", "",
                         absl::StrCat("the sandbox moved more than network.max_bytes (",
                                      config_.limits.max_bytes, " bytes) through the proxy"));
                }),
        server_(timer_, table_, *this, ServerSettings()),
        tasks_(*this) {}

  kj::Promise<void> AcceptLoop(kj::ConnectionReceiver& listener) {
    return listener.accept().then([this, &listener](kj::Own<kj::AsyncIoStream> connection) {
      if (open_connections_ >= config_.limits.max_connections) {
        Record(Outcome::kDenied, "-", "", 0, "", "",
               absl::StrCat("the sandbox has ", open_connections_,
                            " connections open, network.max_connections"));
        static constexpr char kBusy[] =
            "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        tasks_.add(connection->write(kBusy, sizeof(kBusy) - 1).attach(kj::mv(connection)));
      } else {
        ++open_connections_;
        tasks_.add(
            Serve(kj::heap<ClientStream>(kj::mv(connection), budget_)).attach(kj::defer([this]() {
              --open_connections_;
            })));
      }
      return AcceptLoop(listener);
    });
  }

  // Absolute-URI requests: http:// only (https goes through CONNECT).
  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url,
                            const kj::HttpHeaders& headers, kj::AsyncInputStream& body,
                            Response& response) override {
    std::string method_name = kj::str(method).cStr();
    KJ_IF_MAYBE (parsed, kj::Url::tryParse(url, kj::Url::HTTP_PROXY_REQUEST)) {
      std::optional<Destination> destination =
          parsed->scheme == "http" ? SplitAuthority(parsed->host.cStr(), 80) : std::nullopt;
      if (!destination.has_value()) {
        return SendText(response, 400, "Bad Request",
                        "tether egress proxy: expected an absolute http:// URL (use CONNECT for "
                        "https)\n");
      }
      // The target as the client wrote it (KJ would re-encode it, which
      // breaks signed URLs), once KJ has read the same authority from it.
      std::string target(url.cStr());
      size_t authority_start = target.find("://") + 3;
      size_t path_start = target.find_first_of("/?#", authority_start);
      std::string authority = target.substr(authority_start, path_start - authority_start);
      if (!absl::EqualsIgnoreCase(authority, parsed->host.cStr())) {
        return SendText(response, 400, "Bad Request",
                        "tether egress proxy: the URL's authority is malformed\n");
      }
      std::string path = path_start == std::string::npos ? "/" : target.substr(path_start);
      path = path.substr(0, path.find('#'));
      if (path.empty() || path[0] != '/') path = "/" + path;
      auto forwarded = kj::heap(ForwardedHeaders(headers));
      // The server is the one the URL names, whatever Host the client sent.
      forwarded->set(kj::HttpHeaderId::HOST, kj::str(parsed->host));
      return Open(method_name, *destination)
          .then([this, method, path = std::move(path), forwarded = kj::mv(forwarded), &body,
                 &response](Upstream upstream) mutable -> kj::Promise<void> {
            KJ_IF_MAYBE (stream, upstream.stream) {
              auto client = kj::newHttpClient(table_, **stream);
              auto service = kj::newHttpService(*client);
              auto done = service->request(method, path, *forwarded, body, response);
              // Attachments go in reverse order: the service, then the
              // client built on the stream, then the stream.
              return done.attach(kj::mv(*stream), kj::mv(forwarded), kj::mv(client),
                                 kj::mv(service));
            }
            return SendText(response, upstream.status, upstream.status_text, upstream.message);
          });
    }
    return SendText(response, 400, "Bad Request", "tether egress proxy: malformed URL\n");
  }

 private:
  kj::HttpServerSettings ServerSettings() {
    kj::HttpServerSettings settings;
    settings.errorHandler = static_cast<kj::HttpServerErrorHandler&>(*this);
    return settings;
  }

  // KJ's own handlers would send the exception's text and a stack trace to
  // the client: addresses of the broker's, which it forked the proxy from.
  kj::Promise<void> handleClientProtocolError(kj::HttpHeaders::ProtocolError error,
                                              kj::HttpService::Response& response) override {
    return SendText(response, error.statusCode, error.statusMessage,
                    "tether egress proxy: malformed request\n");
  }
  kj::Promise<void> handleApplicationError(
      kj::Exception exception, kj::Maybe<kj::HttpService::Response&> response) override {
    KJ_IF_MAYBE (open, response) {
      if (exception.getType() != kj::Exception::Type::DISCONNECTED) {
        return SendText(*open, 502, "Bad Gateway", "tether egress proxy: the request failed\n");
      }
    }
    return kj::READY_NOW;
  }

  // A client or server that went away, a timeout or the byte limit: that
  // connection ends; the proxy goes on.
  void taskFailed(kj::Exception&& exception) override {}

  void Record(Outcome outcome, const std::string& request, const std::string& host, int port,
              const std::string& address, const std::string& rule, const std::string& reason) {
    if (!events_.has_value() || events_written_ > config_.limits.max_events) return;
    if (++events_written_ > config_.limits.max_events) {
      // A workload that opens connections in a loop must not fill the
      // host's disk: the last event says the rest go unlogged.
      OcsfEventLog::Connection last;
      last.outcome = Outcome::kFailed;
      last.request = "-";
      last.reason = absl::StrCat("the sandbox asked for more than ", config_.limits.max_events,
                                 " connections; the rest are not logged");
      events_->NetworkConnection(last);
      return;
    }
    OcsfEventLog::Connection connection;
    connection.outcome = outcome;
    connection.request = request;
    connection.host = host;
    connection.port = port;
    connection.address = address;
    connection.rule = rule;
    connection.reason = reason;
    events_->NetworkConnection(connection);
  }

  // The request's headers less those meant for this hop only: the
  // Proxy-* ones and every header the client's Connection header names
  // (KJ itself writes the connection-level ones: Connection, Keep-Alive,
  // Transfer-Encoding, Content-Length, Upgrade).
  kj::HttpHeaders ForwardedHeaders(const kj::HttpHeaders& headers) {
    std::vector<std::string> hop_by_hop = {"proxy-connection", "proxy-authorization",
                                           "proxy-authenticate", "te", "trailer"};
    KJ_IF_MAYBE (connection, headers.get(kj::HttpHeaderId::CONNECTION)) {
      for (absl::string_view name : absl::StrSplit(connection->cStr(), ',')) {
        hop_by_hop.push_back(absl::AsciiStrToLower(absl::StripAsciiWhitespace(name)));
      }
    }
    kj::HttpHeaders forwarded(table_);
    headers.forEach([&](kj::StringPtr name, kj::StringPtr value) {
      std::string lower = absl::AsciiStrToLower(name.cStr());
      if (std::find(hop_by_hop.begin(), hop_by_hop.end(), lower) == hop_by_hop.end()) {
        forwarded.add(kj::str(name), kj::str(value));
      }
    });
    return forwarded;
  }

  kj::Promise<void> SendText(Response& response, unsigned status, kj::StringPtr status_text,
                             std::string text) {
    kj::HttpHeaders headers(table_);
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, "text/plain; charset=utf-8");
    auto body = response.send(status, status_text, headers, text.size());
    auto owned = kj::heap<std::string>(std::move(text));
    auto written = body->write(owned->data(), owned->size());
    return written.attach(kj::mv(body), kj::mv(owned));
  }

  // Decides, resolves where needed, and connects: the upstream stream, or
  // why there is none (the event is written here).
  kj::Promise<Upstream> Open(const std::string& request, const Destination& destination) {
    kj::Promise<Lookup> lookup = nullptr;
    bool literal = IpAddress::ParseLiteral(destination.host).has_value();
    if (literal || !NameNeedsLookup(config_.rules, destination.host, destination.port)) {
      lookup = Lookup{};
    } else {
      lookup = Resolve(destination.host, config_.limits.max_connections);
    }
    return lookup.then([this, request, destination](Lookup found) -> kj::Promise<Upstream> {
      std::string where = absl::StrCat(destination.host, ":", destination.port);
      if (found.error != 0) {
        std::string reason =
            absl::StrCat("cannot resolve ", destination.host, ": ", gai_strerror(found.error));
        Record(Outcome::kFailed, request, destination.host, destination.port, "", "", reason);
        return Upstream::Refused(502, "Bad Gateway", reason);
      }
      EgressDecision decision = DecideEgress(config_.rules, destination.host, destination.port,
                                             found.addresses, HostAddresses());
      if (!decision.allowed) {
        Record(Outcome::kDenied, request, destination.host, destination.port, "", "",
               decision.reason);
        return Upstream::Refused(403, "Forbidden",
                                 absl::StrCat("egress to ", where, " denied: ", decision.reason));
      }
      std::string address = decision.address->ToString();
      std::string rule = decision.rule;
      struct sockaddr_storage storage = {};
      socklen_t length = ToSockaddr(*decision.address, destination.port, &storage);
      auto connecting = network_.getSockaddr(&storage, length)->connect();
      return timer_.timeoutAfter(kConnectTimeout, kj::mv(connecting))
          .then(
              [this, request, destination, address, rule](kj::Own<kj::AsyncIoStream> stream) {
                Record(Outcome::kOpened, request, destination.host, destination.port, address, rule,
                       "allowed");
                return Upstream::Connected(kj::mv(stream));
              },
              [this, request, destination, address, rule](kj::Exception&& exception) {
                std::string reason =
                    absl::StrCat("connect to ", address, ": ", exception.getDescription().cStr());
                Record(Outcome::kFailed, request, destination.host, destination.port, address, rule,
                       reason);
                return Upstream::Refused(502, "Bad Gateway", reason);
              });
    });
  }

  static socklen_t ToSockaddr(const IpAddress& address, uint16_t port,
                              struct sockaddr_storage* storage) {
    if (address.family == AF_INET6) {
      auto* v6 = reinterpret_cast<struct sockaddr_in6*>(storage);
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(port);
      memcpy(&v6->sin6_addr, address.bytes.data(), 16);
      return sizeof(*v6);
    }
    auto* v4 = reinterpret_cast<struct sockaddr_in*>(storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    memcpy(&v4->sin_addr, address.bytes.data(), 4);
    return sizeof(*v4);
  }

  // Reads the first bytes to tell CONNECT (which KJ's server leaves to its
  // user) from every other request, then hands the connection on.
  kj::Promise<void> Serve(kj::Own<ClientStream> client) {
    auto head = kj::heap<std::string>();
    auto sniffed = ReadWhile(*client, *head, [](const std::string& bytes) {
      return bytes.size() < strlen(kConnectPrefix) &&
             std::string_view(kConnectPrefix).substr(0, bytes.size()) == bytes;
    });
    return timer_.timeoutAfter(kHeadTimeout, kj::mv(sniffed))
        .then([this, client = kj::mv(client), head = kj::mv(head)]() mutable -> kj::Promise<void> {
          if (*head != kConnectPrefix) {
            client->Unread(std::move(*head));
            return server_.listenHttp(kj::mv(client));
          }
          auto connect_head = kj::heap<std::string>(std::move(*head));
          auto read = ReadWhile(*client, *connect_head, [](const std::string& bytes) {
            return bytes.find("\r\n\r\n") == std::string::npos && bytes.size() <= kMaxConnectHead;
          });
          return timer_.timeoutAfter(kHeadTimeout, kj::mv(read))
              .then([this, client = kj::mv(client), connect_head = kj::mv(connect_head)]() mutable {
                return Tunnel(kj::mv(client), std::move(*connect_head));
              });
        });
  }

  // Reads into `bytes` while `more(bytes)` holds and the client sends.
  template <typename More>
  kj::Promise<void> ReadWhile(ClientStream& client, std::string& bytes, More more) {
    if (!more(bytes)) return kj::READY_NOW;
    auto chunk = kj::heap<std::array<char, 512>>();
    // Never past what `more` asks for in the sniffing case: one byte at a
    // time until the prefix is decided, a chunk afterwards.
    size_t want = bytes.size() < strlen(kConnectPrefix) ? 1 : chunk->size();
    auto read = client.tryRead(chunk->data(), 1, want);
    return read.then([this, &client, &bytes, more,
                      chunk = kj::mv(chunk)](size_t count) mutable -> kj::Promise<void> {
      if (count == 0) return kj::READY_NOW;  // EOF: decided by what arrived
      bytes.append(chunk->data(), count);
      return ReadWhile(client, bytes, more);
    });
  }

  kj::Promise<void> Tunnel(kj::Own<ClientStream> client, std::string head) {
    size_t end = head.find("\r\n\r\n");
    if (end == std::string::npos) {
      return WriteAndClose(kj::mv(client), 400, "Bad Request",
                           "tether egress proxy: the CONNECT request's head is too long or cut "
                           "short\n");
    }
    client->Unread(head.substr(end + 4));  // whatever the client sent ahead
    size_t line_end = head.find("\r\n");
    std::vector<std::string> words = absl::StrSplit(head.substr(0, line_end), ' ');
    // The header lines after the request line, parsed by KJ (and checked:
    // a malformed one refuses the request).
    std::string header_lines = head.substr(line_end + 2, end + 4 - (line_end + 2));
    kj::HttpHeaders headers(table_);
    bool headers_ok = header_lines == "\r\n" || headers.tryParse(kj::ArrayPtr<char>(
                                                    header_lines.data(), header_lines.size()));
    std::optional<Destination> destination;
    if (words.size() == 3 && (words[2] == "HTTP/1.1" || words[2] == "HTTP/1.0") && headers_ok) {
      destination = SplitAuthority(words[1], std::nullopt);
    }
    if (!destination.has_value()) {
      return WriteAndClose(kj::mv(client), 400, "Bad Request",
                           "tether egress proxy: expected CONNECT host:port HTTP/1.1\n");
    }
    return Open("CONNECT", *destination)
        .then([this, client = kj::mv(client)](Upstream upstream) mutable -> kj::Promise<void> {
          KJ_IF_MAYBE (stream, upstream.stream) {
            static constexpr char kEstablished[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
            auto written = client->write(kEstablished, sizeof(kEstablished) - 1);
            return written.then([client = kj::mv(client), upstream = kj::mv(*stream)]() mutable {
              return Splice(kj::mv(client), kj::mv(upstream));
            });
          }
          return WriteAndClose(kj::mv(client), upstream.status, upstream.status_text,
                               upstream.message);
        });
  }

  // Both directions until both end; a failure of either ends both.
  static kj::Promise<void> Splice(kj::Own<ClientStream> client, kj::Own<kj::AsyncIoStream> server) {
    auto up =
        client->pumpTo(*server).then([&server = *server](uint64_t) { server.shutdownWrite(); });
    auto down =
        server->pumpTo(*client).then([&client = *client](uint64_t) { client.shutdownWrite(); });
    auto both = kj::heapArrayBuilder<kj::Promise<void>>(2);
    auto end_both = [&client = *client, &server = *server](kj::Exception&& exception) {
      client.abortRead();
      server.abortRead();
      kj::throwFatalException(kj::mv(exception));
    };
    // Eagerly: a joined promise's continuations otherwise wait for the
    // whole join, and the half-close would come only when both ends closed.
    both.add(up.catch_(end_both).eagerlyEvaluate(nullptr));
    both.add(down.catch_(end_both).eagerlyEvaluate(nullptr));
    return kj::joinPromises(both.finish()).attach(kj::mv(client), kj::mv(server));
  }

  kj::Promise<void> WriteAndClose(kj::Own<ClientStream> client, unsigned status,
                                  const std::string& status_text, const std::string& text) {
    auto response = kj::heap<std::string>(
        absl::StrCat("HTTP/1.1 ", status, " ", status_text,
                     "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ", text.size(),
                     "\r\nConnection: close\r\n\r\n", text));
    auto written = client->write(response->data(), response->size());
    return written.attach(kj::mv(client), kj::mv(response));
  }

  kj::Timer& timer_;
  kj::Network& network_;
  const EgressConfig& config_;
  std::optional<OcsfEventLog> events_;
  ByteBudget budget_;
  kj::HttpHeaderTable table_;
  kj::HttpServer server_;
  kj::TaskSet tasks_;
  int open_connections_ = 0;
  int events_written_ = 0;
};

// The proxy process's own confinement, before it reads a byte from the
// sandbox. It only connects out, so it needs no capability and no uid of
// the broker's: a root broker's proxy runs as nobody (root's files stay
// out of reach of a proxy the workload might subvert), not dumpable (no
// ptrace by another process of nobody's), with no_new_privs and the
// broker's seccomp filter (no execve, mount, ptrace, setns...).
bool ConfineSelf(pid_t parent, const std::vector<struct sock_filter>& filter) {
  // A non-root broker has no CAP_SETPCAP to clear the bounding set with; in
  // a user namespace of its own the proxy has it, over a bounding set of its
  // own, and it gives up everything right after. Its uid on the host and its
  // network namespace (where it connects) stay the broker's.
  if (geteuid() != 0 && unshare(CLONE_NEWUSER) != 0) return false;
  if (kernel::ClearBoundingSet() != 0) return false;  // needs CAP_SETPCAP: first
  if (geteuid() == 0) {
    if (setgroups(0, nullptr) != 0 ||
        setresgid(kEgressProxyUid, kEgressProxyUid, kEgressProxyUid) != 0 ||
        setresuid(kEgressProxyUid, kEgressProxyUid, kEgressProxyUid) != 0) {
      return false;
    }
    // The uid change made it dumpable again where fs.suid_dumpable is 1:
    // not for a moment, with the event log open and no filter yet.
    if (prctl(PR_SET_DUMPABLE, 0) != 0) return false;
    // A change of credentials clears the parent-death signal: set again,
    // and the parent checked again, since it may have gone in between.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) return false;
  }
  if (prctl(PR_SET_DUMPABLE, 0) != 0) return false;
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capset, &header, data) != 0) return false;
  return policy::RestrictSelfWithSeccomp(filter).ok();
}

}  // namespace

[[noreturn]] void ServeEgressProxy(pid_t parent, const EgressConfig& config,
                                   const std::vector<struct sock_filter>& filter, bool events) {
  prctl(PR_SET_NAME, "tether-egress");
  signal(SIGPIPE, SIG_IGN);
  // Before anything else (the exec made it dumpable): ConfineSelf drops the
  // uid, which could otherwise leave a window for another of nobody's.
  if (prctl(PR_SET_DUMPABLE, 0) != 0) _exit(1);
  if (!ConfineSelf(parent, filter)) {
    std::fprintf(stderr, "tether: the egress proxy could not confine itself\n");
    _exit(1);
  }
  std::optional<OcsfEventLog> log;
  if (events) {
    absl::StatusOr<OcsfEventLog> shared = OcsfEventLog::Share(kEgressEventsFd);
    if (!shared.ok()) _exit(1);
    log.emplace(std::move(*shared));
    close(kEgressEventsFd);
  }
  // KJ logs what it drops (a client gone mid-response, the byte limit) to
  // stderr, which is the caller's terminal; the events say what happened.
  kj::_::Debug::setLogLevel(kj::LogSeverity::FATAL);
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::Own<kj::ConnectionReceiver> receiver = io.lowLevelProvider->wrapListenSocketFd(
      kEgressListenerFd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  char byte = 1;
  if (write(kEgressReadyFd, &byte, 1) != 1) _exit(1);
  close(kEgressReadyFd);
  Proxy proxy(io, config, std::move(log));
  kj::runCatchingExceptions([&]() { proxy.AcceptLoop(*receiver).wait(io.waitScope); });
  _exit(1);  // accept failed for good
}

}  // namespace tether::broker
