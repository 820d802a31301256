#include "policy/policy_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <string>

namespace tether::policy {
namespace {

TEST(PolicyFileTest, ParsesEverySection) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy(R"({
    "filesystem": {"read_only": ["/srv/data"], "read_write": ["/srv/out"],
                   "devices": ["/dev/fuse"]},
    "process": {"user": "1000:1000", "environment": ["HOME", "MY_*"]},
    "seccomp": {"deny_syscalls": ["uname"]}
  })");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->read_only, (std::vector<std::string>{"/srv/data"}));
  EXPECT_EQ(policy->read_write, (std::vector<std::string>{"/srv/out"}));
  EXPECT_EQ(policy->devices, (std::vector<std::string>{"/dev/fuse"}));
  EXPECT_EQ(policy->user, "1000:1000");
  EXPECT_EQ(policy->environment, (std::vector<std::string>{"HOME", "MY_*"}));
  EXPECT_EQ(policy->deny_syscalls, (std::vector<std::string>{"uname"}));
}

TEST(PolicyFileTest, ParsesEnforcementModes) {
  absl::StatusOr<PolicyFile> policy =
      ParsePolicy(R"({"enforcement": {"bounding_set": "best_effort", "landlock": "strict"}})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->enforcement, (std::vector<std::pair<Mechanism, EnforcementMode>>{
                                     {Mechanism::kBoundingSet, EnforcementMode::kBestEffort},
                                     {Mechanism::kLandlock, EnforcementMode::kStrict}}));
}

TEST(PolicyFileTest, ParsesProcessIdentityDirectoryAndRlimits) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy(R"({"process": {
      "group": "100", "supplementary_groups": ["20", "30"], "working_directory": "/srv",
      "rlimits": [{"name": "nofile", "soft": "64", "hard": "unlimited"}]}})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->group, "100");
  EXPECT_EQ(policy->supplementary_groups, (std::vector<std::string>{"20", "30"}));
  EXPECT_EQ(policy->working_directory, "/srv");
  ASSERT_EQ(policy->rlimits.size(), 1u);
  EXPECT_EQ(policy->rlimits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(policy->rlimits[0].soft, 64u);
  EXPECT_EQ(policy->rlimits[0].hard, RLIM_INFINITY);
}

TEST(PolicyFileTest, EmptyObjectIsTheDefaultPolicy) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy("{}");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->read_only.empty());
  EXPECT_FALSE(policy->user.has_value());
}

struct BadPolicy {
  const char* name;
  const char* json;
  const char* expected;  // the JSON path and the problem
};

class BadPolicyTest : public ::testing::TestWithParam<BadPolicy> {};

