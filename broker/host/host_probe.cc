#include "broker/host/host_probe.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
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
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "broker/cache/cache.capnp.h"
#include "broker/cache/launch_cache.h"
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

HostFacts ProbeHost(const absl::StatusOr<ProcStatus>& self,
                    const absl::StatusOr<std::vector<struct sock_filter>>& seccomp_program,
                    const HostFacts* known) {
  HostFacts facts;
  if (self.ok()) facts.self = *self;
  facts.needs_user_namespace = self.ok() && NeedsUserNamespace(*self, geteuid());
  // A fact the cache says is allowed is taken (the step that relies on it
  // fails closed if the kernel now says no); a denial is always tried again,
  // so that no cache entry can make a run weaker than the host allows.
  auto reuse = [known](ProbeResult HostFacts::*fact) {
    return known != nullptr && (known->*fact).ok;
  };
  if (reuse(&HostFacts::user_namespace)) {
    facts.user_namespace = known->user_namespace;
  } else {
    Attempt user_namespace{CLONE_NEWUSER};
    UserNamespaceDiagnosis diagnosis = DiagnoseUserNamespace(
        ErrnoInThrowawayChild(UnshareAttempt, &user_namespace),
        ErrnoInThrowawayChild(MountInUserNamespaceAttempt, nullptr), ReadUserNamespaceSysctls());
    facts.user_namespace = diagnosis.result;
    facts.user_namespace_remedy = diagnosis.remedy;
  }
  facts.probed_in_user_namespace = facts.needs_user_namespace && facts.user_namespace.ok;
  bool inside = facts.probed_in_user_namespace;
  std::string where = inside ? " in a new user namespace" : "";
  Attempt netns{CLONE_NEWNET, inside};
  facts.network_namespace =
      reuse(&HostFacts::network_namespace)
          ? known->network_namespace
          : Probe(UnshareAttempt, &netns, absl::StrCat("unshare(CLONE_NEWNET)", where));
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
    facts.*ns.fact = reuse(ns.fact)
                         ? known->*ns.fact
                         : Probe(UnshareAttempt, &ns.attempt, absl::StrCat(ns.what, where));
  }
  Attempt plain{0, inside};
  if (reuse(&HostFacts::fresh_procfs)) {
    facts.fresh_procfs = known->fresh_procfs;
  } else {
    facts.fresh_procfs =
        Probe(FreshProcfsAttempt, &plain,
              absl::StrCat("fsmount of a procfs in a new mount and pid namespace", where));
    if (facts.fresh_procfs.errno_value == EPERM) {
      facts.fresh_procfs.evidence += " (the host's /proc has masked paths: mount too revealing)";
    }
  }
  facts.bounding_set =
      reuse(&HostFacts::bounding_set)
          ? known->bounding_set
          : Probe(ClearBoundingSetAttempt, &plain,
                  absl::StrCat("prctl(PR_CAPBSET_DROP) of every capability", where));
  if (reuse(&HostFacts::seccomp)) {
    facts.seccomp = known->seccomp;
  } else if (!seccomp_program.ok()) {
    facts.seccomp = {false, EINVAL,
                     absl::StrCat("the workload filter could not be compiled: ",
                                  seccomp_program.status().message())};
  } else {
    facts.seccomp = Probe(LoadSeccompAttempt, &*seccomp_program,
                          absl::StrCat("seccomp(SECCOMP_SET_MODE_FILTER) of the ",
                                       seccomp_program->size(), "-instruction workload filter"));
  }
  int abi = kernel::QueryLandlockAbi();
  if (abi > 0) {
    facts.landlock_abi = abi;
  } else {
    facts.landlock_errno = -abi;
  }
  facts.runtime = known != nullptr ? known->runtime : GuessRuntime();
  return facts;
}

