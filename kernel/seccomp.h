#ifndef TETHER_KERNEL_SECCOMP_H_
#define TETHER_KERNEL_SECCOMP_H_

#include <linux/filter.h>

#include <cstddef>

namespace tether::kernel {

// seccomp(SECCOMP_SET_MODE_FILTER) of `count` instructions on the calling
// thread. Needs no_new_privs or CAP_SYS_ADMIN. Returns 0 or the errno.
int LoadSeccompFilter(const struct sock_filter* program, size_t count);

// Sets no_new_privs, then loads the filter: what the broker does to itself
// and what the probes try. Returns 0 or the errno of the failing call.
int SetNoNewPrivsAndLoadSeccompFilter(const struct sock_filter* program, size_t count);

}  // namespace tether::kernel

#endif  // TETHER_KERNEL_SECCOMP_H_