TEST_P(BadPolicyTest, IsRejectedNamingPathAndProblem) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy(GetParam().json);
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(policy.status().message().find(GetParam().expected), absl::string_view::npos)
      << policy.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Policies, BadPolicyTest,
    ::testing::Values(
        BadPolicy{"NotJson", "{", "$: not valid JSON"},
        BadPolicy{"EgressWithoutPort", R"({"network": {"egress": ["pypi.org"]}})",
                  "$.network.egress[0]: 'pypi.org' has no port"},
        BadPolicy{"EgressSecondEntryBad", R"({"network": {"egress": ["pypi.org:443", "*:443"]}})",
                  "$.network.egress[1]: '*:443'"},
        BadPolicy{"EgressNotAList", R"({"network": {"egress": "pypi.org:443"}})",
                  "$.network.egress: expected an array of strings, found a string"},
        BadPolicy{"EgressWithHostNetwork",
                  R"({"network": {"mode": "host", "egress": ["pypi.org:443"]}})",
                  "$.network.egress: the host's network has no proxy to enforce it"},
        BadPolicy{"TooManyConnections", R"({"network": {"max_connections": 5000}})",
                  "$.network.max_connections: 5000 is more than 4096"},
        BadPolicy{"MaxConnectionsNegative", R"({"network": {"max_connections": -1}})",
                  "$.network.max_connections: expected a whole number from 0 to 4294967295, "
                  "found -1"},
        BadPolicy{"MaxConnectionsFraction", R"({"network": {"max_connections": 1.5}})",
                  "$.network.max_connections: expected a whole number"},
        BadPolicy{"MaxConnectionsString", R"({"network": {"max_connections": "8"}})",
                  "$.network.max_connections: expected a whole number from 0 to 4294967295, "
                  "found a string"},
        BadPolicy{"MaxBytesNotASize", R"({"network": {"max_bytes": "lots"}})",
                  "$.network.max_bytes: 'lots' is not a size"},
        BadPolicy{"TopLevelArray", "[]", "$: expected an object, found an array"},
        BadPolicy{"UnknownTopLevelKey", R"({"filesytem": {}})", "$.filesytem: unknown key"},
        BadPolicy{"UnknownNestedKey", R"({"filesystem": {"readonly": []}})",
                  "$.filesystem.readonly: unknown key"},
        BadPolicy{"CamelCaseKey", R"({"filesystem": {"readOnly": []}})",
                  "$.filesystem.readOnly: unknown key"},
        BadPolicy{"DuplicateKey", R"({"process": {}, "process": {}})", "$.process: duplicate key"},
        BadPolicy{"SectionNotObject", R"({"process": 3})",
                  "$.process: expected an object, found a number"},
        BadPolicy{"ListNotArray", R"({"filesystem": {"read_only": "/usr"}})",
                  "$.filesystem.read_only: expected an array of strings, found a string"},
        BadPolicy{"ListElementNotString", R"({"filesystem": {"read_write": ["/a", 1]}})",
                  "$.filesystem.read_write[1]: expected a string, found a number"},
        BadPolicy{"UserNotString", R"({"process": {"user": 1000}})",
                  "$.process.user: expected a string, found a number"},
        BadPolicy{"EmptyUser", R"({"process": {"user": ""}})", "$.process.user: must not be empty"},
        BadPolicy{"RelativePath", R"({"filesystem": {"read_only": ["usr"]}})",
                  "$.filesystem.read_only[0]: 'usr' is not an absolute path"},
        BadPolicy{"DotDotPath", R"({"filesystem": {"read_write": ["/tmp/../etc"]}})",
                  "$.filesystem.read_write[0]: '/tmp/../etc' contains '..'"},
        BadPolicy{"DuplicatePath", R"({"filesystem": {"read_only": ["/a", "/a"]}})",
                  "$.filesystem.read_only[1]: '/a' is listed more than once"},
        BadPolicy{"PathBothReadOnlyAndReadWrite",
                  R"({"filesystem": {"read_only": ["/a"], "read_write": ["/a"]}})",
                  "$.filesystem.read_write[0]: '/a' is listed more than once"},
        BadPolicy{"BadEnvironmentName", R"({"process": {"environment": ["A=B"]}})",
                  "$.process.environment[0]: 'A=B' is not a valid name"},
        BadPolicy{"DuplicateEnvironmentName", R"({"process": {"environment": ["A", "A"]}})",
                  "$.process.environment[1]: 'A' is listed twice"},
        BadPolicy{"BadEnforcementMode", R"({"enforcement": {"landlock": "lenient"}})",
                  "$.enforcement.landlock: 'lenient' is neither"},
        BadPolicy{"UnknownMechanism", R"({"enforcement": {"netns": "strict"}})",
                  "$.enforcement.netns: unknown key"},
        BadPolicy{"BadNetworkMode", R"({"network": {"mode": "bridged"}})",
                  "$.network.mode: 'bridged' is not one of"},
        BadPolicy{"NetworkModeNotString", R"({"network": {"mode": true}})",
                  "$.network.mode: expected a string, found a boolean"},
        BadPolicy{"BadProcConflict", R"({"gpu": {"proc_conflict": "ignore"}})",
                  "$.gpu.proc_conflict: 'ignore' is not one of"},
        BadPolicy{"RelativeDeviceRoot", R"({"gpu": {"device_root": "dev"}})",
                  "$.gpu.device_root: 'dev' is not an absolute path"},
        BadPolicy{"UnknownGpuKey", R"({"gpu": {"visible": "all"}})", "$.gpu.visible: unknown key"},
        BadPolicy{"GpuNotObject", R"({"gpu": "all"})", "$.gpu: expected an object, found a string"},
        BadPolicy{"EnforcementNotObject", R"({"enforcement": []})",
                  "$.enforcement: expected an object, found an array"},
        BadPolicy{"SubnetNotString", R"({"network": {"subnet": 30}})",
                  "$.network.subnet: unknown key"},
        BadPolicy{"NullSection", R"({"process": null})",
                  "$.process: expected an object, found null"},
        BadPolicy{"BadLandlockCompatibility",
                  R"({"filesystem": {"landlock_compatibility": "maybe"}})",
                  "$.filesystem.landlock_compatibility: 'maybe' is neither"},
        BadPolicy{"CompatibilityContradictsEnforcement",
                  R"({"filesystem": {"landlock_compatibility": "hard_requirement"},
                      "enforcement": {"landlock": "best_effort"}})",
                  "$.enforcement.landlock: 'best_effort' contradicts"},
        BadPolicy{"EmptyGroup", R"({"process": {"group": ""}})",
                  "$.process.group: must not be empty"},
        BadPolicy{"DuplicateSupplementaryGroup",
                  R"({"process": {"supplementary_groups": ["10", "10"]}})",
                  "$.process.supplementary_groups[1]: '10' is listed twice"},
        BadPolicy{"RelativeWorkingDirectory", R"({"process": {"working_directory": "work"}})",
                  "$.process.working_directory: 'work' is not an absolute path"},
        BadPolicy{"DotDotWorkingDirectory", R"({"process": {"working_directory": "/a/.."}})",
                  "$.process.working_directory: '/a/..' contains '..'"},
        BadPolicy{"RlimitsNotArray", R"({"process": {"rlimits": {}}})",
                  "$.process.rlimits: expected an array of objects, found an object"},
        BadPolicy{
            "RlimitUnknownKey",
            R"({"process": {"rlimits": [{"name": "nofile", "soft": "1", "hard": "2", "max": "3"}]}})",
            "$.process.rlimits[0].max: unknown key"},
        BadPolicy{"RlimitUnknownName",
                  R"({"process": {"rlimits": [{"name": "files", "soft": "1", "hard": "2"}]}})",
                  "$.process.rlimits[0].name: 'files' is not one of"},
        BadPolicy{"RlimitCoreCannotBeRaised",
                  R"({"process": {"rlimits": [{"name": "core", "soft": "1", "hard": "1"}]}})",
                  "$.process.rlimits[0].name: core dumps are always off"},
        BadPolicy{"RlimitNotANumber",
                  R"({"process": {"rlimits": [{"name": "nofile", "soft": "lots", "hard": "2"}]}})",
                  "$.process.rlimits[0].soft: 'lots' is neither a number nor"},
        BadPolicy{"RlimitSoftAboveHard",
                  R"({"process": {"rlimits": [{"name": "nofile", "soft": "9", "hard": "2"}]}})",
                  "$.process.rlimits[0]: the soft limit exceeds the hard limit"},
        BadPolicy{"RlimitMissingHard",
                  R"({"process": {"rlimits": [{"name": "nofile", "soft": "9"}]}})",
                  "$.process.rlimits[0]: needs both"},
        BadPolicy{"RlimitTwice",
                  R"({"process": {"rlimits": [{"name": "nproc", "soft": "1", "hard": "1"},
                                               {"name": "nproc", "soft": "2", "hard": "2"}]}})",
                  "$.process.rlimits[1].name: 'nproc' is set twice"},
        BadPolicy{"UnknownSocketFamily", R"({"seccomp": {"allow_socket_families": ["AF_NOPE"]}})",
                  "$.seccomp.allow_socket_families[0]: 'AF_NOPE' is not an address family"},
        BadPolicy{"SocketFamilyTwice",
                  R"({"seccomp": {"allow_socket_families": ["AF_VSOCK", "AF_VSOCK"]}})",
                  "$.seccomp.allow_socket_families[1]: 'AF_VSOCK' is listed twice"},
        BadPolicy{"BadSyscallName", R"({"seccomp": {"deny_syscalls": ["mount*"]}})",
                  "$.seccomp.deny_syscalls[0]: 'mount*' is not a valid name"},
        BadPolicy{"DeniesASyscallTheStubMakesUnderTheFilter",
                  R"({"seccomp": {"deny_syscalls": ["uname", "sendmsg"]}})",
                  "$.seccomp.deny_syscalls[1]: 'sendmsg' cannot be denied: tether-stub makes it "
                  "under the workload filter to report its last step and start the workload, so "
                  "no run could start"}),
    [](const ::testing::TestParamInfo<BadPolicy>& info) { return info.param.name; });

