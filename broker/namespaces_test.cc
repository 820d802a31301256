// DecideNamespaces from made-up probes; VerifyNamespaces and
// CloneWithNamespaces on the real kernel, as root (unshare and clone of
// uts and ipc namespaces need CAP_SYS_ADMIN).

#include "broker/namespaces.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tether::broker {
namespace {

constexpr int kAllFlags =
    CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;

HostFacts AllProbesOk() {
  HostFacts facts;
  for (const NamespaceKind& kind : kSandboxNamespaces) {
    facts.*kind.probe = ProbeResult{true, 0, "unshare: ok"};
  }
  return facts;
}

const MechanismRecord* RecordOf(const std::vector<MechanismRecord>& records, Mechanism mechanism) {
  for (const MechanismRecord& record : records) {
    if (record.mechanism == mechanism) return &record;
  }
  return nullptr;
}

TEST(DecideNamespacesTest, ARootBrokerGetsNoUserNamespace) {
  HostFacts facts = AllProbesOk();
  facts.user_namespace = ProbeResult{true, 0, "ok"};
  absl::StatusOr<NamespaceDecision> decision = DecideNamespaces(facts, Enforcement());
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_EQ(decision->clone_flags & CLONE_NEWUSER, 0);
  EXPECT_FALSE(decision->user_namespace.has_value());
}

TEST(DecideNamespacesTest, ABrokerWithoutCapSysAdminAddsAUserNamespace) {
  HostFacts facts = AllProbesOk();
  facts.needs_user_namespace = true;
  facts.user_namespace = ProbeResult{true, 0, "ok"};
  absl::StatusOr<NamespaceDecision> decision = DecideNamespaces(facts, Enforcement());
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_EQ(decision->clone_flags, kAllFlags | CLONE_NEWUSER);
  ASSERT_TRUE(decision->user_namespace.has_value());
  EXPECT_EQ(decision->user_namespace->mechanism, Mechanism::kUserNamespace);
  EXPECT_EQ(decision->user_namespace->state, MechanismState::kEnforced);
  EXPECT_EQ(decision->user_namespace->evidence, Evidence::kNone);
}

TEST(DecideNamespacesTest, StrictRefusesARefusedUserNamespaceNamingCauseRemedyAndFallback) {
  HostFacts facts;  // namespace probes fail too: they ran without one
  facts.needs_user_namespace = true;
  facts.user_namespace = ProbeResult{false, ENOSPC, "user.max_user_namespaces is 0"};
  facts.user_namespace_remedy = "sysctl -w user.max_user_namespaces=15000";
  absl::StatusOr<NamespaceDecision> decision = DecideNamespaces(facts, Enforcement());
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(MechanismOf(decision.status()), Mechanism::kUserNamespace);
  std::string message(decision.status().message());
  EXPECT_TRUE(absl::StartsWith(message, "user_namespace: ")) << message;
  EXPECT_TRUE(absl::StrContains(message, "user.max_user_namespaces is 0")) << message;
  EXPECT_TRUE(absl::StrContains(message, "sysctl -w user.max_user_namespaces=15000")) << message;
  EXPECT_TRUE(absl::StrContains(message, "--best-effort user_namespace,pid_namespace")) << message;
}

TEST(DecideNamespacesTest, BestEffortDegradesARefusedUserNamespaceAndTheRestFollowTheirProbes) {
  HostFacts facts;
  facts.needs_user_namespace = true;
  facts.user_namespace = ProbeResult{false, EPERM, "a seccomp profile"};
  for (const NamespaceKind& kind : kSandboxNamespaces) {
    facts.*kind.probe = ProbeResult{false, EPERM, "unshare: EPERM"};
  }
  Enforcement enforcement;
  ASSERT_TRUE(enforcement.WidenFromList("all", "flag:--best-effort").ok());
  absl::StatusOr<NamespaceDecision> decision = DecideNamespaces(facts, enforcement);
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_EQ(decision->clone_flags, 0);
  ASSERT_TRUE(decision->user_namespace.has_value());
  EXPECT_EQ(decision->user_namespace->state, MechanismState::kDegraded);
  EXPECT_EQ(decision->user_namespace->errno_value, EPERM);
  EXPECT_TRUE(absl::StrContains(decision->user_namespace->reason, "a seccomp profile"));
  for (const MechanismRecord& record : decision->records) {
    EXPECT_EQ(record.state, MechanismState::kDegraded) << MechanismName(record.mechanism);
  }
}

TEST(DecideNamespacesTest, AllProbesOkGivesTheFiveCloneFlagsAndFiveEnforcedRecords) {
  absl::StatusOr<NamespaceDecision> decision = DecideNamespaces(AllProbesOk(), Enforcement());
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_EQ(decision->clone_flags, kAllFlags);
  ASSERT_EQ(decision->records.size(), 5u);
  const Mechanism expected[] = {Mechanism::kPidNamespace, Mechanism::kMountNamespace,
                                Mechanism::kIpcNamespace, Mechanism::kUtsNamespace,
                                Mechanism::kCgroupNamespace};
  for (size_t i = 0; i < 5; ++i) {
    SCOPED_TRACE(MechanismName(expected[i]));
    EXPECT_EQ(decision->records[i].mechanism, expected[i]);
    EXPECT_EQ(decision->records[i].state, MechanismState::kEnforced);
    EXPECT_EQ(decision->records[i].action, "clone_new_namespace");
    EXPECT_EQ(decision->records[i].evidence, Evidence::kNone);
    EXPECT_EQ(decision->records[i].errno_value, 0);
  }
}

struct Denial {
  const char* name;
  Mechanism mechanism;
  ProbeResult HostFacts::*probe;
  int flag;
  Mechanism other;  // another namespace mechanism, made best effort in one case
};

class DeniedNamespaceTest : public ::testing::TestWithParam<Denial> {
 protected:
  HostFacts Facts() const {
    HostFacts facts = AllProbesOk();
    facts.*GetParam().probe = ProbeResult{false, EACCES, DenialEvidence()};
    return facts;
  }
  std::string DenialEvidence() const {
    return absl::StrCat("unshare(", GetParam().name, "): EACCES");
  }
};

TEST_P(DeniedNamespaceTest, StrictRefusesNamingTheMechanismAndTheProbesEvidence) {
  absl::StatusOr<NamespaceDecision> decision = DecideNamespaces(Facts(), Enforcement());
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(MechanismOf(decision.status()), GetParam().mechanism);
  EXPECT_TRUE(absl::StrContains(decision.status().message(), MechanismName(GetParam().mechanism)))
      << decision.status();
  EXPECT_TRUE(absl::StrContains(decision.status().message(), DenialEvidence()))
      << decision.status();
}

TEST_P(DeniedNamespaceTest, BestEffortForAnotherMechanismStillRefuses) {
  Enforcement enforcement;
  enforcement.Set(GetParam().other, EnforcementMode::kBestEffort, "test");
  absl::StatusOr<NamespaceDecision> decision = DecideNamespaces(Facts(), enforcement);
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(MechanismOf(decision.status()), GetParam().mechanism);
}

TEST_P(DeniedNamespaceTest, BestEffortLeavesItsFlagOutAndDegradesItsRecord) {
  Enforcement enforcement;
  enforcement.Set(GetParam().mechanism, EnforcementMode::kBestEffort, "test");
  absl::StatusOr<NamespaceDecision> decision = DecideNamespaces(Facts(), enforcement);
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_EQ(decision->clone_flags, kAllFlags & ~GetParam().flag);
  ASSERT_EQ(decision->records.size(), 5u);
  for (const MechanismRecord& record : decision->records) {
    SCOPED_TRACE(MechanismName(record.mechanism));
    if (record.mechanism == GetParam().mechanism) {
      EXPECT_EQ(record.state, MechanismState::kDegraded);
      EXPECT_EQ(record.errno_value, EACCES);
      EXPECT_TRUE(absl::StartsWith(record.reason, "best effort: ")) << record.reason;
      EXPECT_TRUE(absl::StrContains(record.reason, DenialEvidence())) << record.reason;
    } else {
      EXPECT_EQ(record.state, MechanismState::kEnforced);
    }
  }
  EXPECT_NE(RecordOf(decision->records, GetParam().mechanism), nullptr);
}

INSTANTIATE_TEST_SUITE_P(
    Namespaces, DeniedNamespaceTest,
    ::testing::Values(Denial{"CLONE_NEWPID", Mechanism::kPidNamespace, &HostFacts::pid_namespace,
                             CLONE_NEWPID, Mechanism::kUtsNamespace},
                      Denial{"CLONE_NEWNS", Mechanism::kMountNamespace, &HostFacts::mount_namespace,
                             CLONE_NEWNS, Mechanism::kPidNamespace},
                      Denial{"CLONE_NEWIPC", Mechanism::kIpcNamespace, &HostFacts::ipc_namespace,
                             CLONE_NEWIPC, Mechanism::kFilesystemView},
                      Denial{"CLONE_NEWUTS", Mechanism::kUtsNamespace, &HostFacts::uts_namespace,
                             CLONE_NEWUTS, Mechanism::kIpcNamespace},
                      Denial{"CLONE_NEWCGROUP", Mechanism::kCgroupNamespace,
                             &HostFacts::cgroup_namespace, CLONE_NEWCGROUP,
                             Mechanism::kMountNamespace}),
    [](const ::testing::TestParamInfo<Denial>& info) { return info.param.name; });

// A forked child that unshares `flags` and waits until the object goes.
class ChildInNamespaces {
 public:
  explicit ChildInNamespaces(int flags) {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(release_, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      close(release_[1]);
      char result = (flags == 0 || unshare(flags) == 0) ? 0 : static_cast<char>(errno);
      if (write(ready[1], &result, 1) != 1) _exit(2);
      char ignored;
      while (read(release_[0], &ignored, 1) < 0 && errno == EINTR) {
      }
      _exit(0);
    }
    close(ready[1]);
    close(release_[0]);
    char result = 0;
    if (pid_ > 0 && read(ready[0], &result, 1) == 1) error_ = result;
    close(ready[0]);
  }
  ~ChildInNamespaces() {
    close(release_[1]);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }

