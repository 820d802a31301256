#include "broker/planner.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>

namespace tether::broker {
namespace {

constexpr uint64_t kAllCaps = (uint64_t{1} << (CAP_LAST_CAP + 1)) - 1;

ipc::Hello RootHello() {
  ipc::Hello hello;
  hello.pid = 42;
  hello.caps = {kAllCaps, kAllCaps, 0, kAllCaps, 0};
  hello.landlock_abi = 7;
  hello.audit_arch = 0xc000003e;
  return hello;
}

// A pre-dropped entrypoint: non-root, no capabilities, bounding set cleared.
ipc::Hello UserHello(uint32_t uid) {
  ipc::Hello hello = RootHello();
  hello.uids = {uid, uid, uid};
  hello.gids = {uid, uid, uid};
  hello.caps = {0, 0, 0, 0, 0};
  return hello;
}

PlanInput Input(const ipc::Hello& hello, uint32_t target_uid = 65534) {
  PlanInput input;
  input.hello = hello;
  input.target = {target_uid, target_uid, {}};
  input.broker_pid = 7;
  input.working_directory = "/work";
  input.argv = {"/bin/true"};
  return input;
}

const PlannedStep& StepFor(const Plan& plan, ipc::Action action) {
  auto it = std::find_if(plan.steps.begin(), plan.steps.end(),
                         [&](const PlannedStep& s) { return s.step.action == action; });
  EXPECT_NE(it, plan.steps.end()) << ipc::ActionName(action);
  return *it;
}

size_t IndexOf(const Plan& plan, ipc::Action action) {
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    if (plan.steps[i].step.action == action) return i;
  }
  ADD_FAILURE() << "no step " << ipc::ActionName(action);
  return 0;
}

TEST(PlannerTest, EnforcesPrivilegeDropFromRootToTarget) {
  absl::StatusOr<Plan> plan = BuildPlan(Input(RootHello()));
  ASSERT_TRUE(plan.ok()) << plan.status();
  const PlannedStep& uid = StepFor(*plan, ipc::Action::kSetResuid);
  EXPECT_EQ(uid.step.disposition, ipc::Disposition::kEnforce);
  EXPECT_EQ(uid.step.id, 65534u);
  EXPECT_EQ(StepFor(*plan, ipc::Action::kSetResgid).step.id, 65534u);
}

TEST(PlannerTest, SkipsPrivilegeDropStepsWhenAlreadyAtTarget) {
  absl::StatusOr<Plan> plan = BuildPlan(Input(UserHello(1000), 1000));
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (ipc::Action action :
       {ipc::Action::kSetGroups, ipc::Action::kSetResgid, ipc::Action::kSetResuid}) {
    EXPECT_EQ(StepFor(*plan, action).step.disposition, ipc::Disposition::kSkipAlreadySatisfied)
        << ipc::ActionName(action);
  }
}

TEST(PlannerTest, RefusesStubAtAnotherNonRootUid) {
  absl::StatusOr<Plan> plan = BuildPlan(Input(UserHello(1000), 65534));
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("privilege_drop"), absl::string_view::npos);
  EXPECT_NE(plan.status().message().find("CAP_SET"), absl::string_view::npos);
}

TEST(PlannerTest, ClearsBoundingSetBeforeChangingUid) {
  absl::StatusOr<Plan> plan = BuildPlan(Input(RootHello()));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_LT(IndexOf(*plan, ipc::Action::kClearBoundingSet),
            IndexOf(*plan, ipc::Action::kSetResuid));
  EXPECT_EQ(StepFor(*plan, ipc::Action::kClearBoundingSet).step.disposition,
            ipc::Disposition::kEnforce);
}

TEST(PlannerTest, SkipsBoundingSetWhenAlreadyEmpty) {
  absl::StatusOr<Plan> plan = BuildPlan(Input(UserHello(1000), 1000));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StepFor(*plan, ipc::Action::kClearBoundingSet).step.disposition,
            ipc::Disposition::kSkipAlreadySatisfied);
}

TEST(PlannerTest, RefusesNonEmptyBoundingSetWithoutSetpcap) {
  ipc::Hello hello = UserHello(1000);
  hello.caps.bounding = kAllCaps;
  absl::StatusOr<Plan> plan = BuildPlan(Input(hello, 1000));
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("bounding_set"), absl::string_view::npos);
}

TEST(PlannerTest, ArmsParentDeathSignalAfterUidChange) {
  absl::StatusOr<Plan> plan = BuildPlan(Input(RootHello()));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_GT(IndexOf(*plan, ipc::Action::kParentDeathSignal),
            IndexOf(*plan, ipc::Action::kSetResuid));
  const PlannedStep& pdeath = StepFor(*plan, ipc::Action::kParentDeathSignal);
  EXPECT_EQ(pdeath.step.signal, SIGKILL);
  EXPECT_EQ(pdeath.step.expected_parent, 7);
}

