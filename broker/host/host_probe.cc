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
#include "kernel/capabilities.h"
#include "kernel/landlock.h"
#include "kernel/seccomp.h"

namespace tether::broker {
namespace {

int UnshareAttempt(const void* arg) {
  return unshare(*static_cast<const int*>(arg)) == 0 ? 0 : errno;
}

int ClearBoundingSetAttempt(const void*) { return kernel::ClearBoundingSet(); }

// In a new pid namespace only a child is inside it: the grandchild mounts.
// Without a pid namespace (a host that denies it) the view's procfs is the
// host pid namespace's, and that is what is tried.
int FreshProcfsAttempt(const void*) {
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
  int netns_flag = CLONE_NEWNET;
  int userns_flag = CLONE_NEWUSER;
  facts.network_namespace = Probe(UnshareAttempt, &netns_flag, "unshare(CLONE_NEWNET)");
  facts.user_namespace = Probe(UnshareAttempt, &userns_flag, "unshare(CLONE_NEWUSER)");
  const struct {
    ProbeResult HostFacts::*fact;
    int flag;
    const char* what;
  } namespaces[] = {
      {&HostFacts::pid_namespace, CLONE_NEWPID, "unshare(CLONE_NEWPID)"},
      {&HostFacts::mount_namespace, CLONE_NEWNS, "unshare(CLONE_NEWNS)"},
      {&HostFacts::ipc_namespace, CLONE_NEWIPC, "unshare(CLONE_NEWIPC)"},
      {&HostFacts::uts_namespace, CLONE_NEWUTS, "unshare(CLONE_NEWUTS)"},
      {&HostFacts::cgroup_namespace, CLONE_NEWCGROUP, "unshare(CLONE_NEWCGROUP)"},
  };
  for (const auto& ns : namespaces) facts.*ns.fact = Probe(UnshareAttempt, &ns.flag, ns.what);
  facts.fresh_procfs =
      Probe(FreshProcfsAttempt, nullptr, "fsmount of a procfs in a new mount and pid namespace");
  if (facts.fresh_procfs.errno_value == EPERM) {
    facts.fresh_procfs.evidence += " (the host's /proc has masked paths: mount too revealing)";
  }
  facts.bounding_set =
      Probe(ClearBoundingSetAttempt, nullptr, "prctl(PR_CAPBSET_DROP) of every capability");
  facts.seccomp = Probe(LoadSeccompAttempt, &seccomp_program,
                        absl::StrCat("seccomp(SECCOMP_SET_MODE_FILTER) of the ",
                                     seccomp_program.size(), "-instruction workload filter"));
  int abi = kernel::QueryLandlockAbi();
  if (abi > 0) {
    facts.landlock_abi = abi;
  } else {
    facts.landlock_errno = -abi;
  }
  absl::StatusOr<ProcStatus> self = ReadProcStatus(getpid());
  if (self.ok()) facts.self = *self;
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
