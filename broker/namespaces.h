#ifndef TETHER_BROKER_NAMESPACES_H_
#define TETHER_BROKER_NAMESPACES_H_

// The namespaces the broker makes for the stub at clone time (the network
// namespace is made apart, see netns.h): which ones, from the host probes
// and the enforcement, and the check that the stub really is in them.

#include <sched.h>
#include <sys/types.h>

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/enforcement.h"
#include "broker/host/host_probe.h"
#include "broker/mechanism.h"
#include "broker/report/posture_report.h"

namespace tether::broker {

struct NamespaceKind {
  Mechanism mechanism;
  ProbeResult HostFacts::*probe;
  int clone_flag;
  const char* proc_name;  // under /proc/<pid>/ns/
  const char* hides;      // what a new one keeps from the workload
};

inline constexpr NamespaceKind kSandboxNamespaces[] = {
    {Mechanism::kPidNamespace, &HostFacts::pid_namespace, CLONE_NEWPID, "pid",
     "the host's and other sandboxes' processes"},
    {Mechanism::kMountNamespace, &HostFacts::mount_namespace, CLONE_NEWNS, "mnt",
     "the host's mounts (the filesystem view)"},
    {Mechanism::kIpcNamespace, &HostFacts::ipc_namespace, CLONE_NEWIPC, "ipc",
     "SysV IPC objects and POSIX message queues"},
    {Mechanism::kUtsNamespace, &HostFacts::uts_namespace, CLONE_NEWUTS, "uts",
     "the host's hostname"},
    {Mechanism::kCgroupNamespace, &HostFacts::cgroup_namespace, CLONE_NEWCGROUP, "cgroup",
     "the host's cgroup tree"},
};
inline constexpr size_t kSandboxNamespaceCount = std::size(kSandboxNamespaces);

// The clone flags, and a record for every namespace: enforced (verified
// later), or degraded with the probe's evidence when best effort allows it.
// Strict and denied: an error naming the mechanism and the cause.
// A broker without CAP_SYS_ADMIN adds CLONE_NEWUSER (and gets a
// user_namespace record); where the host refuses a user namespace, strict
// refuses naming the cause and best effort goes on without any namespace.
struct NamespaceDecision {
  int clone_flags = 0;
  std::vector<MechanismRecord> records;  // in kSandboxNamespaces order
  std::optional<MechanismRecord> user_namespace;
};
absl::StatusOr<NamespaceDecision> DecideNamespaces(const HostFacts& facts,
                                                   const Enforcement& enforcement);

// Reads /proc/<pid>/ns/* of the stub and compares each with the broker's
// own: a namespace that was asked for must differ (the record becomes
// verified), one that was not must be the broker's. The user and network
// namespaces, made at clone time only by a broker without CAP_SYS_ADMIN,
// are checked where asked for.
absl::Status VerifyNamespaces(pid_t stub, int clone_flags, std::vector<MechanismRecord>* records);

// clone3 with CLONE_PIDFD, or clone where clone3 is missing or filtered
// (ENOSYS), with the namespace flags: returns 0 in the child, the child's
// pid in the parent (its pidfd in *pidfd), or -1 with errno set. With a
// `cgroup_fd` (a cgroup v2 directory), clone3 starts the child in that
// cgroup (CLONE_INTO_CGROUP); *into_cgroup says whether it did.
pid_t CloneWithNamespaces(int clone_flags, int* pidfd, int cgroup_fd = -1,
                          bool* into_cgroup = nullptr);

}  // namespace tether::broker

#endif  // TETHER_BROKER_NAMESPACES_H_
