#include "base/poll_timeout.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tether {
namespace {

TEST(PollTimeoutTest, NoDeadlineWaitsForever) {
  EXPECT_EQ(PollTimeout(absl::InfiniteFuture()), -1);
}

TEST(PollTimeoutTest, APassedDeadlineDoesNotWait) {
  EXPECT_EQ(PollTimeout(absl::Now() - absl::Seconds(1)), 0);
  EXPECT_EQ(PollTimeout(absl::InfinitePast()), 0);
}

TEST(PollTimeoutTest, APartMillisecondIsRoundedUpSoThatTheDeadlineIsReached) {
  int timeout = PollTimeout(absl::Now() + absl::Microseconds(1500));
  EXPECT_GE(timeout, 1);
  EXPECT_LE(timeout, 2);
  EXPECT_GT(PollTimeout(absl::Now() + absl::Microseconds(10)), 0);
}

TEST(PollTimeoutTest, AFarDeadlineIsClampedToPollsRange) {
  EXPECT_EQ(PollTimeout(absl::Now() + absl::Hours(24 * 365 * 100)), INT_MAX);
}

}  // namespace
}  // namespace tether