struct Hostname {
  const char* name;
  std::string hostname;
};

std::string HostnamePolicy(const std::string& hostname) {
  return R"({"process": {"hostname": ")" + hostname + R"("}})";
}

class GoodHostnameTest : public ::testing::TestWithParam<Hostname> {};

TEST_P(GoodHostnameTest, IsAccepted) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy(HostnamePolicy(GetParam().hostname));
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->hostname, GetParam().hostname);
}

INSTANTIATE_TEST_SUITE_P(Hostnames, GoodHostnameTest,
                         ::testing::Values(Hostname{"DigitAndDash", "sandbox-1"},
                                           Hostname{"Dotted", "a.b"},
                                           Hostname{"SixtyFourCharacters", std::string(64, 'h')}),
                         [](const ::testing::TestParamInfo<Hostname>& info) {
                           return info.param.name;
                         });

class BadHostnameTest : public ::testing::TestWithParam<Hostname> {};

TEST_P(BadHostnameTest, IsRefusedNamingTheKey) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy(HostnamePolicy(GetParam().hostname));
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().message().rfind("$.process.hostname: ", 0), 0u) << policy.status();
}

INSTANTIATE_TEST_SUITE_P(
    Hostnames, BadHostnameTest,
    ::testing::Values(Hostname{"Empty", ""}, Hostname{"SixtyFiveCharacters", std::string(65, 'h')},
                      Hostname{"Underscore", "bad_name"}, Hostname{"LeadingDash", "-x"},
                      Hostname{"LeadingDot", ".x"}, Hostname{"Space", "a b"}),
    [](const ::testing::TestParamInfo<Hostname>& info) { return info.param.name; });