  pid_t pid() const { return pid_; }
  // 0 once the child is in its namespaces, else the errno of unshare.
  int error() const { return error_; }

 private:
  pid_t pid_ = -1;
  int release_[2] = {-1, -1};
  int error_ = -1;
};

std::vector<MechanismRecord> PlannedRecords() {
  absl::StatusOr<NamespaceDecision> decision = DecideNamespaces(AllProbesOk(), Enforcement());
  return decision.ok() ? decision->records : std::vector<MechanismRecord>{};
}

TEST(VerifyNamespacesTest, ChildInNewUtsAndIpcNamespacesIsVerified) {
  ASSERT_EQ(geteuid(), 0u) << "unshare needs root";
  ChildInNamespaces child(CLONE_NEWUTS | CLONE_NEWIPC);
  ASSERT_EQ(child.error(), 0) << std::strerror(child.error());
  std::vector<MechanismRecord> records = PlannedRecords();
  ASSERT_EQ(records.size(), 5u);
  absl::Status verified = VerifyNamespaces(child.pid(), CLONE_NEWUTS | CLONE_NEWIPC, &records);
  ASSERT_TRUE(verified.ok()) << verified;
  for (const MechanismRecord& record : records) {
    SCOPED_TRACE(MechanismName(record.mechanism));
    bool asked = record.mechanism == Mechanism::kUtsNamespace ||
                 record.mechanism == Mechanism::kIpcNamespace;
    EXPECT_EQ(record.evidence, asked ? Evidence::kVerified : Evidence::kNone);
  }
  EXPECT_TRUE(absl::StrContains(RecordOf(records, Mechanism::kUtsNamespace)->reason, "(uts:["))
      << RecordOf(records, Mechanism::kUtsNamespace)->reason;
}

TEST(VerifyNamespacesTest, ClaimingANamespaceTheChildIsNotInFailsNamingIt) {
  ASSERT_EQ(geteuid(), 0u) << "unshare needs root";
  ChildInNamespaces child(CLONE_NEWUTS | CLONE_NEWIPC);
  ASSERT_EQ(child.error(), 0) << std::strerror(child.error());
  std::vector<MechanismRecord> records = PlannedRecords();
  absl::Status verified =
      VerifyNamespaces(child.pid(), CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID, &records);
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(MechanismOf(verified), Mechanism::kPidNamespace);
  EXPECT_TRUE(absl::StrContains(verified.message(), "pid_namespace")) << verified;
  EXPECT_EQ(RecordOf(records, Mechanism::kPidNamespace)->evidence, Evidence::kNone);
}

TEST(VerifyNamespacesTest, ChildInANamespaceNotAskedForFailsNamingIt) {
  ASSERT_EQ(geteuid(), 0u) << "unshare needs root";
  ChildInNamespaces child(CLONE_NEWUTS);
  ASSERT_EQ(child.error(), 0) << std::strerror(child.error());
  std::vector<MechanismRecord> records = PlannedRecords();
  absl::Status verified = VerifyNamespaces(child.pid(), 0, &records);
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(MechanismOf(verified), Mechanism::kUtsNamespace);
  EXPECT_TRUE(absl::StrContains(verified.message(), "unexpected namespace")) << verified;
}

TEST(VerifyNamespacesTest, ChildInNoNewNamespaceWithNoFlagsIsFine) {
  ChildInNamespaces child(0);
  ASSERT_EQ(child.error(), 0);
  std::vector<MechanismRecord> records = PlannedRecords();
  absl::Status verified = VerifyNamespaces(child.pid(), 0, &records);
  EXPECT_TRUE(verified.ok()) << verified;
  for (const MechanismRecord& record : records) {
    EXPECT_EQ(record.evidence, Evidence::kNone) << MechanismName(record.mechanism);
  }
}

ino_t NamespaceInode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
  return st.st_ino;
}