namespace {

// Every probe, by the name it has in the cache.
constexpr struct {
  const char* name;
  ProbeResult HostFacts::*fact;
} kProbes[] = {
    {"network_namespace", &HostFacts::network_namespace},
    {"user_namespace", &HostFacts::user_namespace},
    {"pid_namespace", &HostFacts::pid_namespace},
    {"mount_namespace", &HostFacts::mount_namespace},
    {"ipc_namespace", &HostFacts::ipc_namespace},
    {"uts_namespace", &HostFacts::uts_namespace},
    {"cgroup_namespace", &HostFacts::cgroup_namespace},
    {"fresh_procfs", &HostFacts::fresh_procfs},
    {"bounding_set", &HostFacts::bounding_set},
    {"seccomp", &HostFacts::seccomp},
};

std::string EncodeCachedFacts(const HostFacts& facts) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<cache::HostFacts>();
  auto probes = out.initProbes(std::size(kProbes));
  for (size_t i = 0; i < std::size(kProbes); ++i) {
    const ProbeResult& probe = facts.*kProbes[i].fact;
    probes[i].setName(kProbes[i].name);
    probes[i].setOk(probe.ok);
    probes[i].setErrno(probe.errno_value);
    probes[i].setEvidence(probe.evidence);
  }
  out.setUserNamespaceRemedy(facts.user_namespace_remedy);
  out.setProbedInUserNamespace(facts.probed_in_user_namespace);
  out.setRuntimeName(facts.runtime.name);
  auto evidence = out.initRuntimeEvidence(facts.runtime.evidence.size());
  for (size_t i = 0; i < facts.runtime.evidence.size(); ++i) {
    evidence.set(i, facts.runtime.evidence[i]);
  }
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  return std::string(reinterpret_cast<const char*>(words.asBytes().begin()),
                     words.asBytes().size());
}

// Every probe must be there, once: an entry of another shape is a miss.
std::optional<HostFacts> DecodeCachedFacts(const std::string& payload) {
  if (payload.empty() || payload.size() % sizeof(capnp::word) != 0) return std::nullopt;
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(payload.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), payload.data(), payload.size());
  std::optional<HostFacts> facts;
  kj::runCatchingExceptions([&] {
    capnp::FlatArrayMessageReader reader(words);
    auto in = reader.getRoot<cache::HostFacts>();
    HostFacts decoded;
    size_t found = 0;
    for (auto probe : in.getProbes()) {
      for (const auto& known : kProbes) {
        if (probe.getName() != known.name) continue;
        ProbeResult& fact = decoded.*known.fact;
        fact.ok = probe.getOk();
        fact.errno_value = probe.getErrno();
        fact.evidence = probe.getEvidence();
        ++found;
      }
    }
    if (found != std::size(kProbes) || in.getProbes().size() != std::size(kProbes)) return;
    decoded.user_namespace_remedy = in.getUserNamespaceRemedy();
    decoded.runtime.name = in.getRuntimeName();
    for (auto line : in.getRuntimeEvidence()) decoded.runtime.evidence.emplace_back(line);
    facts = std::move(decoded);
  });
  return facts;
}

// What the probes depend on beyond the boot, kernel and binary: who the
// broker is and where it runs (ids, capabilities, no_new_privs, seccomp,
// namespaces), the sysctls that allow user namespaces, and the workload
// filter the seccomp probe loads, by the name it is compiled under.
std::string HostFactsKey(const absl::StatusOr<ProcStatus>& self, absl::string_view filter_key) {
  std::string key = absl::StrCat("host facts v2\n", HostAndBrokerKey());
  if (self.ok()) {
    absl::StrAppend(&key, "uid ", self->uids.real, " ", self->uids.effective, " ", self->uids.saved,
                    " ", self->fsuid, " gid ", self->gids.real, " ", self->gids.effective, " ",
                    self->gids.saved, " ", self->fsgid, " groups ",
                    absl::StrJoin(self->groups, ","), "\ncaps ", Hex(self->caps.inheritable), " ",
                    Hex(self->caps.permitted), " ", Hex(self->caps.effective), " ",
                    Hex(self->caps.bounding), " ", Hex(self->caps.ambient), "\nno_new_privs ",
                    self->no_new_privs, " seccomp ", self->seccomp_mode, "\n");
  } else {
    absl::StrAppend(&key, "status unknown pid ", getpid(), "\n");
  }
  for (const char* ns : {"user", "mnt", "pid", "net", "ipc", "uts", "cgroup"}) {
    struct stat st;
    std::string path = absl::StrCat("/proc/self/ns/", ns);
    absl::StrAppend(&key, ns, " ", stat(path.c_str(), &st) == 0 ? st.st_ino : 0, "\n");
  }
  UserNamespaceSysctls sysctls = ReadUserNamespaceSysctls();
  absl::StrAppend(&key, "max_user_namespaces ", sysctls.max_user_namespaces.value_or("-"),
                  " unprivileged_userns_clone ", sysctls.unprivileged_userns_clone.value_or("-"),
                  " apparmor_restrict ", sysctls.apparmor_restrict.value_or("-"), "\n");
  absl::StrAppend(&key, "workload filter compiled as:\n", filter_key, "\n");
  return key;
}

