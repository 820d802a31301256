#ifndef TETHER_POLICY_WORKLOAD_SECCOMP_H_
#define TETHER_POLICY_WORKLOAD_SECCOMP_H_

#include <linux/filter.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ipc/unique_fd.h"

namespace tether::policy {

struct WorkloadSeccompOptions {
  // Syscall names denied outright with EPERM, on top of the defaults. A name
  // libseccomp does not know is an InvalidArgumentError naming it; a name it
  // knows but that this architecture lacks is skipped (nothing can call it).
  // A syscall the defaults already deny keeps its default action (clone3
  // stays ENOSYS); naming one the defaults restrict by argument (clone,
  // ioctl, personality, socket, socketpair) denies it for every argument.
  std::vector<std::string> extra_denied_syscalls;
  // Socket families this workload may use beyond the defaults (AF_UNIX,
  // AF_INET, AF_INET6 and netlink's NETLINK_ROUTE): any family number;
  // AF_NETLINK allows every netlink protocol.
  std::vector<int> allowed_socket_families;
};

// Parses an address family name ("AF_XDP", "AF_PACKET", ...) into its
// number; a name that is no family is an error.
absl::StatusOr<int> ParseSocketFamily(absl::string_view name);

// Compiles the workload filter for the native architecture with libseccomp
// and returns the classic BPF program (at most ipc::kMaxSeccompInstructions
// instructions). The default action is ALLOW; the denials are those of
// DefaultDeniedSyscalls() plus `options`. A syscall from another ABI (i386 or
// x32 on x86_64) kills the process. The program is only exported, never
// loaded here: the stub sets no_new_privs and loads it.
//
// Errors: InvalidArgumentError for an unknown extra syscall name; otherwise
// an error naming the libseccomp call, the syscall and the errno.
absl::StatusOr<std::vector<struct sock_filter>> CompileWorkloadFilter(
    const WorkloadSeccompOptions& options);

// Exports a libseccomp filter context (an scmp_filter_ctx) as classic BPF,
// checking its size against ipc::kMaxSeccompInstructions.
absl::StatusOr<std::vector<struct sock_filter>> ExportBpf(void* ctx);

// Copies `program` into a new memfd (close-on-exec, not executable) sealed
// against writes, resizing and further seals, with its file offset at 0, so
// that it can be sent over SCM_RIGHTS and nobody can change it afterwards.
// InvalidArgumentError for an empty program or one over
// ipc::kMaxSeccompInstructions instructions.
absl::StatusOr<tether::UniqueFd> SealProgram(const std::vector<struct sock_filter>& program);

// Reads back a program written by SealProgram, from offset 0 and without
// moving the file offset. FailedPreconditionError unless the fd carries
// F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_WRITE;
// InvalidArgumentError unless its size is a non-zero multiple of
// sizeof(sock_filter) of at most ipc::kMaxSeccompInstructions instructions.
absl::StatusOr<std::vector<struct sock_filter>> ReadSealedProgram(int memfd);

// The syscalls tether-stub makes under the workload filter it has just
// loaded on itself, before any workload runs: sending the filter's step
// result and Ready, receiving Go, its exec, and, as the workload's init, the
// child, the signal mask and the waits. A filter that denied one could start
// no workload, so neither a policy nor CompileWorkloadFilter accepts one.
const std::vector<std::string>& SyscallsTheStubMakesUnderTheFilter();

// An InvalidArgumentError naming `name` and why, when it is one of
// SyscallsTheStubMakesUnderTheFilter(); OK otherwise.
absl::Status CheckDeniableSyscall(const std::string& name);

// The syscalls the default filter has a rule for on the native architecture,
// in filter order, including those denied only for some arguments (clone,
// personality, ioctl, socket, socketpair) and clone3 (ENOSYS). For reports
// and documentation.
const std::vector<std::string>& DefaultDeniedSyscalls();

}  // namespace tether::policy

#endif  // TETHER_POLICY_WORKLOAD_SECCOMP_H_
