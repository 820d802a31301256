#include "policy/policy_types.h"

#include <gtest/gtest.h>

#include <string>

namespace tether::policy {
namespace {

bool Mentions(const absl::Status& status, absl::string_view text) {
  return status.message().find(text) != absl::string_view::npos;
}

TEST(PolicyTypesTest, NamesParseBackToTheirValues) {
  for (NetworkMode mode : {NetworkMode::kIsolated, NetworkMode::kHost, NetworkMode::kAuto}) {
    NetworkMode parsed;
    ASSERT_TRUE(ParseNetworkMode(NetworkModeName(mode), &parsed));
    EXPECT_EQ(parsed, mode);
  }
  for (EnforcementMode mode : {EnforcementMode::kStrict, EnforcementMode::kBestEffort}) {
    EnforcementMode parsed;
    ASSERT_TRUE(ParseEnforcementMode(EnforcementModeName(mode), &parsed));
    EXPECT_EQ(parsed, mode);
  }
  for (LandlockCompatibility compatibility :
       {LandlockCompatibility::kHardRequirement, LandlockCompatibility::kBestEffort}) {
    LandlockCompatibility parsed;
    ASSERT_TRUE(ParseLandlockCompatibility(LandlockCompatibilityName(compatibility), &parsed));
    EXPECT_EQ(parsed, compatibility);
  }
  for (ProcConflict conflict :
       {ProcConflict::kPromote, ProcConflict::kKeepUser, ProcConflict::kReject}) {
    ProcConflict parsed;
    ASSERT_TRUE(ParseProcConflict(ProcConflictName(conflict), &parsed));
    EXPECT_EQ(parsed, conflict);
  }
  NetworkMode mode;
  EXPECT_FALSE(ParseNetworkMode("bridged", &mode));
  EnforcementMode enforcement;
  EXPECT_FALSE(ParseEnforcementMode("lenient", &enforcement));
  LandlockCompatibility compatibility;
  EXPECT_FALSE(ParseLandlockCompatibility("maybe", &compatibility));
  ProcConflict conflict;
  EXPECT_FALSE(ParseProcConflict("ignore", &conflict));
}

TEST(PolicyTypesTest, ParsesGpuSelections) {
  absl::StatusOr<GpuSelection> all = ParseGpuSelection(" all ");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->all);
  absl::StatusOr<GpuSelection> list = ParseGpuSelection("2, 0");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_FALSE(list->all);
  EXPECT_EQ(list->indexes, (std::vector<int>{2, 0}));
  EXPECT_TRUE(Mentions(ParseGpuSelection("0,0").status(), "is a duplicate"));
  EXPECT_TRUE(Mentions(ParseGpuSelection("").status(), "empty GPU selection"));
}

TEST(PolicyTypesTest, ParsesAndFormatsIpv4Cidrs) {
  absl::StatusOr<Ipv4Cidr> cidr = ParseIpv4Cidr("10.200.0.4/30");
  ASSERT_TRUE(cidr.ok()) << cidr.status();
  EXPECT_EQ(cidr->address, 0x0ac80004u);
  EXPECT_EQ(cidr->prefix, 30);
  EXPECT_EQ(FormatIpv4Cidr(cidr->address, cidr->prefix), "10.200.0.4/30");
  EXPECT_EQ(Netmask(30), 0xfffffffcu);
  EXPECT_EQ(Netmask(0), 0u);
}

TEST(PolicyTypesTest, RejectsBadCidrsNamingTheProblem) {
  EXPECT_TRUE(Mentions(ParseIpv4Cidr("10.200.0.0").status(), "is not ADDRESS/PREFIX"));
  EXPECT_TRUE(Mentions(ParseIpv4Cidr("10.256.0.0/30").status(), "IPv4 address"));
  EXPECT_TRUE(Mentions(ParseIpv4Cidr("10.200.0.0/33").status(), "not a number from 0 to 32"));
  EXPECT_FALSE(ParseIpv4Cidr("010.200.0.0/30").ok());
}

struct ByteSize {
  const char* name;
  const char* text;
  uint64_t bytes;  // 0: refused
};

class GoodByteSizeTest : public ::testing::TestWithParam<ByteSize> {};

TEST_P(GoodByteSizeTest, ParsesToBytes) {
  absl::StatusOr<uint64_t> bytes = ParseByteSize(GetParam().text);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, GetParam().bytes);
}

INSTANTIATE_TEST_SUITE_P(Sizes, GoodByteSizeTest,
                         ::testing::Values(ByteSize{"OnePage", "4096", 4096},
                                           ByteSize{"OnePageInKibibytes", "4k", 4096},
                                           ByteSize{"Kibibytes", "64k", 64 << 10},
                                           ByteSize{"Mebibytes", "256m", uint64_t{256} << 20},
                                           ByteSize{"Gibibytes", "2g", uint64_t{2} << 30},
                                           ByteSize{"OneTebibyte", "1024g", uint64_t{1} << 40}),
                         [](const ::testing::TestParamInfo<ByteSize>& info) {
                           return info.param.name;
                         });

class BadByteSizeTest : public ::testing::TestWithParam<ByteSize> {};

TEST_P(BadByteSizeTest, IsAnErrorNamingTheText) {
  absl::StatusOr<uint64_t> bytes = ParseByteSize(GetParam().text);
  ASSERT_FALSE(bytes.ok()) << *bytes;
  EXPECT_TRUE(Mentions(bytes.status(), std::string("'") + GetParam().text + "'")) << bytes.status();
  EXPECT_TRUE(Mentions(bytes.status(), "from 4k to 1024g")) << bytes.status();
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, BadByteSizeTest,
    ::testing::Values(ByteSize{"Zero", "0", 0}, ByteSize{"OneKibibyteBelowAPage", "1k", 0},
                      ByteSize{"OneByteBelowAPage", "4095", 0}, ByteSize{"UnknownUnit", "12x", 0},
                      ByteSize{"Empty", "", 0}, ByteSize{"UnitAlone", "k", 0},
                      ByteSize{"Negative", "-4096", 0}, ByteSize{"Fraction", "1.5g", 0},
                      ByteSize{"LeadingSpace", " 4096", 0},
                      ByteSize{"AboveOneTebibyte", "2048g", 0},
                      ByteSize{"OneByteAboveOneTebibyte", "1099511627777", 0},
                      ByteSize{"HugeNumber", "99999999999999999999k", 0}),
    [](const ::testing::TestParamInfo<ByteSize>& info) { return info.param.name; });

}  // namespace
}  // namespace tether::policy
