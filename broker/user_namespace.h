#ifndef TETHER_BROKER_USER_NAMESPACE_H_
#define TETHER_BROKER_USER_NAMESPACE_H_

// A broker without CAP_SYS_ADMIN (a non-root user) may make namespaces only
// inside a user namespace of its own: the kernel then owns the sandbox's
// pid, mount, ipc, uts, cgroup and network namespaces by that user
// namespace, in which the broker's cloned child holds every capability
// until it execs the stub. Outside it, the workload is the invoking user
// and holds nothing. This file is that user namespace: why the host may
// refuse one, its one-line id maps, and how ids read from /proc outside
// look inside.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "broker/host/probe_result.h"
#include "broker/host/proc_status.h"

namespace tether::broker {

// The sandbox's ids and the host's ids they are: one line each in
// uid_map and gid_map ("<inside> <outside> 1"). Every other host id shows
// as the overflow id inside.
struct IdMapping {
  uint32_t inside_uid = 0;
  uint32_t outside_uid = 0;
  uint32_t inside_gid = 0;
  uint32_t outside_gid = 0;
};

// Whether this broker must make its sandbox inside a user namespace: not
// root, and without CAP_SYS_ADMIN (a file capability or an ambient one
// would let it make namespaces in the host's user namespace).
bool NeedsUserNamespace(const ProcStatus& self, uid_t euid);

// The sysctls that decide whether an unprivileged process may make a user
// namespace; absent where the kernel has no such knob.
struct UserNamespaceSysctls {
  std::optional<std::string> max_user_namespaces;  // user.max_user_namespaces
  std::optional<std::string>
      unprivileged_userns_clone;  // Debian's kernel.unprivileged_userns_clone
  std::optional<std::string>
      apparmor_restrict;  // Ubuntu's kernel.apparmor_restrict_unprivileged_userns
};
UserNamespaceSysctls ReadUserNamespaceSysctls();

// What the user_namespace probe found and, where it is refused, how an
// administrator allows it.
struct UserNamespaceDiagnosis {
  ProbeResult result;
  std::string remedy;  // empty when allowed
};

// Names the case from two attempts in a throwaway child: `create_errno`
// from unshare(CLONE_NEWUSER), `inside_errno` from a real mount inside the
// new namespace (AppArmor's restriction lets the namespace be made but
// denies every capability in it), and the sysctls: allowed; the limit
// user.max_user_namespaces (ENOSPC); Debian's unprivileged_userns_clone=0;
// Ubuntu's apparmor_restrict_unprivileged_userns=1; or, with the sysctls
// permissive, a seccomp profile or another LSM.
UserNamespaceDiagnosis DiagnoseUserNamespace(int create_errno, int inside_errno,
                                             const UserNamespaceSysctls& sysctls);

// Writes, from outside, "deny" to /proc/<child>/setgroups (the kernel
// takes an unprivileged gid_map only then, and a workload that could drop
// its groups could slip past a deny rule for one of them), then one line
// to uid_map and gid_map.
absl::Status WriteIdMaps(pid_t child, const IdMapping& mapping);

// Reads the maps back: exactly the one line each, and setgroups "deny".
absl::Status VerifyIdMaps(pid_t child, const IdMapping& mapping);

// /proc/<pid>/status shows ids as its reader's user namespace sees them;
// a stub inside the sandbox's sees the mapped id or the overflow id.
// Translates what the broker read into what the stub must claim.
ProcStatus InsideView(const ProcStatus& outside, const IdMapping& mapping, uint32_t overflow_uid,
                      uint32_t overflow_gid);

// /proc/sys/kernel/overflow{uid,gid} (65534 where unreadable).
uint32_t OverflowUid();
uint32_t OverflowGid();

}  // namespace tether::broker

#endif  // TETHER_BROKER_USER_NAMESPACE_H_
