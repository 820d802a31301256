#include "policy/egress.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status.h"

namespace tether::policy {
namespace {

constexpr size_t kMaxNameLength = 253;
constexpr size_t kMaxLabelLength = 63;
constexpr const char* kEveryAddress = "allows every address; use --network host";

int FullPrefix(int family) { return family == AF_INET ? 32 : 128; }

bool AllOf(absl::string_view text, bool (*allowed)(char)) {
  return !text.empty() && std::all_of(text.begin(), text.end(), allowed);
}
bool IsDigit(char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }
bool IsDigitOrDot(char c) { return IsDigit(c) || c == '.'; }
bool IsLabelChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-'; }

// One family only, and IPv4-mapped addresses left as they are.
std::optional<IpAddress> ParseRaw(int family, absl::string_view text) {
  // inet_pton reads a C string: an embedded NUL would cut the text short.
  if (text.find('\0') != absl::string_view::npos) return std::nullopt;
  IpAddress address;
  address.family = family;
  if (inet_pton(family, std::string(text).c_str(), address.bytes.data()) != 1) return std::nullopt;
  return address;
}

// Rewrites ::ffff:a.b.c.d as a.b.c.d; says whether it did.
bool UnmapIpv4(IpAddress* address) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (address->family != AF_INET6 ||
      std::memcmp(address->bytes.data(), kMappedPrefix, sizeof(kMappedPrefix)) != 0) {
    return false;
  }
  std::array<uint8_t, 16> ipv4{};
  std::copy_n(address->bytes.begin() + 12, 4, ipv4.begin());
  address->family = AF_INET;
  address->bytes = ipv4;
  return true;
}

// `address` with every bit after the first `prefix_length` cleared.
IpAddress Masked(IpAddress address, int prefix_length) {
  for (int i = 0; i < 16; ++i) {
    int kept_bits = std::clamp(prefix_length - 8 * i, 0, 8);
    address.bytes[i] &= static_cast<uint8_t>(0xff00 >> kept_bits);
  }
  return address;
}

std::optional<uint16_t> ParsePort(absl::string_view text) {
  uint32_t port = 0;
  if (text.size() > 5 || !AllOf(text, IsDigit) || !absl::SimpleAtoi(text, &port) || port < 1 ||
      port > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(port);
}

// Lower case without its one trailing dot, or an error saying why `host` is
// not an RFC 1123 hostname (the caller quotes the whole destination).
absl::StatusOr<std::string> CanonicalHostname(absl::string_view host) {
  absl::string_view name = host;
  absl::ConsumeSuffix(&name, ".");
  if (name.empty()) return absl::InvalidArgumentError("the host is empty");
  if (AllOf(host, IsDigitOrDot)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", host, "' is not a dotted-quad IPv4 address"));
  }
  if (name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError("the name is longer than 253 characters");
  }
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty()) return absl::InvalidArgumentError("the name has an empty label");
    if (label.size() > kMaxLabelLength || !AllOf(label, IsLabelChar) || label.front() == '-' ||
        label.back() == '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", label,
          "' is not a valid DNS label (1-63 letters, digits or '-', not starting or ending "
          "with '-')"));
    }
  }
  // The resolver reads names such as "0x7f.1" as addresses before it looks
  // them up, which would let a name reach 127.0.0.1.
  struct in_addr ignored;
  if (inet_aton(std::string(name).c_str(), &ignored) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' reads as an IPv4 address; write it as four decimal octets"));
  }
  return absl::AsciiStrToLower(name);
}

// How an IPv6 destination written without brackets should have been written.
std::string BracketedSpelling(absl::string_view text) {
  auto is_ipv6 = [](absl::string_view host) {
    return ParseRaw(AF_INET6, host.substr(0, host.find('/'))).has_value();
  };
  size_t colon = text.rfind(':');
  absl::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (ParsePort(port) && is_ipv6(host)) return absl::StrCat("[", host, "]:", port);
  if (is_ipv6(text)) return absl::StrCat("[", text, "]:443");
  return "[ADDRESS]:PORT";
}

std::string CanonicalText(const EgressRule& rule) {
  switch (rule.kind) {
    case EgressRule::Kind::kName: return absl::StrCat(rule.name, ":", rule.port);
    case EgressRule::Kind::kNameSuffix: return absl::StrCat("*", rule.name, ":", rule.port);
    case EgressRule::Kind::kNetwork: break;
  }
  std::string host = rule.network.ToString();
  if (!rule.IsLiteralAddress()) absl::StrAppend(&host, "/", rule.prefix_length);
  if (rule.network.family == AF_INET6) host = absl::StrCat("[", host, "]");
  return absl::StrCat(host, ":", rule.port);
}

}  // namespace

