#ifndef TETHER_BROKER_HOST_PROBE_H_
#define TETHER_BROKER_HOST_PROBE_H_

#include <linux/filter.h>

#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "broker/host/probe_result.h"
#include "broker/host/proc_status.h"

namespace tether::broker {

struct RuntimeGuess {
  std::string name;  // "gvisor", "container", "vm" or "bare-host"
  std::vector<std::string> evidence;
};

// What this host and the runtime around it allow, each fact with the
// evidence for it. Probes never change the broker's own state: every
// attempt happens in a child that exits right after.
struct HostFacts {
  ProbeResult network_namespace;  // unshare(CLONE_NEWNET)
  // unshare(CLONE_NEWUSER) and a mount inside, the cause named where refused.
  ProbeResult user_namespace;
  std::string user_namespace_remedy;  // how an administrator allows it
  // A broker without CAP_SYS_ADMIN makes its namespaces inside a new user
  // namespace; when the host allows one, the namespace, procfs and
  // bounding-set probes run inside one too, as they will be made.
  bool needs_user_namespace = false;
  bool probed_in_user_namespace = false;
  // The sandbox's other namespaces, each unshared alone.
  ProbeResult pid_namespace;
  ProbeResult mount_namespace;
  ProbeResult ipc_namespace;
  ProbeResult uts_namespace;
  ProbeResult cgroup_namespace;
  // A procfs mounted in a new mount and pid namespace: refused ("mount too
  // revealing") inside a user namespace whose /proc has masked paths.
  ProbeResult fresh_procfs;
  ProbeResult bounding_set;  // PR_CAPBSET_DROP of every capability
  ProbeResult seccomp;       // load of the workload filter after no_new_privs
  int landlock_abi = 0;
  int landlock_errno = 0;
  ProcStatus self;  // the broker's ids, caps, no_new_privs
  RuntimeGuess runtime;
  // "probed, kept in <file>", "launch cache <file>", "probed (why no cache)".
  std::string source = "probed";
};

// Runs every probe. `self` is the broker's /proc status as just read (the
// caller's cache key is made of the same read). `seccomp_program` is the
// filter the workload would get, so that a runtime that models only some
// filters is caught; one that could not be compiled is a denied seccomp
// fact that says why, with nothing loaded. Facts `known` (a cache entry) to be allowed are taken
// from it; every denial is probed again. The Landlock ABI is always read
// fresh.
HostFacts ProbeHost(const absl::StatusOr<ProcStatus>& self,
                    const absl::StatusOr<std::vector<struct sock_filter>>& seccomp_program,
                    const HostFacts* known = nullptr);

// The workload filter the seccomp probe loads, named by the launch cache
// key it is compiled under (WorkloadFilterKey: the policy, architecture,
// boot, kernel and broker binary, of which the program is a function). The
// facts are kept under that name, so that a launch whose facts are all
// cached never needs the program: `program` is called only when the
// seccomp probe runs.
struct WorkloadFilterSource {
  std::string key;
  absl::FunctionRef<absl::StatusOr<std::vector<struct sock_filter>>()> program;
};

// The same, computed once per broker process, through the launch cache
// (cache/launch_cache.h): an entry of this boot, kernel, broker binary,
// identity, namespaces, user-namespace sysctls and workload filter saves
// the throwaway children; a missing or stale one is probed and kept. A
// filter that cannot be had is a denied seccomp fact that says why.
const HostFacts& CachedHostFacts(const WorkloadFilterSource& filter);
// A launch failed where a cached fact said it would not: the entry goes,
// so that the next run probes afresh.
void ForgetCachedHostFacts();
// Before any CachedHostFacts: the entry for the filter named `filter_key`
// goes, so that every probe runs (`tether probe --fresh`).
void ForgetCachedHostFacts(absl::string_view filter_key);

std::string HostFactsToJson(const HostFacts& facts);

// Runs `attempt` in a forked child and returns 0 or the errno it reported.
// The child exits right after; nothing changes in the caller.
int ErrnoInThrowawayChild(int (*attempt)(const void* arg), const void* arg);

}  // namespace tether::broker

#endif  // TETHER_BROKER_HOST_PROBE_H_
