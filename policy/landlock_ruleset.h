#ifndef TETHER_POLICY_LANDLOCK_RULESET_H_
#define TETHER_POLICY_LANDLOCK_RULESET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ipc/unique_fd.h"
#include "kernel/landlock.h"

namespace tether::policy {

// The newest Landlock ABI whose access rights this file knows. A newer
// kernel is treated as this one: rights we cannot name we cannot grant.
inline constexpr int kNewestKnownLandlockAbi = 7;

// Queries the running kernel's Landlock ABI: returns the ABI (>= 1), or an
// error whose message names the syscall and the errno (ENOSYS when the
// kernel lacks Landlock, EOPNOTSUPP when it is built in but disabled).
absl::StatusOr<int> QueryLandlockAbi();

// Every filesystem access right, network right (TCP bind and connect from
// ABI 4) and scope (abstract unix sockets and signals from ABI 6) that an
// ABI knows: kernel/landlock.h, shared with the stub.
using kernel::HandledFsAccess;
using kernel::HandledNetAccess;
using kernel::HandledScopes;

// Rights granted beneath each path, masked to what the ABI knows:
//   read_only:  EXECUTE | READ_FILE | READ_DIR.
//   read_write: read_only + WRITE_FILE, REMOVE_DIR, REMOVE_FILE, MAKE_REG,
//               MAKE_DIR, MAKE_SOCK, MAKE_FIFO, MAKE_SYM, REFER (ABI 2),
//               TRUNCATE (ABI 3). Never MAKE_CHAR or MAKE_BLOCK.
//   devices:    READ_FILE | WRITE_FILE | TRUNCATE (ABI 3) | IOCTL_DEV (ABI 5).
// On a path that is not a directory only the file rights (EXECUTE,
// WRITE_FILE, READ_FILE, TRUNCATE, IOCTL_DEV) are kept.
struct LandlockRules {
  std::vector<std::string> read_only;   // absolute paths
  std::vector<std::string> read_write;  // absolute paths
  std::vector<std::string> devices;     // device nodes: read-write + ioctl
  // The write-file right alone, added to whatever else the path has: the
  // least a GPU workload needs on /proc to write /proc/<pid>/task/<tid>/comm.
  std::vector<std::string> write_file;
  // When set (e.g. /proc/<pid>/root of a sidecar stub), paths are resolved
  // inside that root, symlinks included (openat2 RESOLVE_IN_ROOT), so the
  // rules name the stub's files, not the broker's.
  std::string root;
  // Forbids signals and abstract unix socket connections to processes
  // outside the domain. Applied from ABI 6 on; ignored below.
  bool scope_signals_and_abstract_unix = true;
  // True leaves TCP unrestricted by Landlock (net rights are not handled).
  // False handles TCP bind and connect with no port allowed, and needs ABI 4.
  bool allow_tcp = true;
};

// What BuildLandlockRuleset does with a path that does not exist.
enum class MissingPath { kSkip, kError };

// Creates a ruleset that handles every filesystem access right of `abi` (and,
// when requested and known to `abi`, the scopes and TCP rights), adds one
// path-beneath rule per existing path, and returns the ruleset fd
// (O_CLOEXEC). Nothing is applied to the caller: the fd is meant to be sent
// to the process that restricts itself with it.
//
// Errors: InvalidArgumentError for a relative or empty path or for abi < 1;
// NotFoundError naming the path when it does not exist and `missing` is
// kError; FailedPreconditionError when !allow_tcp and abi < 4; otherwise the
// failing syscall with its errno.
absl::StatusOr<tether::UniqueFd> BuildLandlockRuleset(const LandlockRules& rules, int abi,
                                                      MissingPath missing);

// Adds the path rules of `rules` (its lists and root; its TCP and scope
// settings are the ruleset's own) to `ruleset_fd`, a ruleset that
// BuildLandlockRuleset made for `abi`. The same checks and errors.
absl::Status AddLandlockRules(int ruleset_fd, const LandlockRules& rules, int abi,
                              MissingPath missing);

// Applies a ruleset fd to the calling thread (landlock_restrict_self). The
// caller must already have no_new_privs (or CAP_SYS_ADMIN in its user
// namespace). Used by tests; the production stub has its own copy.
absl::Status RestrictSelf(int ruleset_fd);

}  // namespace tether::policy

#endif  // TETHER_POLICY_LANDLOCK_RULESET_H_
