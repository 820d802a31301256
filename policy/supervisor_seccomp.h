#ifndef TETHER_POLICY_SUPERVISOR_SECCOMP_H_
#define TETHER_POLICY_SUPERVISOR_SECCOMP_H_

#include <linux/filter.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tether::policy {

// The broker's own filter, loaded once its privileged set-up is done: it
// denies (EPERM) what a supervisor that only waits, forwards signals, reads
// /proc and tears down its objects never needs, so that a compromised
// broker is less useful.
absl::StatusOr<std::vector<struct sock_filter>> CompileSupervisorFilter();

const std::vector<std::string>& SupervisorDeniedSyscalls();

// Sets no_new_privs on the calling process and loads `program` on it.
absl::Status RestrictSelfWithSeccomp(const std::vector<struct sock_filter>& program);

}  // namespace tether::policy

#endif  // TETHER_POLICY_SUPERVISOR_SECCOMP_H_
