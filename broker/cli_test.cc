#include "broker/cli.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace tether::broker {
namespace {

TEST(ParseRunCommandLineTest, ReadOnlyAndReadWriteAreRepeatableAndKeptInOrder) {
  absl::StatusOr<RunCommandLine> line = ParseRunCommandLine(
      {"--read-only", "/srv/a", "--read-write", "/srv/out", "--read-only=/srv/b", "--read-only",
       "/srv/c", "--read-write=/var/cache", "--", "make", "-j2"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->read_only, (std::vector<std::string>{"/srv/a", "/srv/b", "/srv/c"}));
  EXPECT_EQ(line->read_write, (std::vector<std::string>{"/srv/out", "/var/cache"}));
  EXPECT_EQ(line->argv, (std::vector<std::string>{"make", "-j2"}));
}

// The same path, however spelled, both read-only and read-write.
TEST(ParseRunCommandLineTest, OnePathBothReadOnlyAndReadWriteIsAnError) {
  for (const char* spelling : {"/srv/data", "/srv//data/", "/srv/./data"}) {
    absl::StatusOr<RunCommandLine> line =
        ParseRunCommandLine({"--read-only", "/srv/data", "--read-write", spelling, "--", "true"});
    ASSERT_FALSE(line.ok()) << spelling;
    EXPECT_NE(line.status().message().find("name one path"), absl::string_view::npos)
        << line.status();
  }
  EXPECT_TRUE(
      ParseRunCommandLine({"--read-only", "/srv/data", "--read-write", "/srv/datum", "--", "true"})
          .ok());
}

// Spelling is checked where the rules are parsed (main, with the policy's).
TEST(ParseRunCommandLineTest, AllowNetIsRepeatableAndKeptAsWritten) {
  absl::StatusOr<RunCommandLine> line = ParseRunCommandLine(
      {"--allow-net", "pypi.org:443", "--allow-net=[::1]:8080", "--", "pip", "install", "x"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->allow_net, (std::vector<std::string>{"pypi.org:443", "[::1]:8080"}));
  EXPECT_FALSE(ParseRunCommandLine({"--allow-net", "--", "true"}).ok());
  EXPECT_FALSE(ParseRunCommandLine({"--allow-net=", "--", "true"}).ok());
}

TEST(ParseRunCommandLineTest, WithoutPathFlagsTheListsAreEmpty) {
  absl::StatusOr<RunCommandLine> line = ParseRunCommandLine({"--", "true"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_TRUE(line->read_only.empty());
  EXPECT_TRUE(line->read_write.empty());
}

TEST(ParseRunCommandLineTest, NameThatMerelyStartsWithDotDotIsAccepted) {
  absl::StatusOr<RunCommandLine> line =
      ParseRunCommandLine({"--read-only", "/srv/..data", "--read-write", "/srv/x..", "--", "true"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->read_only, (std::vector<std::string>{"/srv/..data"}));
  EXPECT_EQ(line->read_write, (std::vector<std::string>{"/srv/x.."}));
}

struct BadPath {
  const char* name;
  const char* flag;
  const char* path;
};

class BadPathFlagTest : public ::testing::TestWithParam<BadPath> {};

TEST_P(BadPathFlagTest, IsAnErrorNamingTheFlagAndThePath) {
  for (bool joined : {false, true}) {
    SCOPED_TRACE(joined ? "--flag=PATH" : "--flag PATH");
    std::vector<std::string> args =
        joined ? std::vector<std::string>{std::string(GetParam().flag) + "=" + GetParam().path}
               : std::vector<std::string>{GetParam().flag, GetParam().path};
    args.insert(args.end(), {"--", "true"});
    absl::StatusOr<RunCommandLine> line = ParseRunCommandLine(args);
    ASSERT_FALSE(line.ok());
    EXPECT_TRUE(absl::StartsWith(line.status().message(), GetParam().flag)) << line.status();
    EXPECT_TRUE(absl::StrContains(line.status().message(), std::string("'") + GetParam().path))
        << line.status();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Paths, BadPathFlagTest,
    ::testing::Values(BadPath{"ReadOnlyRelative", "--read-only", "srv/data"},
                      BadPath{"ReadWriteRelative", "--read-write", "out"},
                      BadPath{"ReadOnlyDotRelative", "--read-only", "./data"},
                      BadPath{"ReadOnlyDotDotInside", "--read-only", "/srv/../etc"},
                      BadPath{"ReadWriteDotDotInside", "--read-write", "/tmp/../root/x"},
                      BadPath{"ReadOnlyEndingInDotDot", "--read-only", "/srv/data/.."},
                      BadPath{"ReadWriteEndingInDotDot", "--read-write", "/tmp/.."},
                      BadPath{"ReadWriteRootDotDot", "--read-write", "/.."}),
    [](const ::testing::TestParamInfo<BadPath>& info) { return info.param.name; });

TEST(ParseRunCommandLineTest, ReadOnlyWithoutAValueIsAnError) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--read-only"},
        std::vector<std::string>{"--read-only", "--", "true"}}) {
    absl::StatusOr<RunCommandLine> line = ParseRunCommandLine(args);
    ASSERT_FALSE(line.ok());
    EXPECT_EQ(line.status().message(), "--read-only needs a value");
  }
  absl::StatusOr<RunCommandLine> empty = ParseRunCommandLine({"--read-only=", "--", "true"});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "--read-only needs a non-empty value");
}

}  // namespace
}  // namespace tether::broker
