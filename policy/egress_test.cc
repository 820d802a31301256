#include "policy/egress.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <string>

namespace tether::policy {
namespace {

using Kind = EgressRule::Kind;

IpAddress Ip(absl::string_view text) {
  std::optional<IpAddress> address = IpAddress::ParseLiteral(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(IpAddress{});
}

std::vector<EgressRule> Rules(const std::vector<std::string>& texts) {
  absl::StatusOr<std::vector<EgressRule>> rules = ParseEgressRules(texts);
  EXPECT_TRUE(rules.ok()) << rules.status();
  return rules.value_or(std::vector<EgressRule>{});
}

struct ValidRule {
  const char* text;
  Kind kind;
  const char* canonical;
  uint16_t port;
};

TEST(EgressRuleTest, ParsesValidSpellingsToTheirCanonicalText) {
  const ValidRule kCases[] = {
      {"pypi.org:443", Kind::kName, "pypi.org:443", 443},
      {"PyPI.ORG:443", Kind::kName, "pypi.org:443", 443},
      {"pypi.org.:443", Kind::kName, "pypi.org:443", 443},
      {"localhost:65535", Kind::kName, "localhost:65535", 65535},
      {"xn--bcher-kva.example:1", Kind::kName, "xn--bcher-kva.example:1", 1},
      {"a-b.c0:443", Kind::kName, "a-b.c0:443", 443},
      {"*.pythonhosted.org:443", Kind::kNameSuffix, "*.pythonhosted.org:443", 443},
      {"*.PythonHosted.ORG.:443", Kind::kNameSuffix, "*.pythonhosted.org:443", 443},
      {"*.co.uk:80", Kind::kNameSuffix, "*.co.uk:80", 80},
      {"10.0.0.0/8:5432", Kind::kNetwork, "10.0.0.0/8:5432", 5432},
      {"127.0.0.1:8080", Kind::kNetwork, "127.0.0.1:8080", 8080},
      {"10.1.2.3/32:22", Kind::kNetwork, "10.1.2.3:22", 22},
      {"[2001:db8::1]:443", Kind::kNetwork, "[2001:db8::1]:443", 443},
      {"[2001:DB8:0::1]:443", Kind::kNetwork, "[2001:db8::1]:443", 443},
      {"[fd00::/8]:443", Kind::kNetwork, "[fd00::/8]:443", 443},
      {"[::1/128]:443", Kind::kNetwork, "[::1]:443", 443},
      {"[::ffff:1.2.3.4]:443", Kind::kNetwork, "1.2.3.4:443", 443},
      {"[::ffff:10.0.0.0/104]:80", Kind::kNetwork, "10.0.0.0/8:80", 80},
  };
  for (const ValidRule& valid : kCases) {
    absl::StatusOr<EgressRule> rule = ParseEgressRule(valid.text);
    ASSERT_TRUE(rule.ok()) << valid.text << ": " << rule.status();
    EXPECT_EQ(rule->kind, valid.kind) << valid.text;
    EXPECT_EQ(rule->text, valid.canonical) << valid.text;
    EXPECT_EQ(rule->port, valid.port) << valid.text;
    // The canonical text is itself a valid spelling of the same rule.
    absl::StatusOr<EgressRule> reparsed = ParseEgressRule(rule->text);
    ASSERT_TRUE(reparsed.ok()) << rule->text << ": " << reparsed.status();
    EXPECT_EQ(reparsed->text, rule->text);
  }
}

TEST(EgressRuleTest, StoresNamesLowerCaseAndSuffixesWithTheirDot) {
  absl::StatusOr<EgressRule> name = ParseEgressRule("PyPI.org.:443");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->name, "pypi.org");
  absl::StatusOr<EgressRule> suffix = ParseEgressRule("*.PythonHosted.org:443");
  ASSERT_TRUE(suffix.ok()) << suffix.status();
  EXPECT_EQ(suffix->name, ".pythonhosted.org");
}

TEST(EgressRuleTest, StoresNetworksWithTheirPrefixLength) {
  absl::StatusOr<EgressRule> network = ParseEgressRule("10.0.0.0/8:5432");
  ASSERT_TRUE(network.ok()) << network.status();
  EXPECT_EQ(network->network, Ip("10.0.0.0"));
  EXPECT_EQ(network->prefix_length, 8);
  EXPECT_FALSE(network->IsLiteralAddress());

  absl::StatusOr<EgressRule> ipv4 = ParseEgressRule("127.0.0.1:8080");
  ASSERT_TRUE(ipv4.ok()) << ipv4.status();
  EXPECT_EQ(ipv4->prefix_length, 32);
  EXPECT_TRUE(ipv4->IsLiteralAddress());

  absl::StatusOr<EgressRule> ipv6 = ParseEgressRule("[::1]:8080");
  ASSERT_TRUE(ipv6.ok()) << ipv6.status();
  EXPECT_EQ(ipv6->network, Ip("::1"));
  EXPECT_EQ(ipv6->prefix_length, 128);
  EXPECT_TRUE(ipv6->IsLiteralAddress());

  absl::StatusOr<EgressRule> name = ParseEgressRule("pypi.org:443");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_FALSE(name->IsLiteralAddress());
}

struct InvalidRule {
  std::string text;
  const char* problem;  // a substring of the error message
};

TEST(EgressRuleTest, RefusesInvalidSpellingsNamingTheProblem) {
  const std::string long_label(64, 'a');
  const std::string label63(63, 'a');
  const std::string long_name = label63 + "." + label63 + "." + label63 + "." + label63;
  const InvalidRule kCases[] = {
      {"", "an empty destination"},
      {"pypi.org", "'pypi.org' has no port (write pypi.org:443)"},
      {"pypi.org:", "'pypi.org:' has no port (write pypi.org:443)"},
      {"[::1]", "has no port (write [::1]:443)"},
      {"10.0.0.0/8", "has no port (write 10.0.0.0/8:443)"},
      {"pypi.org:0", "'pypi.org:0': the port must be 1-65535"},
      {"pypi.org:65536", "the port must be 1-65535"},
      {"pypi.org:+443", "the port must be 1-65535"},
      {"pypi.org:-443", "the port must be 1-65535"},
      {"pypi.org:https", "the port must be 1-65535"},
      {"pypi.org:4430000", "the port must be 1-65535"},
      {"*:443",
       "'*:443': a wildcard must be '*.' followed by a domain (allowing every host is --network "
       "host)"},
      {"*.:443", "a wildcard must be '*.' followed by a domain"},
      {"*.com:443", "'*.com' is too broad"},
      {"*.*.example.com:443", "'*' may only be the whole first label"},
      {"a.*.example.com:443", "'*' may only be the whole first label"},
      {"*example.com:443", "'*' may only be the whole first label"},
      {"10.0.0.1/8:80", "'10.0.0.1/8:80': host bits set (did you mean 10.0.0.0/8?)"},
      {"[fd00::1/8]:443", "host bits set (did you mean fd00::/8?)"},
      {"10.0.0.0/33:80", "the prefix length must be 1-32"},
      {"10.0.0.0/:80", "the prefix length must be 1-32"},
      {"10.0.0.0/-8:80", "the prefix length must be 1-32"},
      {"[fd00::/129]:80", "the prefix length must be 1-128"},
      {"0.0.0.0/0:443", "allows every address; use --network host"},
      {"[::/0]:443", "allows every address; use --network host"},
      {"[::ffff:0.0.0.0/96]:443", "allows every address; use --network host"},
      {"::1:443", "'::1:443': an IPv6 address must be in brackets ([::1]:443)"},
      {"2001:db8::1", "an IPv6 address must be in brackets ([2001:db8::1]:443)"},
      {"fd00::/8:443", "an IPv6 address must be in brackets ([fd00::/8]:443)"},
      {"[1.2.3.4]:443", "brackets are only for IPv6"},
      {"[fe80::1%eth0]:443", "'fe80::1%eth0' is not an IPv6 address"},
      {"[::1:443", "'[' without a closing ']'"},
      {"[::1]443", "expected ':PORT' after ']'"},
      {"exa_mple.com:443", "'exa_mple.com:443': 'exa_mple' is not a valid DNS label"},
      {"-pypi.org:443", "'-pypi' is not a valid DNS label"},
      {"pypi-.org:443", "'pypi-' is not a valid DNS label"},
      {long_label + ".com:443", "is not a valid DNS label"},
      {long_name + ":443", "longer than 253 characters"},
      {"pypi..org:443", "empty label"},
      {".pypi.org:443", "empty label"},
      {"pypi.org..:443", "empty label"},
      {":443", "the host is empty"},
      {"1.2.3:443", "'1.2.3' is not a dotted-quad IPv4 address"},
      {"1.2.3.256:443", "'1.2.3.256' is not a dotted-quad IPv4 address"},
      {"1.2.3.4.:443", "'1.2.3.4.' is not a dotted-quad IPv4 address"},
      {"010.0.0.1:443", "is not a dotted-quad IPv4 address"},
      {"2130706433:443", "is not a dotted-quad IPv4 address"},
      {"0x7f.0.0.1:443", "'0x7f.0.0.1' reads as an IPv4 address"},
      {"*.10.0.0.1:443", "is not a dotted-quad IPv4 address"},
      {"pypi.org :443", "whitespace is not allowed"},
      {" pypi.org:443", "whitespace is not allowed"},
      {"pypi.org:443\n", "whitespace is not allowed"},
      {"pypi\x1b.org:443", "control characters are not allowed"},
      {"b\xc3\xbc"
       "cher.de:443",
       "xn--"},
  };
  for (const InvalidRule& invalid : kCases) {
    absl::StatusOr<EgressRule> rule = ParseEgressRule(invalid.text);
    ASSERT_FALSE(rule.ok()) << invalid.text << " parsed as " << rule->text;
    EXPECT_EQ(rule.status().code(), absl::StatusCode::kInvalidArgument) << invalid.text;
    EXPECT_NE(rule.status().message().find(invalid.problem), absl::string_view::npos)
        << invalid.text << ": " << rule.status();
  }
}

TEST(EgressRulesTest, KeepsOrderAndDropsDuplicatesOfTheSameCanonicalText) {
  std::vector<EgressRule> rules = Rules(
      {"PyPI.org:443", "10.0.0.0/8:80", "pypi.org.:443", "pypi.org:80", "[::ffff:a00:0/104]:80"});
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].text, "pypi.org:443");
  EXPECT_EQ(rules[1].text, "10.0.0.0/8:80");
  EXPECT_EQ(rules[2].text, "pypi.org:80");
}