struct Memo {
  HostFacts facts;
  std::string key;
  bool from_cache = false;
};

// A seccomp filter on the broker itself (a container runtime's, a fault
// environment's) can deny any call for any argument, and the broker cannot
// read it to tell one filter from another: under one, every probe runs.
absl::StatusOr<LaunchCache> CacheForProbes(const absl::StatusOr<ProcStatus>& self) {
  if (self.ok() && self->seccomp_mode != 0) {
    return absl::FailedPreconditionError(
        "not cached: the broker runs under a seccomp filter it cannot identify");
  }
  return LaunchCache::Open();
}

Memo* LoadOrProbe(const WorkloadFilterSource& filter) {
  auto* memo = new Memo;
  absl::StatusOr<ProcStatus> self = ReadProcStatus(getpid());
  memo->key = HostFactsKey(self, filter.key);
  absl::StatusOr<LaunchCache> cache = CacheForProbes(self);
  std::optional<HostFacts> known;
  if (cache.ok()) {
    std::optional<std::string> payload = cache->Read(memo->key);
    if (payload.has_value()) known = DecodeCachedFacts(*payload);
  }
  // A cached allowed seccomp fact is taken (ProbeHost): its program is
  // then not needed at all.
  absl::StatusOr<std::vector<struct sock_filter>> program =
      known.has_value() && known->seccomp.ok ? std::vector<struct sock_filter>{} : filter.program();
  memo->facts = ProbeHost(self, program, known.has_value() ? &*known : nullptr);
  memo->from_cache = known.has_value();
  int denied = 0;
  for (const auto& probe : kProbes) denied += known.has_value() && !(*known.*probe.fact).ok;
  if (!cache.ok()) {
    memo->facts.source = absl::StrCat("probed (", cache.status().message(), ")");
  } else if (known.has_value()) {
    memo->facts.source = absl::StrCat("launch cache ", cache->PathFor(memo->key));
    if (denied > 0) {
      absl::StrAppend(&memo->facts.source, "; its ", denied, " denied probed again");
    }
  } else {
    memo->facts.source = absl::StrCat("probed, kept in ", cache->PathFor(memo->key));
  }
  if (cache.ok() && !known.has_value() && program.ok()) {
    // Not kept: the run goes on, and the next one probes again.
    cache->Write(memo->key, EncodeCachedFacts(memo->facts)).IgnoreError();
  }
  return memo;
}

Memo*& TheMemo() {
  static Memo* memo = nullptr;
  return memo;
}

}  // namespace

const HostFacts& CachedHostFacts(const WorkloadFilterSource& filter) {
  Memo*& memo = TheMemo();
  if (memo == nullptr) memo = LoadOrProbe(filter);
  return memo->facts;
}

void ForgetCachedHostFacts() {
  Memo* memo = TheMemo();
  if (memo == nullptr || !memo->from_cache) return;
  if (absl::StatusOr<LaunchCache> cache = LaunchCache::Open(); cache.ok()) {
    cache->Remove(memo->key);
  }
}

void ForgetCachedHostFacts(absl::string_view filter_key) {
  if (absl::StatusOr<LaunchCache> cache = LaunchCache::Open(); cache.ok()) {
    cache->Remove(HostFactsKey(ReadProcStatus(getpid()), filter_key));
  }
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
  json.setSource(facts.source);
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
