#include "kernel/capabilities.h"

#include <errno.h>
#include <sys/prctl.h>

namespace tether::kernel {
namespace {

// Linux has had capabilities 0 to CAP_AUDIT_READ (37) since 3.16: an
// EINVAL below that is a host refusing, never the end of the set.
constexpr int kCapabilitiesEveryKernelHas = 38;

}  // namespace

int ClearBoundingSet() {
  // One call a capability: a drop past the kernel's last one fails with
  // EINVAL, which a read then confirms.
  for (int cap = 0; cap < 64; ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
    int error = errno;
    bool past_the_last = error == EINVAL && cap >= kCapabilitiesEveryKernelHas &&
                         prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0 && errno == EINVAL;
    return past_the_last ? 0 : error;
  }
  return 0;
}

}  // namespace tether::kernel