TEST(EgressRulesTest, ReturnsTheFirstRulesErrorAsIs) {
  absl::StatusOr<std::vector<EgressRule>> rules =
      ParseEgressRules({"pypi.org:443", "pypi.org", "*:443"});
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.status(), ParseEgressRule("pypi.org").status());
}

TEST(MatchNameTest, MatchesExactNamesAndStrictSubdomainsOfSuffixesOnTheirPort) {
  std::vector<EgressRule> rules = Rules({"pypi.org:443", "*.pythonhosted.org:443"});
  EXPECT_EQ(MatchName(rules, "pypi.org", 443), &rules[0]);
  EXPECT_EQ(MatchName(rules, "files.pythonhosted.org", 443), &rules[1]);
  EXPECT_EQ(MatchName(rules, "a.b.pythonhosted.org", 443), &rules[1]);

  EXPECT_EQ(MatchName(rules, "pypi.org", 80), nullptr);
  EXPECT_EQ(MatchName(rules, "files.pythonhosted.org", 80), nullptr);
  EXPECT_EQ(MatchName(rules, "sub.pypi.org", 443), nullptr);
  EXPECT_EQ(MatchName(rules, "pypi.org.evil.com", 443), nullptr);
  EXPECT_EQ(MatchName(rules, "pythonhosted.org", 443), nullptr);
  EXPECT_EQ(MatchName(rules, "evilpythonhosted.org", 443), nullptr);
}

