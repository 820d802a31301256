#ifndef TETHER_IPC_LIMITS_H_
#define TETHER_IPC_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace tether::ipc {

// Hard limits on what either side accepts from the socket. A datagram larger
// than kMaxMessageBytes is truncated by recvmsg and rejected whole.
inline constexpr size_t kMaxMessageBytes = 128 * 1024;
inline constexpr size_t kMaxFdsPerMessage = 4;
inline constexpr uint64_t kTraversalLimitWords = kMaxMessageBytes / 8 * 2;
inline constexpr int kNestingLimit = 8;

// Semantic limits.
inline constexpr size_t kMaxGroups = 65536;  // NGROUPS_MAX
inline constexpr size_t kMaxPlanSteps = 64;
inline constexpr size_t kMaxSeccompInstructions = 4096;  // BPF_MAXINSNS

}  // namespace tether::ipc

#endif  // TETHER_IPC_LIMITS_H_
