#include "broker/gpu_policy.h"

#include <gtest/gtest.h>

namespace tether::broker {
namespace {

GpuGrant TwoNodes() {
  GpuGrant grant;
  grant.nodes = {{"/dev/nvidiactl", 195, 255, "control"}, {"/dev/nvidia0", 195, 0, "gpu"}};
  grant.gpu_indexes = {0};
  grant.read_only_paths = {"/run/nvidia-persistenced"};
  return grant;
}

TEST(GpuPolicyTest, GrantsSelectedNodesAsDevices) {
  SandboxPolicy policy;
  absl::StatusOr<GpuPolicyOutcome> outcome =
      ApplyGpuGrant(TwoNodes(), ProcConflict::kPromote, false, &policy);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(policy.devices, (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia0"}));
  EXPECT_EQ(policy.read_only, (std::vector<std::string>{"/run/nvidia-persistenced"}));
}

TEST(GpuPolicyTest, BaselineProcIsPromotedToWriteFileOnly) {
  SandboxPolicy policy;
  absl::StatusOr<GpuPolicyOutcome> outcome =
      ApplyGpuGrant(TwoNodes(), ProcConflict::kPromote, false, &policy);
  ASSERT_TRUE(outcome.ok());
  EXPECT_TRUE(outcome->proc_promoted);
  EXPECT_EQ(policy.write_file, (std::vector<std::string>{"/proc"}));
  EXPECT_TRUE(policy.read_write.empty()) << "never the whole read-write set";
}

TEST(GpuPolicyTest, PromoteWinsOverTheUsersReadOnlyProcByDefault) {
  SandboxPolicy policy;
  absl::StatusOr<GpuPolicyOutcome> outcome =
      ApplyGpuGrant(TwoNodes(), ProcConflict::kPromote, true, &policy);
  ASSERT_TRUE(outcome.ok());
  EXPECT_TRUE(outcome->proc_promoted);
  EXPECT_NE(outcome->proc_note.find("promoted over the policy's read-only /proc"),
            std::string::npos);
}

TEST(GpuPolicyTest, KeepUserLeavesProcReadOnlyWithAWarning) {
  SandboxPolicy policy;
  absl::StatusOr<GpuPolicyOutcome> outcome =
      ApplyGpuGrant(TwoNodes(), ProcConflict::kKeepUser, true, &policy);
  ASSERT_TRUE(outcome.ok());
  EXPECT_FALSE(outcome->proc_promoted);
  EXPECT_TRUE(outcome->warn);
  EXPECT_TRUE(policy.write_file.empty());
  EXPECT_NE(outcome->proc_note.find("CUDA start-up may fail"), std::string::npos);
}

TEST(GpuPolicyTest, KeepUserStillPromotesWhenTheUserSaidNothing) {
  SandboxPolicy policy;
  absl::StatusOr<GpuPolicyOutcome> outcome =
      ApplyGpuGrant(TwoNodes(), ProcConflict::kKeepUser, false, &policy);
  ASSERT_TRUE(outcome.ok());
  EXPECT_TRUE(outcome->proc_promoted);
}

TEST(GpuPolicyTest, RejectRefusesWithAnActionableMessage) {
  SandboxPolicy policy;
  absl::StatusOr<GpuPolicyOutcome> outcome =
      ApplyGpuGrant(TwoNodes(), ProcConflict::kReject, true, &policy);
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("remove /proc from filesystem.read_only"),
            absl::string_view::npos);
  EXPECT_TRUE(policy.devices.empty()) << "nothing half-applied";
}

TEST(GpuPolicyTest, NoGpusChangesNothing) {
  SandboxPolicy policy;
  absl::StatusOr<GpuPolicyOutcome> outcome =
      ApplyGpuGrant(GpuGrant{}, ProcConflict::kReject, true, &policy);
  ASSERT_TRUE(outcome.ok());
  EXPECT_FALSE(outcome->proc_promoted);
  EXPECT_TRUE(policy.write_file.empty());
}

}  // namespace
}  // namespace tether::broker
