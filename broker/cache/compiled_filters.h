#ifndef TETHER_BROKER_CACHE_COMPILED_FILTERS_H_
#define TETHER_BROKER_CACHE_COMPILED_FILTERS_H_

#include <linux/filter.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/workload_seccomp.h"

namespace tether::broker {

// The seccomp programs a launch needs, compiled by libseccomp once per
// policy, architecture, boot and broker binary, then read back from the
// launch cache (launch_cache.h), as crun keeps its compiled filters. Without
// a usable cache they are compiled every time; an error is the compiler's.
absl::StatusOr<std::vector<struct sock_filter>> CompiledWorkloadFilter(
    const policy::WorkloadSeccompOptions& options);
// The launch cache key CompiledWorkloadFilter keeps `options`' program
// under: all that the program is a function of.
std::string WorkloadFilterKey(const policy::WorkloadSeccompOptions& options);
absl::StatusOr<std::vector<struct sock_filter>> CompiledSupervisorFilter();

}  // namespace tether::broker

#endif  // TETHER_BROKER_CACHE_COMPILED_FILTERS_H_
