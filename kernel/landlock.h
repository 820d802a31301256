#ifndef TETHER_KERNEL_LANDLOCK_H_
#define TETHER_KERNEL_LANDLOCK_H_

#include <linux/landlock.h>

#include <cstdint>
#include <string>

// Rights and scopes newer than the build machine's kernel headers.
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

namespace tether::kernel {

// The running kernel's Landlock ABI (1, 2, ...), or minus the errno of
// landlock_create_ruleset(LANDLOCK_CREATE_RULESET_VERSION) (-ENOSYS: no
// Landlock; -EOPNOTSUPP: disabled at boot).
int QueryLandlockAbi();

// Every right an ABI handles, so that nothing the ABI knows is left open.
uint64_t HandledFsAccess(int abi);
uint64_t HandledNetAccess(int abi);
uint64_t HandledScopes(int abi);

// One right's bit and its name in reports and `policy explain`.
struct LandlockRight {
  uint64_t bit;
  const char* name;
};
inline constexpr LandlockRight kFsRights[] = {
    {1ull << 0, "execute"},    {1ull << 1, "write_file"}, {1ull << 2, "read_file"},
    {1ull << 3, "read_dir"},   {1ull << 4, "remove_dir"}, {1ull << 5, "remove_file"},
    {1ull << 6, "make_char"},  {1ull << 7, "make_dir"},   {1ull << 8, "make_reg"},
    {1ull << 9, "make_sock"},  {1ull << 10, "make_fifo"}, {1ull << 11, "make_block"},
    {1ull << 12, "make_sym"},  {1ull << 13, "refer"},     {1ull << 14, "truncate"},
    {1ull << 15, "ioctl_dev"},
};
inline constexpr LandlockRight kScopes[] = {{1ull << 0, "abstract_unix_socket"},
                                            {1ull << 1, "signal"}};

// The rights tether relies on that `abi` does not enforce but `required`
// would, by name: "truncate, ioctl_dev".
std::string RightsMissingBelow(int abi, int required);

}  // namespace tether::kernel

#endif  // TETHER_KERNEL_LANDLOCK_H_
