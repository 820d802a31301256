#include "kernel/landlock.h"

#include <errno.h>
#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tether::kernel {

int QueryLandlockAbi() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi > 0) return static_cast<int>(abi);
  return errno > 0 ? -errno : -ENOSYS;
}

uint64_t HandledFsAccess(int abi) {
  if (abi < 1) return 0;
  // ABI 1: EXECUTE through MAKE_SYM.
  uint64_t access = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;
  if (abi >= 2) access |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) access |= LANDLOCK_ACCESS_FS_TRUNCATE;
  if (abi >= 5) access |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
  return access;
}

uint64_t HandledNetAccess(int abi) {
  return abi >= 4 ? LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP : 0;
}

uint64_t HandledScopes(int abi) {
  return abi >= 6 ? LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL : 0;
}

std::string RightsMissingBelow(int abi, int required) {
  constexpr struct {
    int abi;
    const char* names;
  } kIntroduced[] = {{2, "refer"},
                     {3, "truncate"},
                     {5, "ioctl_dev"},
                     {6, "abstract_unix_socket and signal scoping"}};
  std::string missing;
  for (const auto& entry : kIntroduced) {
    if (entry.abi <= abi || entry.abi > required) continue;
    if (!missing.empty()) missing += ", ";
    missing += entry.names;
  }
  return missing;
}

}  // namespace tether::kernel
