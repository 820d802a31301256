#ifndef TETHER_POLICY_EGRESS_H_
#define TETHER_POLICY_EGRESS_H_

// The network egress allow-list the HTTP proxy enforces: destinations from
// the policy's network.egress and from --allow-net, such as "pypi.org:443",
// "*.pythonhosted.org:443", "10.0.0.0/8:5432" or "[2001:db8::1]:443".

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::policy {

// An IP address, IPv4 or IPv6. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
// are normalised to IPv4 everywhere so that a rule for 1.2.3.4 also matches
// them.
struct IpAddress {
  int family = AF_INET;             // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4, the rest stay 0

  // "1.2.3.4" (four decimal octets only) or "::1": no brackets, no zone ids.
  static std::optional<IpAddress> ParseLiteral(absl::string_view text);
  // An AF_INET or AF_INET6 socket address of at least its family's size.
  static std::optional<IpAddress> FromSockaddr(const struct sockaddr* address, socklen_t length);
  std::string ToString() const;  // inet_ntop form
  bool operator==(const IpAddress&) const = default;
};

// Why an address may not be reached by name alone: loopback (127/8, ::1),
// link-local (169.254/16, fe80::/10), unspecified (0.0.0.0/8, ::), multicast
// (224/4, ff00::/8) or broadcast (255.255.255.255). Returns nullptr for an
// ordinary address, else a short noun phrase ("a loopback address", ...).
const char* SpecialAddressKind(const IpAddress& address);

struct EgressRule {
  enum class Kind { kName, kNameSuffix, kNetwork };
  Kind kind = Kind::kName;
  // kName: the name, lower case, no trailing dot. kNameSuffix: the suffix
  // with its leading dot (".pythonhosted.org").
  std::string name;
  IpAddress network;      // kNetwork: the address with host bits zero
  int prefix_length = 0;  // kNetwork: 1..32 or 1..128; a literal address is /32 or /128
  uint16_t port = 0;      // 1..65535
  // The canonical spelling: "pypi.org:443", "*.pythonhosted.org:443",
  // "10.0.0.0/8:5432", "127.0.0.1:8080", "[2001:db8::1]:443", "[fd00::/8]:443".
  std::string text;

  // A kNetwork rule with a full-length prefix.
  bool IsLiteralAddress() const;
};

// Parses one destination, HOST:PORT. HOST is an RFC 1123 hostname (stored
// lower case, one trailing dot dropped), "*." and a domain of at least two
// labels, a dotted-quad IPv4 address or CIDR, or a bracketed IPv6 address or
// CIDR. The port is required. Errors are InvalidArgument and quote the text:
// "'pypi.org' has no port (write pypi.org:443)".
absl::StatusOr<EgressRule> ParseEgressRule(absl::string_view text);
// All of them, in order, dropping duplicates (the same canonical text). The
// first error is returned as is: callers add which entry it was.
absl::StatusOr<std::vector<EgressRule>> ParseEgressRules(const std::vector<std::string>& texts);

// Normalises a host as a client sent it (in an absolute URI or a CONNECT
// authority, the port already split off): lower case, one trailing dot
// dropped, IPv6 brackets removed, IP literals in inet_ntop form. Returns
// nullopt when it is neither a valid hostname nor an IP literal, including
// names the resolver would read as an address ("127.1", "0x7f.0.0.1").
std::optional<std::string> NormalizeHost(absl::string_view host);

// The first name rule whose port equals `port` and that `host` (normalised,
// and a name, not a literal) matches: a kName rule exactly, a kNameSuffix
// rule when `host` ends with the suffix and is longer than it, so
// "*.example.org" matches "a.example.org" and "a.b.example.org" but not
// "example.org". nullptr if none.
const EgressRule* MatchName(const std::vector<EgressRule>& rules, absl::string_view host,
                            uint16_t port);
// The first kNetwork rule containing `address` whose port equals `port`;
// nullptr if none.
const EgressRule* MatchAddress(const std::vector<EgressRule>& rules, const IpAddress& address,
                               uint16_t port);
// The first literal-address rule equal to `address` with that port, the only
// kind of rule that may open a special address such as 127.0.0.1; nullptr if
// none.
const EgressRule* MatchLiteralAddress(const std::vector<EgressRule>& rules,
                                      const IpAddress& address, uint16_t port);

}  // namespace tether::policy

#endif  // TETHER_POLICY_EGRESS_H_