TEST(PolicyFileTest, ParsesTheEgressListAndItsLimits) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy(R"({"network": {
      "egress": ["PyPI.org:443", "*.pythonhosted.org:443", "10.0.0.0/8:5432", "pypi.org:443"],
      "max_connections": 8, "max_bytes": "1g"}})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  std::vector<std::string> texts;
  for (const EgressRule& rule : policy->egress) texts.push_back(rule.text);
  // Canonical spelling, the duplicate dropped.
  EXPECT_EQ(texts, (std::vector<std::string>{"pypi.org:443", "*.pythonhosted.org:443",
                                             "10.0.0.0/8:5432"}));
  EXPECT_EQ(policy->egress_max_connections, 8);
  EXPECT_EQ(policy->egress_max_bytes, uint64_t{1} << 30);
}

TEST(PolicyFileTest, NoEgressMeansNoProxyAndDefaultLimits) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy(R"({"network": {"mode": "host"}})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->egress.empty());
  EXPECT_FALSE(policy->egress_max_connections.has_value());
  EXPECT_FALSE(policy->egress_max_bytes.has_value());
}

TEST(PolicyFileTest, NoHostnameLeavesItUnset) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy(R"({"process": {}})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_FALSE(policy->hostname.has_value());
  EXPECT_FALSE(policy->tmpfs_size_bytes.has_value());
}