TEST(CloneWithNamespacesTest, ChildGetsZeroAndANewUtsNamespaceParentItsPidAndPidfd) {
  ASSERT_EQ(geteuid(), 0u) << "a new uts namespace needs root";
  int release[2];
  ASSERT_EQ(pipe2(release, O_CLOEXEC), 0);
  int pidfd = -1;
  pid_t pid = CloneWithNamespaces(CLONE_NEWUTS, &pidfd);
  if (pid == 0) {
    // The child: only async-signal-safe calls until _exit.
    close(release[1]);
    char ignored;
    while (read(release[0], &ignored, 1) < 0 && errno == EINTR) {
    }
    _exit(42);
  }
  close(release[0]);
  ASSERT_GT(pid, 0) << std::strerror(errno);
  ASSERT_GE(pidfd, 0);
  EXPECT_NE(fcntl(pidfd, F_GETFD), -1) << std::strerror(errno);
  EXPECT_NE(NamespaceInode(absl::StrCat("/proc/", pid, "/ns/uts")),
            NamespaceInode("/proc/self/ns/uts"));
  EXPECT_EQ(NamespaceInode(absl::StrCat("/proc/", pid, "/ns/ipc")),
            NamespaceInode("/proc/self/ns/ipc"));

  close(release[1]);  // the child exits; its pidfd becomes readable
  struct pollfd exited = {pidfd, POLLIN, 0};
  EXPECT_EQ(poll(&exited, 1, 10000), 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42);
  close(pidfd);
}

}  // namespace
}  // namespace tether::broker
