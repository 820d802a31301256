#ifndef TETHER_BROKER_PROC_STATUS_H_
#define TETHER_BROKER_PROC_STATUS_H_

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/files.h"
#include "ipc/messages.h"

namespace tether::broker {

// The kernel's own account of a process: what the broker trusts, as opposed
// to what the stub claims.
struct ProcStatus {
  ipc::IdTriple uids;
  uint32_t fsuid = 0;
  ipc::IdTriple gids;
  uint32_t fsgid = 0;
  std::vector<uint32_t> groups;
  ipc::CapabilitySets caps;
  bool no_new_privs = false;
  int seccomp_mode = 0;
  // The pid in the process's own (innermost) pid namespace, from NSpid;
  // 0 where the kernel does not say.
  pid_t pid_in_namespace = 0;
};

// Parses the text of /proc/<pid>/status. Every field above is required.
absl::StatusOr<ProcStatus> ParseProcStatus(absl::string_view text);

absl::StatusOr<ProcStatus> ReadProcStatus(pid_t pid);

// The soft and hard RLIMIT_CORE from /proc/<pid>/limits ("unlimited" is
// UINT64_MAX).
struct CoreLimit {
  uint64_t soft = 0;
  uint64_t hard = 0;
};
absl::StatusOr<CoreLimit> ReadCoreLimit(pid_t pid);

// Field `number` of a /proc/<pid>/stat text, numbered as proc(5) does (4
// is the parent's pid, 22 the start time); 0 where there is no such
// field, or it is not a number, or it is the pid or the command name
// (which may hold spaces and parentheses: fields are counted from its
// last ')').
uint64_t ParseProcStatField(absl::string_view text, int number);

// The same, read from /proc/<pid>/stat ("self": this process's own).
uint64_t ReadProcStatField(absl::string_view pid, int number);

}  // namespace tether::broker

#endif  // TETHER_BROKER_PROC_STATUS_H_