struct TmpfsSize {
  const char* name;
  const char* text;
  uint64_t bytes;  // 0: refused
};

std::string TmpfsSizePolicy(const char* text) {
  return std::string(R"({"filesystem": {"tmpfs_size": ")") + text + R"("}})";
}

class GoodTmpfsSizeTest : public ::testing::TestWithParam<TmpfsSize> {};

TEST_P(GoodTmpfsSizeTest, ParsesToBytes) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy(TmpfsSizePolicy(GetParam().text));
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->tmpfs_size_bytes, GetParam().bytes);
}

INSTANTIATE_TEST_SUITE_P(Sizes, GoodTmpfsSizeTest,
                         ::testing::Values(TmpfsSize{"Bytes", "4096", 4096},
                                           TmpfsSize{"Kibibytes", "64k", 64 << 10},
                                           TmpfsSize{"Mebibytes", "256m", uint64_t{256} << 20},
                                           TmpfsSize{"Gibibytes", "2g", uint64_t{2} << 30}),
                         [](const ::testing::TestParamInfo<TmpfsSize>& info) {
                           return info.param.name;
                         });

class BadTmpfsSizeTest : public ::testing::TestWithParam<TmpfsSize> {};

TEST_P(BadTmpfsSizeTest, IsRefusedNamingTheKey) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy(TmpfsSizePolicy(GetParam().text));
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().message().rfind("$.filesystem.tmpfs_size: ", 0), 0u) << policy.status();
  EXPECT_NE(policy.status().message().find(std::string("'") + GetParam().text + "'"),
            absl::string_view::npos)
      << policy.status();
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, BadTmpfsSizeTest,
    ::testing::Values(TmpfsSize{"Zero", "0", 0}, TmpfsSize{"BelowAPage", "1k", 0},
                      TmpfsSize{"UnknownUnit", "12x", 0}, TmpfsSize{"Empty", "", 0},
                      TmpfsSize{"AboveOneTebibyte", "2048g", 0}),
    [](const ::testing::TestParamInfo<TmpfsSize>& info) { return info.param.name; });

TEST(PolicyFileTest, TmpfsSizeNotAStringIsRefused) {
  absl::StatusOr<PolicyFile> policy = ParsePolicy(R"({"filesystem": {"tmpfs_size": 4096}})");
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(policy.status().message().find("$.filesystem.tmpfs_size: expected a string"),
            absl::string_view::npos)
      << policy.status();
}

TEST(PolicyFileTest, EnforcementAcceptsTheNamespaceAndFilesystemViewKeys) {
  // Written out of order: the result follows the mechanisms' order.
  absl::StatusOr<PolicyFile> policy = ParsePolicy(R"({"enforcement": {
      "filesystem_view": "best_effort", "cgroup_namespace": "strict",
      "uts_namespace": "best_effort", "ipc_namespace": "strict",
      "mount_namespace": "best_effort", "pid_namespace": "strict"}})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->enforcement, (std::vector<std::pair<Mechanism, EnforcementMode>>{
                                     {Mechanism::kPidNamespace, EnforcementMode::kStrict},
                                     {Mechanism::kMountNamespace, EnforcementMode::kBestEffort},
                                     {Mechanism::kIpcNamespace, EnforcementMode::kStrict},
                                     {Mechanism::kUtsNamespace, EnforcementMode::kBestEffort},
                                     {Mechanism::kCgroupNamespace, EnforcementMode::kStrict},
                                     {Mechanism::kFilesystemView, EnforcementMode::kBestEffort}}));
}

TEST(PolicyFileTest, BadModeForANewEnforcementKeyNamesIt) {
  absl::StatusOr<PolicyFile> policy =
      ParsePolicy(R"({"enforcement": {"filesystem_view": "lenient"}})");
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(policy.status().message().find("$.enforcement.filesystem_view: 'lenient' is neither"),
            absl::string_view::npos)
      << policy.status();
}

}  // namespace
}  // namespace tether::policy
