#include "broker/user_namespace.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <linux/capability.h>

#include <string>

namespace tether::broker {
namespace {

bool Has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

UserNamespaceSysctls Permissive() {
  UserNamespaceSysctls sysctls;
  sysctls.max_user_namespaces = "63000";
  return sysctls;
}

TEST(UserNamespaceTest, OnlyABrokerWithoutCapSysAdminNeedsOne) {
  ProcStatus self;
  EXPECT_FALSE(NeedsUserNamespace(self, 0));
  EXPECT_TRUE(NeedsUserNamespace(self, 1000));
  self.caps.effective = 1ull << CAP_SYS_ADMIN;
  EXPECT_FALSE(NeedsUserNamespace(self, 1000));
}

TEST(UserNamespaceTest, AllowedWhenMadeAndUsable) {
  UserNamespaceDiagnosis diagnosis = DiagnoseUserNamespace(0, 0, Permissive());
  EXPECT_TRUE(diagnosis.result.ok);
  EXPECT_EQ(diagnosis.result.errno_value, 0);
  EXPECT_TRUE(diagnosis.remedy.empty());
}

TEST(UserNamespaceTest, MaxUserNamespacesZeroIsNamed) {
  UserNamespaceSysctls sysctls;
  sysctls.max_user_namespaces = "0";
  UserNamespaceDiagnosis diagnosis = DiagnoseUserNamespace(ENOSPC, ECHILD, sysctls);
  EXPECT_FALSE(diagnosis.result.ok);
  EXPECT_EQ(diagnosis.result.errno_value, ENOSPC);
  EXPECT_TRUE(Has(diagnosis.result.evidence, "user.max_user_namespaces is 0"))
      << diagnosis.result.evidence;
  EXPECT_TRUE(Has(diagnosis.remedy, "sysctl -w user.max_user_namespaces=")) << diagnosis.remedy;
}

TEST(UserNamespaceTest, AReachedLimitIsNotCalledZero) {
  UserNamespaceSysctls sysctls;
  sysctls.max_user_namespaces = "5";
  UserNamespaceDiagnosis diagnosis = DiagnoseUserNamespace(ENOSPC, ECHILD, sysctls);
  EXPECT_TRUE(Has(diagnosis.result.evidence, "user.max_user_namespaces (5) is reached"))
      << diagnosis.result.evidence;
}

TEST(UserNamespaceTest, DebiansSysctlIsNamed) {
  UserNamespaceSysctls sysctls = Permissive();
  sysctls.unprivileged_userns_clone = "0";
  UserNamespaceDiagnosis diagnosis = DiagnoseUserNamespace(EPERM, ECHILD, sysctls);
  EXPECT_EQ(diagnosis.result.errno_value, EPERM);
  EXPECT_TRUE(Has(diagnosis.result.evidence, "kernel.unprivileged_userns_clone is 0"))
      << diagnosis.result.evidence;
  EXPECT_EQ(diagnosis.remedy, "sysctl -w kernel.unprivileged_userns_clone=1");
}

TEST(UserNamespaceTest, UbuntusAppArmorRestrictionIsNamedFromAFailedMountInside) {
  UserNamespaceSysctls sysctls = Permissive();
  sysctls.apparmor_restrict = "1";
  UserNamespaceDiagnosis diagnosis = DiagnoseUserNamespace(0, EPERM, sysctls);
  EXPECT_FALSE(diagnosis.result.ok);
  EXPECT_EQ(diagnosis.result.errno_value, EPERM);
  EXPECT_TRUE(Has(diagnosis.result.evidence, "kernel.apparmor_restrict_unprivileged_userns is 1"))
      << diagnosis.result.evidence;
  EXPECT_TRUE(Has(diagnosis.remedy, "apparmor_restrict_unprivileged_userns=0")) << diagnosis.remedy;
}

TEST(UserNamespaceTest, EpermWithPermissiveSysctlsIsASeccompProfile) {
  UserNamespaceSysctls sysctls = Permissive();
  sysctls.unprivileged_userns_clone = "1";
  sysctls.apparmor_restrict = "0";
  UserNamespaceDiagnosis diagnosis = DiagnoseUserNamespace(EPERM, ECHILD, sysctls);
  EXPECT_TRUE(Has(diagnosis.result.evidence, "seccomp profile")) << diagnosis.result.evidence;
  EXPECT_TRUE(Has(diagnosis.remedy, "seccomp profile")) << diagnosis.remedy;
}

TEST(UserNamespaceTest, InsideViewMapsTheOneIdAndOverflowsTheRest) {
  ProcStatus outside;
  outside.uids = {1000, 1000, 1000};
  outside.fsuid = 1000;
  outside.gids = {1000, 1000, 0};
  outside.fsgid = 1000;
  outside.groups = {1000, 27, 44};
  IdMapping mapping{5, 1000, 6, 1000};
  ProcStatus inside = InsideView(outside, mapping, 65534, 65533);
  EXPECT_EQ(inside.uids, (ipc::IdTriple{5, 5, 5}));
  EXPECT_EQ(inside.fsuid, 5u);
  EXPECT_EQ(inside.gids, (ipc::IdTriple{6, 6, 65533}));
  EXPECT_EQ(inside.fsgid, 6u);
  EXPECT_EQ(inside.groups, (std::vector<uint32_t>{6, 65533, 65533}));
}

}  // namespace
}  // namespace tether::broker
