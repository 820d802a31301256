#include "broker/verifier.h"

#include <gtest/gtest.h>

namespace tether::broker {
namespace {

ProcStatus SandboxedStatus() {
  ProcStatus proc;
  proc.uids = {65534, 65534, 65534};
  proc.fsuid = 65534;
  proc.gids = {65534, 65534, 65534};
  proc.fsgid = 65534;
  proc.no_new_privs = true;
  proc.seccomp_mode = 2;
  return proc;
}

ExpectedPosture Expected() { return {{65534, 65534, {}}, "/work"}; }

ipc::Hello HelloMatching(const ProcStatus& proc) {
  ipc::Hello hello;
  hello.pid = 9;
  hello.uids = proc.uids;
  hello.gids = proc.gids;
  hello.groups = proc.groups;
  hello.caps = proc.caps;
  hello.no_new_privs = proc.no_new_privs;
  hello.seccomp_mode = proc.seccomp_mode;
  return hello;
}

TEST(VerifierTest, AcceptsHelloThatMatchesProc) {
  ProcStatus proc = SandboxedStatus();
  EXPECT_TRUE(CheckHelloAgainstProc(HelloMatching(proc), proc, 9).ok());
}

TEST(VerifierTest, RejectsHelloClaimingAnotherUid) {
  ProcStatus proc = SandboxedStatus();
  ipc::Hello hello = HelloMatching(proc);
  proc.uids = {0, 0, 0};
  absl::Status status = CheckHelloAgainstProc(hello, proc, 9);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("uids"), absl::string_view::npos);
}

TEST(VerifierTest, RejectsHelloClaimingFewerCapabilities) {
  ProcStatus proc = SandboxedStatus();
  ipc::Hello hello = HelloMatching(proc);
  proc.caps.bounding = 1;
  absl::Status status = CheckHelloAgainstProc(hello, proc, 9);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("CapBnd"), absl::string_view::npos);
}

TEST(VerifierTest, RejectsHelloClaimingNoNewPrivs) {
  ProcStatus proc = SandboxedStatus();
  proc.no_new_privs = false;
  ipc::Hello hello = HelloMatching(proc);
  hello.no_new_privs = true;
  EXPECT_FALSE(CheckHelloAgainstProc(hello, proc, 9).ok());
}

TEST(VerifierTest, RejectsHelloFromAnotherPid) {
  ProcStatus proc = SandboxedStatus();
  EXPECT_FALSE(CheckHelloAgainstProc(HelloMatching(proc), proc, 10).ok());
}

TEST(VerifierTest, AcceptsTheExpectedFinalPosture) {
  EXPECT_TRUE(VerifyFinalPosture(SandboxedStatus(), {0, 0}, "/work", Expected()).ok());
}

TEST(VerifierTest, RejectsFinalPostureWithBoundingSetLeft) {
  ProcStatus proc = SandboxedStatus();
  proc.caps.bounding = 1 << 21;
  absl::Status status = VerifyFinalPosture(proc, {0, 0}, "/work", Expected());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("CapBnd"), absl::string_view::npos);
}

TEST(VerifierTest, RejectsFinalPostureWithoutSeccomp) {
  ProcStatus proc = SandboxedStatus();
  proc.seccomp_mode = 0;
  EXPECT_FALSE(VerifyFinalPosture(proc, {0, 0}, "/work", Expected()).ok());
}

TEST(VerifierTest, RejectsFinalPostureWithCoreDumpsOn) {
  EXPECT_FALSE(VerifyFinalPosture(SandboxedStatus(), {0, UINT64_MAX}, "/work", Expected()).ok());
}

TEST(VerifierTest, RejectsFinalPostureInAnotherDirectory) {
  EXPECT_FALSE(VerifyFinalPosture(SandboxedStatus(), {0, 0}, "/", Expected()).ok());
}

TEST(VerifierTest, RejectsFinalPostureAtWrongUid) {
  ProcStatus proc = SandboxedStatus();
  proc.uids.saved = 0;
  absl::Status status = VerifyFinalPosture(proc, {0, 0}, "/work", Expected());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("Uid"), absl::string_view::npos);
}

}  // namespace
}  // namespace tether::broker
