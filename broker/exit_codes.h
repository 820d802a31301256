#ifndef TETHER_BROKER_EXIT_CODES_H_
#define TETHER_BROKER_EXIT_CODES_H_

namespace tether::broker {

// Exit statuses of `tether` itself; anything else is the workload's own
// (128+N when a signal ended it).
inline constexpr int kExitBadPolicy = 2;       // policy file rejected
inline constexpr int kExitUsage = 64;          // bad command line (EX_USAGE)
inline constexpr int kExitSetupFailed = 125;   // the sandbox could not be set up
inline constexpr int kExitCannotExecute = 126; // the workload exists but cannot run
inline constexpr int kExitNotFound = 127;      // the workload was not found

}  // namespace tether::broker

#endif  // TETHER_BROKER_EXIT_CODES_H_
