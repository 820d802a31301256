#ifndef TETHER_BROKER_PROBE_RESULT_H_
#define TETHER_BROKER_PROBE_RESULT_H_

#include <string>

namespace tether::broker {

// The outcome of trying one thing for real (in a throwaway child, or by
// making the object itself): what the planner decides from.
struct ProbeResult {
  bool ok = false;
  int errno_value = 0;
  std::string evidence;  // what was tried, and what the kernel said
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_PROBE_RESULT_H_
