#include "kernel/capabilities.h"

#include <errno.h>
#include <sys/prctl.h>

namespace tether::kernel {

int ClearBoundingSet() {
  for (int cap = 0; cap < 64; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;  // past the kernel's last one
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return errno;
  }
  return 0;
}

}  // namespace tether::kernel