TEST(MatchNameTest, IgnoresNetworkRules) {
  std::vector<EgressRule> rules = Rules({"10.0.0.0/8:443"});
  EXPECT_EQ(MatchName(rules, "10.0.0.1", 443), nullptr);
}

TEST(MatchAddressTest, MatchesAddressesInsideNetworksOnTheirPort) {
  std::vector<EgressRule> rules =
      Rules({"10.0.0.0/8:5432", "[fd00::/8]:443", "127.0.0.1:8080", "pypi.org:443"});
  EXPECT_EQ(MatchAddress(rules, Ip("10.1.2.3"), 5432), &rules[0]);
  EXPECT_EQ(MatchAddress(rules, Ip("10.255.255.255"), 5432), &rules[0]);
  EXPECT_EQ(MatchAddress(rules, Ip("fd12:3456::1"), 443), &rules[1]);
  EXPECT_EQ(MatchAddress(rules, Ip("127.0.0.1"), 8080), &rules[2]);

  EXPECT_EQ(MatchAddress(rules, Ip("10.1.2.3"), 80), nullptr);
  EXPECT_EQ(MatchAddress(rules, Ip("11.0.0.1"), 5432), nullptr);
  EXPECT_EQ(MatchAddress(rules, Ip("fe00::1"), 443), nullptr);
  EXPECT_EQ(MatchAddress(rules, Ip("127.0.0.2"), 8080), nullptr);
  EXPECT_EQ(MatchAddress(rules, Ip("::a01:203"), 5432), nullptr);  // ::10.1.2.3 is not mapped
}