std::optional<IpAddress> IpAddress::ParseLiteral(absl::string_view text) {
  std::optional<IpAddress> address = ParseRaw(AF_INET, text);
  if (!address) address = ParseRaw(AF_INET6, text);
  if (address) UnmapIpv4(&*address);
  return address;
}

std::optional<IpAddress> IpAddress::FromSockaddr(const struct sockaddr* address, socklen_t length) {
  if (address == nullptr || length < static_cast<socklen_t>(sizeof(sa_family_t))) {
    return std::nullopt;
  }
  IpAddress result;
  if (address->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in;
    std::memcpy(&in, address, sizeof(in));
    std::memcpy(result.bytes.data(), &in.sin_addr, sizeof(in.sin_addr));
  } else if (address->sa_family == AF_INET6 &&
             length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6;
    std::memcpy(&in6, address, sizeof(in6));
    result.family = AF_INET6;
    std::memcpy(result.bytes.data(), &in6.sin6_addr, sizeof(in6.sin6_addr));
    UnmapIpv4(&result);
  } else {
    return std::nullopt;
  }
  return result;
}

std::string IpAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes.data(), text, sizeof(text));
  return text;
}

const char* SpecialAddressKind(const IpAddress& address) {
  const std::array<uint8_t, 16>& b = address.bytes;
  if (address.family == AF_INET) {
    if (b[0] == 127) return "a loopback address";
    if (b[0] == 169 && b[1] == 254) return "a link-local address";
    if (b[0] == 0) return "an unspecified address";
    if ((b[0] & 0xf0) == 224) return "a multicast address";
    if (std::all_of(b.begin(), b.begin() + 4, [](uint8_t byte) { return byte == 0xff; })) {
      return "a broadcast address";
    }
    return nullptr;
  }
  IpAddress unspecified{.family = AF_INET6};
  IpAddress loopback = unspecified;
  loopback.bytes[15] = 1;
  if (address == loopback) return "a loopback address";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "a link-local address";
  if (address == unspecified) return "an unspecified address";
  if (b[0] == 0xff) return "a multicast address";
  return nullptr;
}

bool EgressRule::IsLiteralAddress() const {
  return kind == Kind::kNetwork && prefix_length == FullPrefix(network.family);
}

