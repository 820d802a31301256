#ifndef TETHER_KERNEL_EXEC_H_
#define TETHER_KERNEL_EXEC_H_

namespace tether::kernel {

// The descriptor the broker hands its socket to the stub on (`--fd 3`).
inline constexpr int kStubSocketFd = 3;

// Exit statuses for a workload that never ran, as shells use them.
inline constexpr int kExitCannotExecute = 126;
inline constexpr int kExitNotFound = 127;

// What an execve errno means to the caller: not found (127) or found but
// not executable (126).
int ExitStatusForExecErrno(int error);

}  // namespace tether::kernel

#endif  // TETHER_KERNEL_EXEC_H_
