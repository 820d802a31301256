#ifndef TETHER_KERNEL_CAPABILITIES_H_
#define TETHER_KERNEL_CAPABILITIES_H_

namespace tether::kernel {

// Drops every capability the running kernel has from the bounding set.
// Needs CAP_SETPCAP. Returns 0 or the errno of the first drop that failed.
int ClearBoundingSet();

}  // namespace tether::kernel

#endif  // TETHER_KERNEL_CAPABILITIES_H_
