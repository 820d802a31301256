#include "broker/host/host_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "broker/report/posture_report.h"
#include "broker/report/report.capnp.h"
#include "broker/user_namespace.h"
#include "kernel/capabilities.h"
#include "kernel/landlock.h"
#include "kernel/seccomp.h"

namespace tether::broker {
namespace {

// How a probe runs: as the broker is, or, for a broker without
// CAP_SYS_ADMIN, first in a new user namespace (its sandbox is made there).
struct Attempt {
  int flag = 0;
  bool in_user_namespace = false;
};

int EnterUserNamespace(const Attempt& attempt) {
  return attempt.in_user_namespace && unshare(CLONE_NEWUSER) != 0 ? errno : 0;
}

int UnshareAttempt(const void* arg) {
  const Attempt& attempt = *static_cast<const Attempt*>(arg);
  if (int error = EnterUserNamespace(attempt); error != 0) return error;
  return unshare(attempt.flag) == 0 ? 0 : errno;
}

int ClearBoundingSetAttempt(const void* arg) {
  if (int error = EnterUserNamespace(*static_cast<const Attempt*>(arg)); error != 0) return error;
  return kernel::ClearBoundingSet();
}

// A tmpfs mounted in a new mount namespace of a new user namespace: where
// the namespace is made but every capability in it denied (AppArmor's
// restriction), this fails.
int MountInUserNamespaceAttempt(const void*) {
  if (unshare(CLONE_NEWUSER) != 0) return ECHILD;  // creation is the other probe's
  if (unshare(CLONE_NEWNS) != 0) return errno;
  int fs = static_cast<int>(syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC));
  if (fs < 0) return errno;
  if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) return errno;
  return syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0) < 0 ? errno : 0;
}

// In a new pid namespace only a child is inside it: the grandchild mounts.
// Without a pid namespace (a host that denies it) the view's procfs is the
// host pid namespace's, and that is what is tried.
int FreshProcfsAttempt(const void* arg) {
  if (int error = EnterUserNamespace(*static_cast<const Attempt*>(arg)); error != 0) return error;
  if (unshare(CLONE_NEWNS | CLONE_NEWPID) != 0 && unshare(CLONE_NEWNS) != 0) return errno;
  pid_t child = fork();
  if (child < 0) return errno;
  if (child == 0) {
    int fs = static_cast<int>(syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC));
    if (fs < 0) _exit(errno);
    if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) _exit(errno);
    _exit(syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0) < 0 ? errno : 0);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

int LoadSeccompAttempt(const void* arg) {
  const auto* program = static_cast<const std::vector<struct sock_filter>*>(arg);
  return kernel::SetNoNewPrivsAndLoadSeccompFilter(program->data(), program->size());
}

ProbeResult Probe(int (*attempt)(const void*), const void* arg, std::string what) {
  ProbeResult result;
  result.errno_value = ErrnoInThrowawayChild(attempt, arg);
  result.ok = result.errno_value == 0;
  result.evidence =
      result.ok ? absl::StrCat(what, " succeeded in a throwaway child")
                : absl::StrCat(what, " failed in a throwaway child: ", strerror(result.errno_value),
                               " (errno ", result.errno_value, ")");
  return result;
}

bool Exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

RuntimeGuess GuessRuntime() {
  RuntimeGuess guess;
  absl::StatusOr<std::string> version = ReadSmallFile("/proc/version");
  // gVisor's sentry reports a fixed fake kernel build.
  if (version.ok() && absl::StrContains(*version, "#1 SMP Sun Jan 10 15:06:54 PST 2016")) {
    guess.name = "gvisor";
    guess.evidence.push_back(
        absl::StrCat("/proc/version is gVisor's: ", absl::StripAsciiWhitespace(*version)));
    return guess;
  }
  for (const char* marker : {"/.dockerenv", "/run/.containerenv"}) {
    if (Exists(marker)) guess.evidence.push_back(absl::StrCat(marker, " exists"));
  }
  absl::StatusOr<std::string> cgroup = ReadSmallFile("/proc/1/cgroup");
  if (cgroup.ok()) {
    for (const char* word : {"docker", "kubepods", "libpod", "containerd", "lxc"}) {
      if (absl::StrContains(*cgroup, word)) {
        guess.evidence.push_back(absl::StrCat("/proc/1/cgroup mentions ", word));
      }
    }
  }
  if (!guess.evidence.empty()) {
    guess.name = "container";
    return guess;
  }
  absl::StatusOr<std::string> cpuinfo = ReadSmallFile("/proc/cpuinfo");
  if (cpuinfo.ok() && absl::StrContains(*cpuinfo, " hypervisor")) {
    guess.evidence.push_back("/proc/cpuinfo has the hypervisor flag");
  }
  absl::StatusOr<std::string> vendor = ReadSmallFile("/sys/class/dmi/id/sys_vendor");
  if (vendor.ok() && !guess.evidence.empty()) {
    guess.evidence.push_back(absl::StrCat("DMI vendor: ", absl::StripAsciiWhitespace(*vendor)));
  }
  guess.name = guess.evidence.empty() ? "bare-host" : "vm";
  if (guess.evidence.empty()) guess.evidence.push_back("no container or hypervisor marker found");
  return guess;
}

