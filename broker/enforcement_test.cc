#include "broker/enforcement.h"

#include <gtest/gtest.h>

namespace tether::broker {
namespace {

TEST(EnforcementTest, EveryMechanismIsStrictByDefault) {
  Enforcement enforcement;
  for (Mechanism mechanism : kRelaxableMechanisms) {
    EXPECT_EQ(enforcement.mode(mechanism), EnforcementMode::kStrict) << MechanismName(mechanism);
    EXPECT_EQ(enforcement.source(mechanism), "default");
  }
}

TEST(EnforcementTest, AllWidensEveryMechanismAndRecordsTheSource) {
  Enforcement enforcement;
  ASSERT_TRUE(enforcement.WidenFromList("all", "env:TETHER_BEST_EFFORT").ok());
  for (Mechanism mechanism : kRelaxableMechanisms) {
    EXPECT_TRUE(enforcement.best_effort(mechanism));
    EXPECT_EQ(enforcement.source(mechanism), "env:TETHER_BEST_EFFORT");
  }
}

TEST(EnforcementTest, CommaListWidensOnlyTheNamedMechanisms) {
  Enforcement enforcement;
  ASSERT_TRUE(enforcement.WidenFromList("bounding_set, landlock", "flag:--best-effort").ok());
  EXPECT_TRUE(enforcement.best_effort(Mechanism::kBoundingSet));
  EXPECT_TRUE(enforcement.best_effort(Mechanism::kLandlock));
  EXPECT_FALSE(enforcement.best_effort(Mechanism::kWorkloadSeccomp));
  EXPECT_EQ(enforcement.source(Mechanism::kWorkloadSeccomp), "default");
}

TEST(EnforcementTest, UnknownNameIsAnErrorAndChangesNothing) {
  Enforcement enforcement;
  absl::Status status = enforcement.WidenFromList("landlock,netns", "flag:--best-effort");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'netns' is not a mechanism"), absl::string_view::npos);
  EXPECT_FALSE(enforcement.best_effort(Mechanism::kLandlock));
}

TEST(EnforcementTest, EmptyEntryIsAnError) {
  Enforcement enforcement;
  EXPECT_FALSE(enforcement.WidenFromList("landlock,,", "flag:--best-effort").ok());
}

}  // namespace
}  // namespace tether::broker
