#include "base/poll_timeout.h"

#include <algorithm>
#include <climits>
#include <cstdint>

#include "absl/time/clock.h"

namespace tether {

int PollTimeout(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  return static_cast<int>(std::clamp<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(deadline - absl::Now(), absl::Milliseconds(1))), 0,
      INT_MAX));
}

}  // namespace tether
