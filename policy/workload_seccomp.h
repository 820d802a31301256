#ifndef TETHER_POLICY_WORKLOAD_SECCOMP_H_
#define TETHER_POLICY_WORKLOAD_SECCOMP_H_

#include <linux/filter.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ipc/unique_fd.h"

namespace tether::policy {

struct WorkloadSeccompOptions {
  // Syscall names denied with EPERM on top of the defaults; an unknown name
  // is an error.
  std::vector<std::string> extra_denied_syscalls;
};

// Compiles the workload filter for the native architecture with libseccomp
// (default allow, explicit denials) and returns the classic BPF program.
// The stub loads it; it needs no libseccomp of its own.
absl::StatusOr<std::vector<struct sock_filter>> CompileWorkloadFilter(
    const WorkloadSeccompOptions& options);

// Puts a program into a memfd sealed against any change, to send over
// SCM_RIGHTS.
absl::StatusOr<UniqueFd> SealProgram(const std::vector<struct sock_filter>& program);

// Reads a sealed program back, checking seals, size and instruction count.
absl::StatusOr<std::vector<struct sock_filter>> ReadSealedProgram(int memfd);

// Syscalls the default filter denies outright (argument-filtered rules,
// clone3 -> ENOSYS and the socket families are listed in the README).
const std::vector<std::string>& DefaultDeniedSyscalls();

}  // namespace tether::policy

#endif  // TETHER_POLICY_WORKLOAD_SECCOMP_H_