TEST(PlannerTest, LoadsSeccompFilterLast) {
  absl::StatusOr<Plan> plan = BuildPlan(Input(RootHello()));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->steps.back().step.action, ipc::Action::kSeccompFilter);
  EXPECT_EQ(plan->steps.back().step.fd_index, kSeccompFdIndex);
}

TEST(PlannerTest, RestrictsLandlockWithTheRulesetFd) {
  absl::StatusOr<Plan> plan = BuildPlan(Input(RootHello()));
  ASSERT_TRUE(plan.ok()) << plan.status();
  const PlannedStep& landlock = StepFor(*plan, ipc::Action::kLandlockRestrictSelf);
  EXPECT_EQ(landlock.step.disposition, ipc::Disposition::kEnforce);
  EXPECT_EQ(landlock.step.fd_index, kLandlockFdIndex);
}

TEST(PlannerTest, RefusesWhenLandlockIsUnavailable) {
  ipc::Hello hello = RootHello();
  hello.landlock_abi = 0;
  hello.landlock_errno = 38;
  absl::StatusOr<Plan> plan = BuildPlan(Input(hello));
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("landlock"), absl::string_view::npos);
}

TEST(PlannerTest, SkipsNoNewPrivsWhenAlreadySet) {
  ipc::Hello hello = RootHello();
  hello.no_new_privs = true;
  absl::StatusOr<Plan> plan = BuildPlan(Input(hello));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StepFor(*plan, ipc::Action::kSetNoNewPrivs).step.disposition,
            ipc::Disposition::kSkipAlreadySatisfied);
}

TEST(PlannerTest, SkipsInheritableAndAmbientWhenBothEmpty) {
  absl::StatusOr<Plan> plan = BuildPlan(Input(RootHello()));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StepFor(*plan, ipc::Action::kClearInheritableAndAmbient).step.disposition,
            ipc::Disposition::kSkipAlreadySatisfied);
}

TEST(PlannerTest, ClearsAmbientCapabilitiesWhenSet) {
  ipc::Hello hello = RootHello();
  hello.caps.ambient = 1;
  absl::StatusOr<Plan> plan = BuildPlan(Input(hello));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StepFor(*plan, ipc::Action::kClearInheritableAndAmbient).step.disposition,
            ipc::Disposition::kEnforce);
}

TEST(PlannerTest, TurnsCoreDumpsOff) {
  absl::StatusOr<Plan> plan = BuildPlan(Input(RootHello()));
  ASSERT_TRUE(plan.ok()) << plan.status();
  const PlannedStep& core = StepFor(*plan, ipc::Action::kSetRlimit);
  EXPECT_EQ(core.step.rlimit_resource, static_cast<uint32_t>(RLIMIT_CORE));
  EXPECT_EQ(core.step.rlimit_soft, 0u);
  EXPECT_EQ(core.step.rlimit_hard, 0u);
}

TEST(PlannerTest, SetsSupplementaryGroupsToTheTargetGroups) {
  PlanInput input = Input(RootHello());
  input.target.groups = {20, 10, 20};
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StepFor(*plan, ipc::Action::kSetGroups).step.groups, (std::vector<uint32_t>{10, 20}));
}

TEST(PlannerTest, EntersWorkingDirectoryAfterUidChange) {
  absl::StatusOr<Plan> plan = BuildPlan(Input(RootHello()));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_GT(IndexOf(*plan, ipc::Action::kChangeDirectory), IndexOf(*plan, ipc::Action::kSetResuid));
  EXPECT_EQ(StepFor(*plan, ipc::Action::kChangeDirectory).step.path, "/work");
}

}  // namespace
}  // namespace tether::broker

