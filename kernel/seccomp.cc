#include "kernel/seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tether::kernel {

int LoadSeccompFilter(const struct sock_filter* program, size_t count) {
  if (count == 0 || count > 0xffff) return EINVAL;
  struct sock_fprog prog = {static_cast<unsigned short>(count),
                            const_cast<struct sock_filter*>(program)};
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0 ? 0 : errno;
}

int SetNoNewPrivsAndLoadSeccompFilter(const struct sock_filter* program, size_t count) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  return LoadSeccompFilter(program, count);
}

}  // namespace tether::kernel
