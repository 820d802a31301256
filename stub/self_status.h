#ifndef TETHER_STUB_SELF_STATUS_H_
#define TETHER_STUB_SELF_STATUS_H_

#include <cstdint>
#include <optional>

namespace tether::stub {

// Masks of the calling process as /proc/self/status shows them. One read
// of that file costs about as much as a dozen system calls, where asking
// the kernel one capability or one signal at a time takes 40 to 60 calls
// for each mask.
struct SelfStatusMasks {
  uint64_t bounding = 0;         // CapBnd
  uint64_t ambient = 0;          // CapAmb
  uint64_t ignored_signals = 0;  // SigIgn: bit N-1 is signal N
};

// Nothing when /proc/self/status cannot be read, is not procfs's own
// (whatever is mounted over /proc, which the caller then must not take
// for the kernel's word) or lacks a field: the caller asks the kernel
// directly instead.
std::optional<SelfStatusMasks> ReadSelfStatusMasks();

}  // namespace tether::stub

#endif  // TETHER_STUB_SELF_STATUS_H_