namespace tether::broker {
namespace {

TEST(PlannerBestEffortTest, StrictRefusesBoundingSetTheProbeCannotClear) {
  PlanInput input = Input(RootHello());
  input.bounding_set_probe = {false, 1, "prctl(PR_CAPBSET_DROP) failed"};
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("bounding_set"), absl::string_view::npos);
  EXPECT_NE(plan.status().message().find("prctl(PR_CAPBSET_DROP) failed"), absl::string_view::npos);
}

TEST(PlannerBestEffortTest, BestEffortToleratesEpermOnTheBoundingSet) {
  PlanInput input = Input(RootHello());
  input.bounding_set_probe = {false, 1, "prctl(PR_CAPBSET_DROP) failed"};
  input.enforcement.Set(Mechanism::kBoundingSet, EnforcementMode::kBestEffort, "policy");
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const PlannedStep& step = StepFor(*plan, ipc::Action::kClearBoundingSet);
  EXPECT_EQ(step.step.disposition, ipc::Disposition::kBestEffort);
  EXPECT_EQ(step.step.tolerate_errnos, (std::vector<int32_t>{EPERM}));
}

TEST(PlannerBestEffortTest, BestEffortBoundingSetStillEnforcesEverythingElse) {
  PlanInput input = Input(RootHello());
  input.bounding_set_probe = {false, 1, "denied"};
  input.enforcement.Set(Mechanism::kBoundingSet, EnforcementMode::kBestEffort, "policy");
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (ipc::Action action : {ipc::Action::kSetResuid, ipc::Action::kLandlockRestrictSelf,
                             ipc::Action::kSeccompFilter, ipc::Action::kSetNoNewPrivs}) {
    EXPECT_EQ(StepFor(*plan, action).step.disposition, ipc::Disposition::kEnforce)
        << ipc::ActionName(action);
  }
}

TEST(PlannerBestEffortTest, StrictRefusesASeccompFilterTheHostRejects) {
  PlanInput input = Input(RootHello());
  input.seccomp_probe = {false, 22, "seccomp() gave EINVAL"};
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("workload_seccomp"), absl::string_view::npos);
}

TEST(PlannerBestEffortTest, BestEffortToleratesEinvalAndEpermOnSeccomp) {
  PlanInput input = Input(RootHello());
  input.seccomp_probe = {false, 22, "seccomp() gave EINVAL"};
  input.enforcement.Set(Mechanism::kWorkloadSeccomp, EnforcementMode::kBestEffort, "env");
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->steps.back().step.tolerate_errnos, (std::vector<int32_t>{EINVAL, EPERM}));
}

TEST(PlannerBestEffortTest, BestEffortLeavesLandlockOutAndSaysWhy) {
  ipc::Hello hello = RootHello();
  hello.landlock_abi = 0;
  hello.landlock_errno = ENOSYS;
  PlanInput input = Input(hello);
  input.enforcement.Set(Mechanism::kLandlock, EnforcementMode::kBestEffort, "flag");
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (const PlannedStep& step : plan->steps) {
    EXPECT_NE(step.step.action, ipc::Action::kLandlockRestrictSelf);
  }
  auto landlock =
      std::find_if(plan->left_out.begin(), plan->left_out.end(), [](const SkippedMechanism& m) {
        return std::string(MechanismName(m.mechanism)) == "landlock";
      });
  ASSERT_NE(landlock, plan->left_out.end());
  EXPECT_EQ(std::string(MechanismStateName(landlock->state)), "unavailable");
  EXPECT_EQ(landlock->errno_value, ENOSYS);
}

TEST(PlannerBestEffortTest, BestEffortPrivilegeDropToleratesEperm) {
  PlanInput input = Input(UserHello(1000), 65534);
  input.enforcement.Set(Mechanism::kPrivilegeDrop, EnforcementMode::kBestEffort, "policy");
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StepFor(*plan, ipc::Action::kSetResuid).step.disposition,
            ipc::Disposition::kBestEffort);
}

}  // namespace
}  // namespace tether::broker

namespace tether::broker {
namespace {

TEST(PlannerNetworkTest, HostModeJoinsNoNamespaceAndSaysSo) {
  PlanInput input = Input(RootHello());
  input.network_mode = NetworkMode::kHost;
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (const PlannedStep& step : plan->steps) {
    EXPECT_NE(step.step.action, ipc::Action::kJoinNetworkNamespace);
  }
  ASSERT_EQ(plan->left_out.size(), 1u);
  EXPECT_EQ(std::string(MechanismStateName(plan->left_out[0].state)), "not_requested");
}

TEST(PlannerNetworkTest, IsolatedModeJoinsTheNamespaceBeforeTheUidChange) {
  PlanInput input = Input(RootHello());
  input.network_mode = NetworkMode::kIsolated;
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const PlannedStep& join = StepFor(*plan, ipc::Action::kJoinNetworkNamespace);
  EXPECT_EQ(join.step.disposition, ipc::Disposition::kEnforce);
  EXPECT_EQ(join.step.fd_index, kNetworkNamespaceFdIndex);
  EXPECT_LT(IndexOf(*plan, ipc::Action::kJoinNetworkNamespace),
            IndexOf(*plan, ipc::Action::kSetResuid));
}

// A non-root broker's stub is cloned into the sandbox's network namespace
// (of its user namespace) and holds no capability to join one: nothing to do.
TEST(PlannerNetworkTest, ANamespaceMadeAtCloneTimeIsAlreadySatisfied) {
  PlanInput input = Input(UserHello(1000), 1000);
  input.network_mode = NetworkMode::kIsolated;
  input.network_made_at_clone = true;
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const PlannedStep& join = StepFor(*plan, ipc::Action::kJoinNetworkNamespace);
  EXPECT_EQ(join.step.disposition, ipc::Disposition::kSkipAlreadySatisfied);
  EXPECT_EQ(join.mechanism, Mechanism::kNetworkNamespace);
  EXPECT_TRUE(plan->left_out.empty());
}

TEST(PlannerNetworkTest, IsolatedModeFailsClosedWhenTheNamespaceCannotBeMade) {
  PlanInput input = Input(RootHello());
  input.network_mode = NetworkMode::kIsolated;
  input.network = {false, EPERM, "unshare(CLONE_NEWNET) failed: EPERM"};
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("network_namespace"), absl::string_view::npos);
  EXPECT_NE(plan.status().message().find("unshare(CLONE_NEWNET) failed"), absl::string_view::npos);
}

TEST(PlannerNetworkTest, AutoModeFallsBackToTheHostNetworkAsDegraded) {
  PlanInput input = Input(RootHello());
  input.network_mode = NetworkMode::kAuto;
  input.network = {false, EPERM, "unshare(CLONE_NEWNET) failed: EPERM"};
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->left_out.size(), 1u);
  EXPECT_EQ(std::string(MechanismName(plan->left_out[0].mechanism)), "network_namespace");
  EXPECT_EQ(std::string(MechanismStateName(plan->left_out[0].state)), "degraded");
  EXPECT_EQ(plan->left_out[0].errno_value, EPERM);
}