void FillProbe(schema::ProbeFact::Builder fact, const ProbeResult& probe) {
  fact.setAllowed(probe.ok);
  fact.setErrno(probe.ok ? 0 : probe.errno_value);
  fact.setEvidence(probe.evidence);
}

void FillIds(capnp::List<uint32_t>::Builder ids, const ipc::IdTriple& triple) {
  ids.set(0, triple.real);
  ids.set(1, triple.effective);
  ids.set(2, triple.saved);
}

std::string Hex(uint64_t value) { return absl::StrFormat("%016x", value); }

}  // namespace

int ErrnoInThrowawayChild(int (*attempt)(const void* arg), const void* arg) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return errno;
  pid_t pid = fork();
  if (pid < 0) {
    int error = errno;
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return error;
  }
  if (pid == 0) {
    int result = attempt(arg);
    (void)!write(pipe_fds[1], &result, sizeof(result));
    _exit(0);
  }
  close(pipe_fds[1]);
  int result = EIO;  // a child that died without answering
  ssize_t n;
  do {
    n = read(pipe_fds[0], &result, sizeof(result));
  } while (n < 0 && errno == EINTR);
  if (n != sizeof(result)) result = EIO;
  close(pipe_fds[0]);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  return result;
}

HostFacts ProbeHost(const std::vector<struct sock_filter>& seccomp_program) {
  HostFacts facts;
  absl::StatusOr<ProcStatus> self = ReadProcStatus(getpid());
  if (self.ok()) facts.self = *self;
  facts.needs_user_namespace = self.ok() && NeedsUserNamespace(*self, geteuid());
  Attempt user_namespace{CLONE_NEWUSER};
  UserNamespaceDiagnosis diagnosis = DiagnoseUserNamespace(
      ErrnoInThrowawayChild(UnshareAttempt, &user_namespace),
      ErrnoInThrowawayChild(MountInUserNamespaceAttempt, nullptr), ReadUserNamespaceSysctls());
  facts.user_namespace = diagnosis.result;
  facts.user_namespace_remedy = diagnosis.remedy;
  facts.probed_in_user_namespace = facts.needs_user_namespace && facts.user_namespace.ok;
  bool inside = facts.probed_in_user_namespace;
  std::string where = inside ? " in a new user namespace" : "";
  Attempt netns{CLONE_NEWNET, inside};
  facts.network_namespace =
      Probe(UnshareAttempt, &netns, absl::StrCat("unshare(CLONE_NEWNET)", where));
  const struct {
    ProbeResult HostFacts::*fact;
    Attempt attempt;
    const char* what;
  } namespaces[] = {
      {&HostFacts::pid_namespace, {CLONE_NEWPID, inside}, "unshare(CLONE_NEWPID)"},
      {&HostFacts::mount_namespace, {CLONE_NEWNS, inside}, "unshare(CLONE_NEWNS)"},
      {&HostFacts::ipc_namespace, {CLONE_NEWIPC, inside}, "unshare(CLONE_NEWIPC)"},
      {&HostFacts::uts_namespace, {CLONE_NEWUTS, inside}, "unshare(CLONE_NEWUTS)"},
      {&HostFacts::cgroup_namespace, {CLONE_NEWCGROUP, inside}, "unshare(CLONE_NEWCGROUP)"},
  };
  for (const auto& ns : namespaces) {
    facts.*ns.fact = Probe(UnshareAttempt, &ns.attempt, absl::StrCat(ns.what, where));
  }
  Attempt plain{0, inside};
  facts.fresh_procfs =
      Probe(FreshProcfsAttempt, &plain,
            absl::StrCat("fsmount of a procfs in a new mount and pid namespace", where));
  if (facts.fresh_procfs.errno_value == EPERM) {
    facts.fresh_procfs.evidence += " (the host's /proc has masked paths: mount too revealing)";
  }
  facts.bounding_set = Probe(ClearBoundingSetAttempt, &plain,
                             absl::StrCat("prctl(PR_CAPBSET_DROP) of every capability", where));
  facts.seccomp = Probe(LoadSeccompAttempt, &seccomp_program,
                        absl::StrCat("seccomp(SECCOMP_SET_MODE_FILTER) of the ",
                                     seccomp_program.size(), "-instruction workload filter"));
  int abi = kernel::QueryLandlockAbi();
  if (abi > 0) {
    facts.landlock_abi = abi;
  } else {
    facts.landlock_errno = -abi;
  }
  facts.runtime = GuessRuntime();
  return facts;
}

