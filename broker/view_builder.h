#ifndef TETHER_BROKER_VIEW_BUILDER_H_
#define TETHER_BROKER_VIEW_BUILDER_H_

#include <vector>

#include "broker/filesystem_view.h"
#include "ipc/unique_fd.h"

namespace tether::broker {

// One mount's outcome, as the cloned child reports it on its pipe.
struct ViewMountOutcome {
  uint32_t index;  // kViewComplete after the last
  int32_t error;   // 0 or an errno
};
inline constexpr uint32_t kViewComplete = 0xffffffff;

// In the cloned child, in its new mount namespace (a mount is cloned only
// in the namespace it lives in, and a non-root broker could not clone the
// host's at all): a detached clone of each host path the plan binds, with
// its attributes already set, from the path opened again here and checked
// (device and inode) against the fd the planner opened; ESTALE where it is
// another file now. `sources` gets one fd per mount (-1 where it is no
// bind); on failure returns the errno and sets `failed` to the mount's
// index.
int CloneViewSources(const ViewPlan& plan, std::vector<UniqueFd>* sources, size_t* failed);

// Runs in the broker's cloned child, single-threaded, inside its new mount
// (and pid) namespace, before it execs the stub: clones the host paths
// (CloneViewSources), makes every mount of `plan` with the new mount API
// (each host path attached once), appends one ViewMountOutcome per mount
// to `outcomes`, makes the root read-only and pivots into it. Stops at the
// first failure. Returns 0, or the errno of the failure.
int BuildView(const ViewPlan& plan, std::vector<ViewMountOutcome>* outcomes);

}  // namespace tether::broker

#endif  // TETHER_BROKER_VIEW_BUILDER_H_