TEST(MatchAddressTest, MatchesIpv4MappedIpv6AddressesAgainstIpv4Rules) {
  std::vector<EgressRule> rules = Rules({"10.0.0.0/8:5432"});
  EXPECT_EQ(MatchAddress(rules, Ip("::ffff:10.1.2.3"), 5432), &rules[0]);

  sockaddr_in6 mapped = {};
  mapped.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:10.1.2.3", &mapped.sin6_addr), 1);
  std::optional<IpAddress> peer =
      IpAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&mapped), sizeof(mapped));
  ASSERT_TRUE(peer.has_value());
  EXPECT_EQ(MatchAddress(rules, *peer, 5432), &rules[0]);
}

TEST(MatchLiteralAddressTest, MatchesOnlyFullLengthRulesForThatAddressAndPort) {
  std::vector<EgressRule> rules = Rules(
      {"127.0.0.0/8:8080", "10.0.0.0/8:80", "127.0.0.1:8080", "[::1]:8080", "[fe80::/64]:80"});
  EXPECT_EQ(MatchLiteralAddress(rules, Ip("127.0.0.1"), 8080), &rules[2]);
  EXPECT_EQ(MatchLiteralAddress(rules, Ip("::ffff:127.0.0.1"), 8080), &rules[2]);
  EXPECT_EQ(MatchLiteralAddress(rules, Ip("::1"), 8080), &rules[3]);

  EXPECT_EQ(MatchLiteralAddress(rules, Ip("127.0.0.2"), 8080), nullptr);
  EXPECT_EQ(MatchLiteralAddress(rules, Ip("127.0.0.1"), 80), nullptr);
  EXPECT_EQ(MatchLiteralAddress(rules, Ip("10.0.0.0"), 80), nullptr);
  EXPECT_EQ(MatchLiteralAddress(rules, Ip("fe80::"), 80), nullptr);
}

struct SpecialCase {
  const char* address;
  const char* kind;  // nullptr: an ordinary address
};

TEST(SpecialAddressKindTest, NamesAddressesANameAloneMayNotReach) {
  const SpecialCase kCases[] = {
      {"127.0.0.1", "a loopback address"},
      {"127.255.0.1", "a loopback address"},
      {"::1", "a loopback address"},
      {"::ffff:127.0.0.1", "a loopback address"},
      {"169.254.169.254", "a link-local address"},
      {"fe80::1", "a link-local address"},
      {"febf::1", "a link-local address"},
      {"0.0.0.0", "an unspecified address"},
      {"0.1.2.3", "an unspecified address"},
      {"::", "an unspecified address"},
      {"224.0.0.1", "a multicast address"},
      {"239.255.255.255", "a multicast address"},
      {"ff02::1", "a multicast address"},
      {"255.255.255.255", "a broadcast address"},
      {"8.8.8.8", nullptr},
      {"10.0.0.1", nullptr},
      {"126.255.255.255", nullptr},
      {"169.255.0.1", nullptr},
      {"223.255.255.255", nullptr},
      {"2001:db8::1", nullptr},
      {"fec0::1", nullptr},
      {"::2", nullptr},
  };
  for (const SpecialCase& special : kCases) {
    const char* kind = SpecialAddressKind(Ip(special.address));
    EXPECT_STREQ(kind, special.kind) << special.address;
  }
}

