#include "broker/report/launch_timeline.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace tether::broker {
namespace {

TEST(LaunchTimelineTest, EachPhaseEndsWhereTheNextBeginsAndTheyAddUp) {
  LaunchTimeline::NoteMainEntered();
  LaunchTimeline timeline = LaunchTimeline::SinceMainEntered();
  usleep(20000);
  timeline.Mark("first");
  timeline.Mark("second");
  timeline.AddStubPhase("landlock", 250);
  const std::vector<LaunchPhase>& phases = timeline.phases();
  ASSERT_EQ(phases.size(), 4u);
  EXPECT_EQ(phases[0].phase, "broker_start");
  EXPECT_GT(phases[0].micros, 0u);  // this test's own start: exec and loading
  EXPECT_EQ(phases[1].phase, "first");
  EXPECT_GE(phases[1].micros, 20000u);
  EXPECT_LT(phases[2].micros, phases[1].micros);
  EXPECT_EQ(phases[3].measured_by, "stub");
  // The stub's phase is a breakdown of one of the broker's, not added.
  EXPECT_EQ(timeline.TotalMicros(), phases[0].micros + phases[1].micros + phases[2].micros);
}

TEST(LaunchTimelineTest, ATimelineStartedLaterHasNoBrokerStart) {
  LaunchTimeline::NoteMainEntered();
  LaunchTimeline timeline;
  timeline.Mark("handshake");
  ASSERT_EQ(timeline.phases().size(), 1u);
  EXPECT_EQ(timeline.phases()[0].phase, "handshake");
  EXPECT_LT(timeline.phases()[0].micros, 1000000u);
}

}  // namespace
}  // namespace tether::broker
