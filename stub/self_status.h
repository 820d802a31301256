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

// Read from /proc/thread-self/status, looked up from a /proc that is
// procfs's own root without crossing a mount, and only when the file names
// the caller's pid. Nothing otherwise (no procfs, a tmpfs over /proc with
// links of its own, another process's procfs directory bound over /proc,
// a procfs of another pid namespace, a field missing): the caller, which
// must not take such a file for the kernel's word, asks the kernel
// directly instead.
std::optional<SelfStatusMasks> ReadSelfStatusMasks();

}  // namespace tether::stub

#endif  // TETHER_STUB_SELF_STATUS_H_
