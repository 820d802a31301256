#ifndef TETHER_BROKER_EXIT_CODES_H_
#define TETHER_BROKER_EXIT_CODES_H_

#include "kernel/exec.h"

namespace tether::broker {

// Exit statuses of `tether` itself; anything else is the workload's own
// (128+N when a signal ended it).
inline constexpr int kExitBadPolicy = 2;      // policy file rejected
inline constexpr int kExitUsage = 64;         // bad command line (EX_USAGE)
inline constexpr int kExitSetupFailed = 125;  // the sandbox could not be set up
inline constexpr int kExitTimedOut = 124;     // the workload ran past --timeout (as timeout(1))
// 126 and 127 (the workload cannot run / was not found) are the stub's too:
// kernel/exec.h.
using kernel::kExitCannotExecute;
using kernel::kExitNotFound;

}  // namespace tether::broker

#endif  // TETHER_BROKER_EXIT_CODES_H_