const HostFacts& CachedHostFacts(const std::vector<struct sock_filter>& seccomp_program) {
  static const HostFacts* facts = new HostFacts(ProbeHost(seccomp_program));
  return *facts;
}

std::string HostFactsToJson(const HostFacts& facts) {
  capnp::MallocMessageBuilder message;
  auto json = message.initRoot<schema::HostFacts>();
  FillProbe(json.initNetworkNamespace(), facts.network_namespace);
  FillProbe(json.initUserNamespace(), facts.user_namespace);
  if (!facts.user_namespace_remedy.empty()) {
    json.getUserNamespace().setEvidence(absl::StrCat(
        facts.user_namespace.evidence, "; to allow it: ", facts.user_namespace_remedy));
  }
  FillProbe(json.initPidNamespace(), facts.pid_namespace);
  FillProbe(json.initMountNamespace(), facts.mount_namespace);
  FillProbe(json.initIpcNamespace(), facts.ipc_namespace);
  FillProbe(json.initUtsNamespace(), facts.uts_namespace);
  FillProbe(json.initCgroupNamespace(), facts.cgroup_namespace);
  FillProbe(json.initFreshProcfs(), facts.fresh_procfs);
  FillProbe(json.initBoundingSetClearable(), facts.bounding_set);
  FillProbe(json.initSeccompLoadable(), facts.seccomp);
  auto landlock = json.initLandlock();
  landlock.setAbi(facts.landlock_abi);
  if (facts.landlock_abi > 0) {
    landlock.setEvidence(absl::StrCat("landlock_create_ruleset(LANDLOCK_CREATE_RULESET_VERSION) = ",
                                      facts.landlock_abi));
  } else {
    landlock.setErrno(facts.landlock_errno);
    landlock.setEvidence(
        absl::StrCat("landlock_create_ruleset failed: ", strerror(facts.landlock_errno)));
  }
  const ProcStatus& self = facts.self;
  auto json_self = json.initSelf();
  FillIds(json_self.initUid(3), self.uids);
  FillIds(json_self.initGid(3), self.gids);
  auto groups = json_self.initGroups(self.groups.size());
  for (size_t i = 0; i < self.groups.size(); ++i) groups.set(i, self.groups[i]);
  json_self.setCapEffective(Hex(self.caps.effective));
  json_self.setCapPermitted(Hex(self.caps.permitted));
  json_self.setCapInheritable(Hex(self.caps.inheritable));
  json_self.setCapBounding(Hex(self.caps.bounding));
  json_self.setCapAmbient(Hex(self.caps.ambient));
  json_self.setNoNewPrivs(self.no_new_privs);
  json_self.setSeccompMode(self.seccomp_mode);
  json_self.setEvidence("/proc/self/status");
  auto runtime = json.initRuntime();
  runtime.setGuess(facts.runtime.name);
  auto evidence = runtime.initEvidence(facts.runtime.evidence.size());
  for (size_t i = 0; i < facts.runtime.evidence.size(); ++i) {
    evidence.set(i, facts.runtime.evidence[i]);
  }
  return EncodeReportJson(json.asReader()) + "\n";
}

}  // namespace tether::broker
