#ifndef TETHER_BROKER_VIEW_BUILDER_H_
#define TETHER_BROKER_VIEW_BUILDER_H_

#include "broker/filesystem_view.h"

namespace tether::broker {

// One mount's outcome, as the cloned child reports it on its pipe.
struct ViewMountOutcome {
  uint32_t index;  // kViewComplete after the last
  int32_t error;   // 0 or an errno
};
inline constexpr uint32_t kViewComplete = 0xffffffff;

// Runs in the broker's cloned child, single-threaded, inside its new mount
// (and pid) namespace, before it execs the stub: makes every mount of
// `plan` with the new mount API (each host path bound once, from a
// detached clone), writes one ViewMountOutcome per mount to `report_fd`,
// makes the root read-only and pivots into it. Stops at the first failure.
// Returns 0, or the errno of the failure.
int BuildView(const ViewPlan& plan, int report_fd);

}  // namespace tether::broker

#endif  // TETHER_BROKER_VIEW_BUILDER_H_