TEST(PlannerNetworkTest, BestEffortIsolatedFallsBackLikeAuto) {
  PlanInput input = Input(RootHello());
  input.network_mode = NetworkMode::kIsolated;
  input.network = {false, EPERM, "denied"};
  input.enforcement.Set(Mechanism::kNetworkNamespace, EnforcementMode::kBestEffort, "policy");
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(std::string(MechanismStateName(plan->left_out[0].state)), "degraded");
}

TEST(PlannerNetworkTest, NetworkModesParseByName) {
  NetworkMode mode;
  ASSERT_TRUE(ParseNetworkMode("auto", &mode));
  EXPECT_EQ(mode, NetworkMode::kAuto);
  EXPECT_FALSE(ParseNetworkMode("bridged", &mode));
}

}  // namespace
}  // namespace tether::broker

namespace tether::broker {
namespace {

TEST(PlannerLandlockAbiTest, HardRequirementRefusesAnAbiBelowWhatThePolicyReliesOn) {
  ipc::Hello hello = RootHello();
  hello.landlock_abi = 4;
  PlanInput input = Input(hello);
  input.landlock_missing_rights = "ioctl_dev, abstract_unix_socket and signal scoping";
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("Landlock ABI 4 does not enforce ioctl_dev"),
            absl::string_view::npos);
}

TEST(PlannerLandlockAbiTest, BestEffortEnforcesWhatTheAbiHasAndListsTheRest) {
  ipc::Hello hello = RootHello();
  hello.landlock_abi = 4;
  PlanInput input = Input(hello);
  input.landlock_missing_rights = "ioctl_dev";
  input.enforcement.Set(Mechanism::kLandlock, EnforcementMode::kBestEffort, "policy");
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(StepFor(*plan, ipc::Action::kLandlockRestrictSelf).step.disposition,
            ipc::Disposition::kEnforce);
  auto degraded =
      std::find_if(plan->left_out.begin(), plan->left_out.end(), [](const SkippedMechanism& m) {
        return std::string(MechanismName(m.mechanism)) == "landlock";
      });
  ASSERT_NE(degraded, plan->left_out.end());
  EXPECT_EQ(std::string(MechanismStateName(degraded->state)), "degraded");
  EXPECT_NE(degraded->reason.find("ioctl_dev"), std::string::npos);
}

TEST(PlannerRlimitTest, PolicyRlimitsBecomeEnforcedSteps) {
  PlanInput input = Input(RootHello());
  input.rlimits = {{"nofile", RLIMIT_NOFILE, 64, 128}};
  absl::StatusOr<Plan> plan = BuildPlan(input);
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto it = std::find_if(plan->steps.begin(), plan->steps.end(), [](const PlannedStep& s) {
    return std::string(MechanismName(s.mechanism)) == "rlimits";
  });
  ASSERT_NE(it, plan->steps.end());
  EXPECT_EQ(it->step.rlimit_resource, static_cast<uint32_t>(RLIMIT_NOFILE));
  EXPECT_EQ(it->step.rlimit_soft, 64u);
  EXPECT_EQ(it->step.rlimit_hard, 128u);
}

}  // namespace
}  // namespace tether::broker