absl::StatusOr<EgressRule> ParseEgressRule(absl::string_view text) {
  auto refuse = [text](const auto&... detail) {
    return absl::InvalidArgumentError(absl::StrCat("'", absl::CHexEscape(text), "': ", detail...));
  };
  auto no_port = [text](absl::string_view host) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", absl::CHexEscape(text), "' has no port (write ", host, ":443)"));
  };
  if (text.empty()) return absl::InvalidArgumentError("an empty destination (write HOST:PORT)");
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (absl::ascii_isspace(byte)) return refuse("whitespace is not allowed");
    if (byte >= 0x80) return refuse("write internationalised names in their ASCII xn-- form");
    if (absl::ascii_iscntrl(byte)) return refuse("control characters are not allowed");
  }

  // HOST:PORT, where an IPv6 host is in brackets because it has colons of its own.
  bool bracketed = absl::StartsWith(text, "[");
  absl::string_view host, port_text;
  if (bracketed) {
    size_t close = text.find(']');
    if (close == absl::string_view::npos) return refuse("'[' without a closing ']'");
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 1);
    if (port_text.empty()) return no_port(text);
    if (!absl::ConsumePrefix(&port_text, ":")) return refuse("expected ':PORT' after ']'");
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return no_port(text);
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (absl::StrContains(host, ':')) {
      return refuse("an IPv6 address must be in brackets (", BracketedSpelling(text), ")");
    }
  }
  if (port_text.empty()) return no_port(text.substr(0, text.size() - 1));
  std::optional<uint16_t> port = ParsePort(port_text);
  if (!port) return refuse("the port must be 1-65535");

  EgressRule rule;
  rule.port = *port;
  size_t slash = host.find('/');
  if (bracketed || slash != absl::string_view::npos || AllOf(host, IsDigitOrDot)) {
    int family = bracketed ? AF_INET6 : AF_INET;
    absl::string_view address_text = host.substr(0, slash);
    std::optional<IpAddress> address = ParseRaw(family, address_text);
    if (!address) {
      return refuse("'", address_text,
                    bracketed ? "' is not an IPv6 address (brackets are only for IPv6)"
                              : "' is not a dotted-quad IPv4 address");
    }
    rule.kind = EgressRule::Kind::kNetwork;
    rule.prefix_length = FullPrefix(family);
    if (slash != absl::string_view::npos) {
      absl::string_view prefix_text = host.substr(slash + 1);
      if (prefix_text.size() > 3 || !AllOf(prefix_text, IsDigit) ||
          !absl::SimpleAtoi(prefix_text, &rule.prefix_length) ||
          rule.prefix_length > FullPrefix(family)) {
        return refuse("the prefix length must be 1-", FullPrefix(family));
      }
    }
    if (rule.prefix_length == 0) return refuse(kEveryAddress);
    rule.network = Masked(*address, rule.prefix_length);
    if (rule.network != *address) {
      return refuse("host bits set (did you mean ", rule.network.ToString(), "/",
                    rule.prefix_length, "?)");
    }
    if (UnmapIpv4(&rule.network)) rule.prefix_length -= 96;
    if (rule.prefix_length == 0) return refuse(kEveryAddress);
  } else {
    absl::string_view name = host;
    bool wildcard = absl::ConsumePrefix(&name, "*.");
    if (host == "*" || (wildcard && name.empty())) {
      return refuse(
          "a wildcard must be '*.' followed by a domain (allowing every host is --network host)");
    }
    if (absl::StrContains(name, '*')) {
      return refuse("'*' may only be the whole first label, as in *.example.com");
    }
    absl::StatusOr<std::string> canonical = CanonicalHostname(name);
    if (!canonical.ok()) return refuse(canonical.status().message());
    if (wildcard && !absl::StrContains(*canonical, '.')) {
      return refuse("'*.", *canonical,
                    "' is too broad: a wildcard needs at least two labels after '*.', as in "
                    "*.example.com");
    }
    rule.kind = wildcard ? EgressRule::Kind::kNameSuffix : EgressRule::Kind::kName;
    rule.name = wildcard ? absl::StrCat(".", *canonical) : *std::move(canonical);
  }
  rule.text = CanonicalText(rule);
  return rule;
}

absl::StatusOr<std::vector<EgressRule>> ParseEgressRules(const std::vector<std::string>& texts) {
  std::vector<EgressRule> rules;
  for (const std::string& text : texts) {
    ASSIGN_OR_RETURN(EgressRule rule, ParseEgressRule(text));
    bool duplicate = std::any_of(rules.begin(), rules.end(),
                                 [&](const EgressRule& seen) { return seen.text == rule.text; });
    if (!duplicate) rules.push_back(std::move(rule));
  }
  return rules;
}

std::optional<std::string> NormalizeHost(absl::string_view host) {
  std::optional<IpAddress> address;
  if (absl::ConsumePrefix(&host, "[")) {
    if (!absl::ConsumeSuffix(&host, "]")) return std::nullopt;
    address = ParseRaw(AF_INET6, host);
    if (!address) return std::nullopt;
    UnmapIpv4(&*address);
  } else {
    address = IpAddress::ParseLiteral(host);
  }
  if (address) return address->ToString();
  absl::StatusOr<std::string> name = CanonicalHostname(host);
  if (!name.ok()) return std::nullopt;
  return *std::move(name);
}

const EgressRule* MatchName(const std::vector<EgressRule>& rules, absl::string_view host,
                            uint16_t port) {
  for (const EgressRule& rule : rules) {
    if (rule.port != port) continue;
    if (rule.kind == EgressRule::Kind::kName && rule.name == host) return &rule;
    if (rule.kind == EgressRule::Kind::kNameSuffix && host.size() > rule.name.size() &&
        absl::EndsWith(host, rule.name)) {
      return &rule;
    }
  }
  return nullptr;
}

const EgressRule* MatchAddress(const std::vector<EgressRule>& rules, const IpAddress& address,
                               uint16_t port) {
  for (const EgressRule& rule : rules) {
    if (rule.kind == EgressRule::Kind::kNetwork && rule.port == port &&
        Masked(address, rule.prefix_length) == rule.network) {
      return &rule;
    }
  }
  return nullptr;
}

const EgressRule* MatchLiteralAddress(const std::vector<EgressRule>& rules,
                                      const IpAddress& address, uint16_t port) {
  for (const EgressRule& rule : rules) {
    if (rule.IsLiteralAddress() && rule.port == port && rule.network == address) return &rule;
  }
  return nullptr;
}

}  // namespace tether::policy
