#include "broker/verifier.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace tether::broker {
namespace {

std::string Ids(const ipc::IdTriple& ids) {
  return absl::StrCat(ids.real, "/", ids.effective, "/", ids.saved);
}

std::string Groups(std::vector<uint32_t> groups) {
  std::sort(groups.begin(), groups.end());
  return absl::StrCat("[", absl::StrJoin(groups, ","), "]");
}

std::string Hex(uint64_t value) { return absl::StrFormat("%016x", value); }

absl::Status Lie(absl::string_view field, absl::string_view claimed, absl::string_view actual) {
  return absl::PermissionDeniedError(
      absl::StrCat("stub hello claims ", field, " ", claimed, " but /proc says ", actual));
}

absl::Status Wrong(absl::string_view field, absl::string_view expected, absl::string_view actual) {
  return absl::FailedPreconditionError(
      absl::StrCat("final posture: ", field, " is ", actual, ", expected ", expected));
}

}  // namespace

absl::Status CheckHelloAgainstProc(const ipc::Hello& hello, const ProcStatus& proc,
                                   pid_t expected_pid) {
  // In a new pid namespace the stub sees itself as NSpid's last entry.
  pid_t own_pid = proc.pid_in_namespace != 0 ? proc.pid_in_namespace : expected_pid;
  if (hello.pid != own_pid) {
    return Lie("pid", absl::StrCat(hello.pid), absl::StrCat(own_pid));
  }
  if (!(hello.uids == proc.uids)) return Lie("uids", Ids(hello.uids), Ids(proc.uids));
  if (!(hello.gids == proc.gids)) return Lie("gids", Ids(hello.gids), Ids(proc.gids));
  if (Groups(hello.groups) != Groups(proc.groups)) {
    return Lie("groups", Groups(hello.groups), Groups(proc.groups));
  }
  const struct {
    const char* name;
    uint64_t claimed;
    uint64_t actual;
  } caps[] = {
      {"CapEff", hello.caps.effective, proc.caps.effective},
      {"CapPrm", hello.caps.permitted, proc.caps.permitted},
      {"CapInh", hello.caps.inheritable, proc.caps.inheritable},
      {"CapBnd", hello.caps.bounding, proc.caps.bounding},
      {"CapAmb", hello.caps.ambient, proc.caps.ambient},
  };
  for (const auto& cap : caps) {
    if (cap.claimed != cap.actual) return Lie(cap.name, Hex(cap.claimed), Hex(cap.actual));
  }
  if (hello.no_new_privs != proc.no_new_privs) {
    return Lie("NoNewPrivs", absl::StrCat(hello.no_new_privs), absl::StrCat(proc.no_new_privs));
  }
  if (hello.seccomp_mode != proc.seccomp_mode) {
    return Lie("Seccomp", absl::StrCat(hello.seccomp_mode), absl::StrCat(proc.seccomp_mode));
  }
  return absl::OkStatus();
}

absl::Status VerifyFinalPosture(const ProcStatus& proc, const CoreLimit& core,
                                const std::string& cwd, const ExpectedPosture& expected) {
  const TargetIdentity& target = expected.target;
  ipc::IdTriple uids = {target.uid, target.uid, target.uid};
  ipc::IdTriple gids = {target.gid, target.gid, target.gid};
  if (!expected.identity_degraded) {
    if (!(proc.uids == uids) || proc.fsuid != target.uid) {
      return Wrong("Uid", Ids(uids), Ids(proc.uids));
    }
    if (!(proc.gids == gids) || proc.fsgid != target.gid) {
      return Wrong("Gid", Ids(gids), Ids(proc.gids));
    }
    if (Groups(proc.groups) != Groups(target.groups)) {
      return Wrong("Groups", Groups(target.groups), Groups(proc.groups));
    }
  }
  const struct {
    const char* name;
    uint64_t actual;
    bool required;
  } caps[] = {
      {"CapBnd", proc.caps.bounding, !expected.bounding_set_degraded},
      {"CapEff", proc.caps.effective, !expected.identity_degraded},
      {"CapPrm", proc.caps.permitted, !expected.identity_degraded},
      {"CapInh", proc.caps.inheritable, true},
      {"CapAmb", proc.caps.ambient, true},
  };
  for (const auto& cap : caps) {
    if (cap.required && cap.actual != 0) return Wrong(cap.name, Hex(0), Hex(cap.actual));
  }
  if (!proc.no_new_privs) return Wrong("NoNewPrivs", "1", "0");
  if (!expected.seccomp_degraded && proc.seccomp_mode != 2) {
    return Wrong("Seccomp", "2", absl::StrCat(proc.seccomp_mode));
  }
  if (core.soft != 0 || core.hard != 0) {
    return Wrong("RLIMIT_CORE", "0/0", absl::StrCat(core.soft, "/", core.hard));
  }
  if (cwd != expected.working_directory) {
    return Wrong("cwd", expected.working_directory, cwd);
  }
  return absl::OkStatus();
}

}  // namespace tether::broker
