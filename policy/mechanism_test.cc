#include "policy/mechanism.h"

#include <gtest/gtest.h>

#include <string>

namespace tether::policy {
namespace {

TEST(Mechanism, ErrorCarriesItsMechanismAsAValue) {
  absl::Status status =
      MechanismError(Mechanism::kBoundingSet, absl::StatusCode::kFailedPrecondition, "no");
  EXPECT_EQ(status.message(), "bounding_set: no");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(MechanismOf(status), Mechanism::kBoundingSet);
}

TEST(Mechanism, TextThatMerelyLooksLikeAMechanismIsNotOne) {
  EXPECT_EQ(MechanismOf(absl::InternalError("bounding_set: no")), std::nullopt);
  EXPECT_EQ(MechanismOf(absl::OkStatus()), std::nullopt);
}

TEST(Mechanism, OnlyRelaxableMechanismsCanBeNamedByUsers) {
  Mechanism parsed;
  for (Mechanism relaxable : kRelaxableMechanisms) {
    EXPECT_TRUE(ParseRelaxableMechanism(MechanismName(relaxable), &parsed));
    EXPECT_EQ(parsed, relaxable);
    EXPECT_TRUE(InfoOf(relaxable).relaxable);
  }
  EXPECT_FALSE(ParseRelaxableMechanism("no_new_privs", &parsed));
  EXPECT_FALSE(ParseRelaxableMechanism("gpu", &parsed));
}

TEST(Mechanism, NamesAreUnique) {
  for (const MechanismInfo& a : kMechanisms) {
    for (const MechanismInfo& b : kMechanisms) {
      if (a.mechanism != b.mechanism) EXPECT_NE(std::string(a.name), std::string(b.name));
    }
  }
}

}  // namespace
}  // namespace tether::policy
