#include "policy/resources.h"

#include <string>

#include "gtest/gtest.h"

namespace tether::policy {
namespace {

TEST(ResourcesTest, MemorySizesAreBytesWithBinaryUnitsAndAtLeastFourMiB) {
  EXPECT_EQ(*ParseMemorySize("64M"), uint64_t{64} << 20);
  EXPECT_EQ(*ParseMemorySize("2g"), uint64_t{2} << 30);
  EXPECT_EQ(*ParseMemorySize("4194304"), uint64_t{4} << 20);
  for (const char* bad : {"", "1m", "4k", "-1", "64MB", "1.5g", "lots", "2048g"}) {
    absl::StatusOr<uint64_t> parsed = ParseMemorySize(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
  }
  EXPECT_NE(ParseMemorySize("1m").status().message().find("'1m' is less than 4m"),
            std::string::npos);
}

TEST(ResourcesTest, SwapMayBeZero) {
  EXPECT_EQ(*ParseSwapSize("0"), 0u);
  EXPECT_EQ(*ParseSwapSize("1g"), uint64_t{1} << 30);
  EXPECT_FALSE(ParseSwapSize("-1").ok());
}

TEST(ResourcesTest, PidsLimitsAreWholeNumbersFromOne) {
  EXPECT_EQ(*ParsePidsLimit("32"), 32u);
  EXPECT_EQ(*ParsePidsLimit("4194304"), 4194304u);
  for (const char* bad : {"0", "", "-3", "3.5", "4194305", "32 ", "max"}) {
    EXPECT_FALSE(ParsePidsLimit(bad).ok()) << bad;
  }
}

TEST(ResourcesTest, CpusAreFractionalAndBounded) {
  EXPECT_DOUBLE_EQ(*ParseCpus("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseCpus("2"), 2.0);
  for (const char* bad : {"0", "0.001", "-1", "1025", "", "1e3", "nan", "inf", "1,5"}) {
    EXPECT_FALSE(ParseCpus(bad).ok()) << bad;
  }
  ResourceLimits limits;
  limits.cpus = 0.5;
  EXPECT_EQ(limits.CpuQuotaMicros(), 50000u);
  limits.cpus = 1.25;
  EXPECT_EQ(limits.CpuQuotaMicros(), 125000u);
}

TEST(ResourcesTest, TimeoutsAreDurationsOrBareSeconds) {
  const struct {
    const char* text;
    absl::Duration expected;
  } kGood[] = {{"30s", absl::Seconds(30)},     {"500ms", absl::Milliseconds(500)},
               {"2m", absl::Minutes(2)},       {"1h30m", absl::Minutes(90)},
               {"1.5", absl::Seconds(1.5)},    {"10", absl::Seconds(10)},
               {"720h", absl::Hours(24 * 30)}, {"1ms", absl::Milliseconds(1)}};
  for (const auto& good : kGood) {
    absl::StatusOr<absl::Duration> parsed = ParseTimeout(good.text);
    ASSERT_TRUE(parsed.ok()) << good.text << ": " << parsed.status();
    EXPECT_EQ(*parsed, good.expected) << good.text;
  }
  for (const char* bad : {"", "0", "0s", "-1s", "inf", "721h", "1us", "soon", "5 s"}) {
    EXPECT_FALSE(ParseTimeout(bad).ok()) << bad;
  }
}

TEST(ResourcesTest, OnlyExplicitCgroupLimitsCountAsAsked) {
  ResourceLimits limits;
  EXPECT_FALSE(limits.AnyCgroupLimitAsked());
  EXPECT_EQ(limits.PidsOrDefault(), kDefaultPidsLimit);
  limits.timeout = absl::Seconds(1);
  EXPECT_FALSE(limits.AnyCgroupLimitAsked());
  limits.pids = 32;
  EXPECT_TRUE(limits.AnyCgroupLimitAsked());
  EXPECT_EQ(limits.PidsOrDefault(), 32u);
}

TEST(ResourcesTest, BytesAreFormattedInTheLargestExactUnit) {
  EXPECT_EQ(FormatBytes(uint64_t{64} << 20), "64M");
  EXPECT_EQ(FormatBytes(uint64_t{2} << 30), "2G");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 10), "3K");
  EXPECT_EQ(FormatBytes(1000), "1000");
  EXPECT_EQ(FormatBytes(0), "0");
}

}  // namespace
}  // namespace tether::policy
