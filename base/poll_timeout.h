#ifndef TETHER_BASE_POLL_TIMEOUT_H_
#define TETHER_BASE_POLL_TIMEOUT_H_

#include "absl/time/time.h"

namespace tether {

// poll(2)'s timeout until `deadline`, in milliseconds rounded up, so that a
// poll that times out has reached it: 0 once it passed, -1 (none) for the
// infinite future.
int PollTimeout(absl::Time deadline);

}  // namespace tether

#endif  // TETHER_BASE_POLL_TIMEOUT_H_
