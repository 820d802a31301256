#ifndef TETHER_STUB_STEP_RUNNER_H_
#define TETHER_STUB_STEP_RUNNER_H_

#include <vector>

#include "ipc/messages.h"
#include "ipc/unique_fd.h"

namespace tether::stub {

// Performs one step exactly as the broker's plan says. It makes no decision
// of its own: the disposition says whether to touch the kernel at all and
// which errnos are tolerated.
ipc::StepResult RunStep(uint32_t index, const ipc::Step& step, const std::vector<UniqueFd>& fds);

}  // namespace tether::stub

#endif  // TETHER_STUB_STEP_RUNNER_H_
