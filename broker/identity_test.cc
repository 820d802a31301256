#include "broker/identity.h"

#include <gtest/gtest.h>

namespace tether::broker {
namespace {

TEST(IdentityTest, RootBrokerWithoutUserRunsWorkloadAsNobody) {
  absl::StatusOr<TargetIdentity> target = ResolveTargetIdentity(std::nullopt, 0, 0, {0});
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->uid, 65534u);
  EXPECT_EQ(target->gid, 65534u);
  EXPECT_TRUE(target->groups.empty());
}

TEST(IdentityTest, NonRootBrokerWithoutUserRunsWorkloadAsItself) {
  absl::StatusOr<TargetIdentity> target =
      ResolveTargetIdentity(std::nullopt, 1000, 1001, {1001, 27});
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->uid, 1000u);
  EXPECT_EQ(target->gid, 1001u);
  EXPECT_EQ(target->groups, (std::vector<uint32_t>{1001, 27}));
}

TEST(IdentityTest, NumericUserWithGroup) {
  absl::StatusOr<TargetIdentity> target = ResolveTargetIdentity(std::string("1234:5678"), 0, 0, {});
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->uid, 1234u);
  EXPECT_EQ(target->gid, 5678u);
}

TEST(IdentityTest, NumericUserWithoutGroupUsesTheUidAsGid) {
  absl::StatusOr<TargetIdentity> target = ResolveTargetIdentity(std::string("1234"), 0, 0, {});
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->gid, 1234u);
}

TEST(IdentityTest, UserNameResolvesThroughPasswd) {
  absl::StatusOr<TargetIdentity> target = ResolveTargetIdentity(std::string("nobody"), 0, 0, {});
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->uid, 65534u);
}

TEST(IdentityTest, UnknownUserNameIsAnError) {
  absl::StatusOr<TargetIdentity> target =
      ResolveTargetIdentity(std::string("no-such-user-here"), 0, 0, {});
  ASSERT_FALSE(target.ok());
  EXPECT_NE(target.status().message().find("no-such-user-here"), absl::string_view::npos);
}

TEST(IdentityTest, RootTargetIsRefused) {
  EXPECT_FALSE(ResolveTargetIdentity(std::string("0"), 0, 0, {}).ok());
  EXPECT_FALSE(ResolveTargetIdentity(std::string("root"), 0, 0, {}).ok());
  EXPECT_FALSE(ResolveTargetIdentity(std::string("1000:0"), 0, 0, {}).ok());
}

TEST(IdentityTest, MalformedGroupIsAnError) {
  absl::StatusOr<TargetIdentity> target = ResolveTargetIdentity(std::string("1000:abc"), 0, 0, {});
  ASSERT_FALSE(target.ok());
  EXPECT_NE(target.status().message().find("gid"), absl::string_view::npos);
}

}  // namespace
}  // namespace tether::broker