struct HostCase {
  const char* host;
  std::optional<std::string> normalized;
};

TEST(NormalizeHostTest, NormalizesNamesAndLiteralsAndRefusesTheRest) {
  const HostCase kCases[] = {
      {"pypi.org", "pypi.org"},
      {"Example.COM.", "example.com"},
      {"xn--bcher-kva.example", "xn--bcher-kva.example"},
      {"1.2.3.4", "1.2.3.4"},
      {"[::1]", "::1"},
      {"::1", "::1"},
      {"[2001:DB8:0::1]", "2001:db8::1"},
      {"[::FFFF:1.2.3.4]", "1.2.3.4"},
      {"a b", std::nullopt},
      {"", std::nullopt},
      {".", std::nullopt},
      {"exa%mple", std::nullopt},
      {"exa_mple.com", std::nullopt},
      {"example..com", std::nullopt},
      {"example.com..", std::nullopt},
      {"-example.com", std::nullopt},
      {"127.1", std::nullopt},
      {"2130706433", std::nullopt},
      {"0x7f.0.0.1", std::nullopt},
      {"[1.2.3.4]", std::nullopt},
      {"[::1", std::nullopt},
      {"[fe80::1%25eth0]", std::nullopt},
      {"example.com:443", std::nullopt},
  };
  for (const HostCase& host : kCases) {
    EXPECT_EQ(NormalizeHost(host.host), host.normalized) << host.host;
  }
}

TEST(IpAddressTest, ParsesPlainLiteralsOnly) {
  EXPECT_EQ(Ip("1.2.3.4").family, AF_INET);
  EXPECT_EQ(Ip("1.2.3.4").ToString(), "1.2.3.4");
  EXPECT_EQ(Ip("2001:DB8::1").family, AF_INET6);
  EXPECT_EQ(Ip("2001:DB8::1").ToString(), "2001:db8::1");
  EXPECT_EQ(Ip("::ffff:1.2.3.4"), Ip("1.2.3.4"));
  for (absl::string_view text :
       {"[::1]", "fe80::1%eth0", "1.2.3", "01.2.3.4", " 1.2.3.4", "", "example.com"}) {
    EXPECT_FALSE(IpAddress::ParseLiteral(text).has_value()) << text;
  }
  EXPECT_FALSE(IpAddress::ParseLiteral(absl::string_view("1.2.3.4\0junk", 12)).has_value());
}

TEST(IpAddressTest, ReadsSocketAddressesOfEitherFamily) {
  sockaddr_in ipv4 = {};
  ipv4.sin_family = AF_INET;
  ipv4.sin_addr.s_addr = htonl(0x0a000001);
  std::optional<IpAddress> from_ipv4 =
      IpAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&ipv4), sizeof(ipv4));
  ASSERT_TRUE(from_ipv4.has_value());
  EXPECT_EQ(*from_ipv4, Ip("10.0.0.1"));

  sockaddr_in6 ipv6 = {};
  ipv6.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", &ipv6.sin6_addr), 1);
  std::optional<IpAddress> from_ipv6 =
      IpAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&ipv6), sizeof(ipv6));
  ASSERT_TRUE(from_ipv6.has_value());
  EXPECT_EQ(*from_ipv6, Ip("2001:db8::1"));

  EXPECT_FALSE(
      IpAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&ipv6), sizeof(ipv4)).has_value());
  EXPECT_FALSE(IpAddress::FromSockaddr(nullptr, 0).has_value());
  sockaddr_un local = {};
  local.sun_family = AF_UNIX;
  EXPECT_FALSE(IpAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&local), sizeof(local))
                   .has_value());
}

}  // namespace
}  // namespace tether::policy
