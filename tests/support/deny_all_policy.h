#ifndef TETHER_TESTS_SUPPORT_DENY_ALL_POLICY_H_
#define TETHER_TESTS_SUPPORT_DENY_ALL_POLICY_H_

#include <string>
#include <vector>

namespace tether::testing {

// A policy file (JSON) whose seccomp.deny_syscalls lists every syscall
// libseccomp knows on the native architecture except the ones tether-stub
// makes under the workload filter (policy::SyscallsTheStubMakesUnderTheFilter)
// and `workload_needs`: a run under it shows that the stub's list is
// complete.
std::string PolicyDenyingEverySyscallBut(const std::vector<std::string>& workload_needs);

// What a static glibc program (tests/testcases) needs to start: its TLS
// from brk, the thread pointer, RELRO. The rest of its start-up tolerates
// EPERM.
inline const std::vector<std::string> kStaticStartupSyscalls = {"brk", "arch_prctl", "mprotect"};

}  // namespace tether::testing

#endif  // TETHER_TESTS_SUPPORT_DENY_ALL_POLICY_H_
