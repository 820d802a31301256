#include "broker/run_session.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "base/files.h"
#include "base/poll_timeout.h"
#include "base/status.h"
#include "broker/cache/compiled_filters.h"
#include "broker/cache/home_directories.h"
#include "broker/exit_codes.h"
#include "broker/host/host_probe.h"
#include "broker/host/peer_process.h"
#include "broker/host/proc_status.h"
#include "broker/namespaces.h"
#include "broker/prefault.h"
#include "broker/sandbox_child.h"
#include "broker/stub_binary.h"
#include "broker/verifier.h"
#include "broker/view_builder.h"
#include "broker/working_directory.h"
#include "ipc/fd_passing.h"
#include "kernel/exec.h"
#include "kernel/landlock.h"
#include "policy/landlock_ruleset.h"
#include "policy/supervisor_seccomp.h"
#include "policy/workload_seccomp.h"

extern char** environ;

namespace tether::broker {
namespace {

// Compares without an early exit, so timing says nothing about the token.
bool TokensEqual(const std::string& expected, const std::string& given) {
  unsigned char difference = expected.size() != given.size();
  for (size_t i = 0; i < expected.size(); ++i) {
    difference |= static_cast<unsigned char>(expected[i]) ^
                  static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  }
  return difference == 0;
}

absl::StatusOr<std::string> CurrentDirectory() {
  char buffer[PATH_MAX];
  if (getcwd(buffer, sizeof(buffer)) == nullptr) return ErrnoStatus(errno, "getcwd");
  return std::string(buffer);
}

std::vector<uint32_t> CurrentGroups() {
  int count = getgroups(0, nullptr);
  std::vector<gid_t> groups(count > 0 ? count : 0);
  if (count > 0) count = getgroups(count, groups.data());
  return std::vector<uint32_t>(groups.begin(), groups.begin() + (count > 0 ? count : 0));
}

}  // namespace

// The inodes of /proc/<process>/ns/*, in ipc::kNamespaceNames order; 0
// where one cannot be read.
std::vector<uint64_t> NamespaceInodesOf(const std::string& process) {
  // The process's directory looked up once, not once per namespace.
  UniqueFd directory(
      open(absl::StrCat("/proc/", process, "/ns").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  std::vector<uint64_t> inodes;
  for (const char* name : ipc::kNamespaceNames) {
    struct stat st;
    bool known = directory.valid() && fstatat(directory.get(), name, &st, 0) == 0;
    inodes.push_back(known ? st.st_ino : 0);
  }
  return inodes;
}

namespace {

// The host facts, once per process, for the workload filter PrepareOnce
// compiled (its program is in hand, should a probe load it).
const HostFacts& HostFactsFor(const RunOptions& options) {
  auto program = [&options]() -> absl::StatusOr<std::vector<struct sock_filter>> {
    return *options.compiled_seccomp;
  };
  return CachedHostFacts(WorkloadFilterSource{options.compiled_seccomp_key, program});
}

}  // namespace

absl::Status PrepareOnce(RunOptions* options, LaunchTimeline* timeline) {
  policy::WorkloadSeccompOptions seccomp_options;
  seccomp_options.extra_denied_syscalls = options->policy.extra_denied_syscalls;
  seccomp_options.allowed_socket_families = options->policy.allowed_socket_families;
  absl::StatusOr<std::vector<struct sock_filter>> program = CompiledWorkloadFilter(seccomp_options);
  if (!program.ok()) {
    return MechanismError(Mechanism::kWorkloadSeccomp, program.status().code(),
                          program.status().message());
  }
  options->compiled_seccomp = *program;
  options->compiled_seccomp_key = WorkloadFilterKey(seccomp_options);
  // Its failure is decided where it is loaded (strict or best effort).
  if (absl::StatusOr<std::vector<struct sock_filter>> supervisor = CompiledSupervisorFilter();
      supervisor.ok()) {
    options->compiled_supervisor = std::move(*supervisor);
  }
  if (timeline != nullptr) timeline->Mark("seccomp_compile");
  HostFactsFor(*options);
  if (timeline != nullptr) timeline->Mark("probes");
  return absl::OkStatus();
}

RunSession::RunSession(RunOptions options) : options_(std::move(options)) {
  recorder_.SetLaunchTimeline(&timeline_);
}

RunSession::~RunSession() {
  if (child_ > 0 && !reaped_) KillAndReapStub();
}

void RunSession::KillAndReapStub() {
  if (child_ <= 0 || reaped_) return;
  kill(child_, SIGKILL);
  int status;
  while (waitpid(child_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
}

std::optional<Refusal> RunSession::Prologue(uid_t uid, gid_t gid,
                                            const std::vector<uint32_t>& groups) {
  absl::StatusOr<TargetIdentity> target = ResolveTargetIdentity(options_.user, uid, gid, groups);
  if (!target.ok()) return Refusal{ExitKind::kUsage, target.status()};
  absl::Status applied = ApplyGroups(options_.group, options_.supplementary_groups, &*target);
  if (!applied.ok()) return Refusal{ExitKind::kBadPolicy, applied};
  target_ = *target;
  recorder_.report().target = target_;
  recorder_.report().enforcement = options_.enforcement;
  Recorder::Outputs outputs;
  outputs.report_path = options_.report_path;
  outputs.events_path = options_.events_path;
  outputs.events_fd = options_.events_fd;
  absl::Status opened = recorder_.Open(outputs);
  if (!opened.ok()) return Refusal{ExitKind::kUsage, opened};
  return std::nullopt;
}

absl::Status RunSession::OpenStubBinary() {
  std::string path = options_.stub_path;
  if (path.empty()) {
    ASSIGN_OR_RETURN(path, StubBesideBroker());
  }
  ASSIGN_OR_RETURN(stub_binary_, OpenTrustedStub(path));
  return absl::OkStatus();
}

// The namespaces and the filesystem view, decided before the stub exists:
// they are made at clone time.
absl::Status RunSession::PlanSandbox() {
  const HostFacts& facts = HostFactsFor(options_);
  recorder_.report().probes = facts.source;
  ASSIGN_OR_RETURN(NamespaceDecision namespaces, DecideNamespaces(facts, options_.enforcement));
  clone_flags_ = namespaces.clone_flags;
  namespace_records_ = std::move(namespaces.records);
  if (clone_flags_ & CLONE_NEWUSER) {
    // The target's ids inside are the broker's own outside: "<inside>
    // <outside> 1", nothing else. The supplementary groups stay the
    // broker's (setgroups is denied in the namespace); inside they show as
    // the overflow gid.
    std::vector<uint32_t> groups = CurrentGroups();
    id_mapping_ = IdMapping{target_.uid, geteuid(), target_.gid, getegid()};
    outside_target_ = TargetIdentity{geteuid(), getegid(), groups};
    if (options_.supplementary_groups.empty()) {
      ProcStatus ids;
      ids.groups = groups;
      target_.groups = InsideView(ids, *id_mapping_, OverflowUid(), OverflowGid()).groups;
      recorder_.report().target = target_;
    }
    namespaces.user_namespace->reason +=
        absl::StrCat(": uid ", target_.uid, " and gid ", target_.gid, " in it are uid ", geteuid(),
                     " and gid ", getegid(), " on the host");
  }
  // The network namespace comes with the others, in the one clone: no
  // namespace made apart and joined later. (A non-root broker's belongs to
  // the sandbox's user namespace: one of the host's could not be joined by
  // a stub with no capability there.) Where the probe said yes and the
  // kernel now says no, the clone fails and the run with it, closed.
  if (options_.network_mode != NetworkMode::kHost && facts.network_namespace.ok) {
    clone_flags_ |= CLONE_NEWNET;
    network_at_clone_ = true;
  }
  if (namespaces.user_namespace.has_value()) {
    namespace_records_.push_back(std::move(*namespaces.user_namespace));
  }
  working_directory_access_ = DecideWorkingDirectoryAccessOnDisk(
      working_directory_, CachedHomeDirectories(), options_.policy.read_write);
  if (clone_flags_ & CLONE_NEWNS) {
    ViewInput input;
    input.policy = &options_.policy;
    input.working_directory = working_directory_;
    input.working_directory_writable = working_directory_access_->writable;
    // Without a new pid namespace a fresh procfs shows the host's processes
    // anyway, as the pid_namespace record says.
    input.fresh_procfs = facts.fresh_procfs;
    input.best_effort = options_.enforcement.best_effort(Mechanism::kFilesystemView);
    ASSIGN_OR_RETURN(view_, PlanFilesystemView(input));
  } else {
    std::string why = absl::StrCat("the filesystem view needs a mount namespace (",
                                   facts.mount_namespace.evidence, ")");
    if (!options_.enforcement.best_effort(Mechanism::kFilesystemView)) {
      return MechanismError(Mechanism::kFilesystemView, absl::StatusCode::kFailedPrecondition, why);
    }
    MechanismRecord record;
    record.mechanism = Mechanism::kFilesystemView;
    record.action = "not_planned";
    record.state = MechanismState::kDegraded;
    record.reason = absl::StrCat("best effort: ", why,
                                 "; the workload sees the host's filesystem through Landlock only");
    record.errno_value = facts.mount_namespace.errno_value;
    namespace_records_.push_back(record);
  }
  if (clone_flags_ & CLONE_NEWPID) {
    MechanismRecord init;
    init.mechanism = Mechanism::kSandboxInit;
    init.action = "stub_as_init";
    init.state = MechanismState::kEnforced;
    init.reason =
        "the stub stays as pid 1: it forwards signals, reaps orphans and exits with the "
        "workload's status; every process of the sandbox dies with it";
    init.evidence = Evidence::kNone;  // until the stub is seen as pid 1
    namespace_records_.push_back(init);
  }
  return absl::OkStatus();
}

absl::Status RunSession::StartStub() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return ErrnoStatus(errno, "socketpair(AF_UNIX, SOCK_SEQPACKET)");
  }
  channel_.Attach(UniqueFd(pair[0]));
  UniqueFd stub_end(pair[1]);
  int outcomes[2], proceed[2];
  if (pipe2(outcomes, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd outcomes_read(outcomes[0]);
  UniqueFd outcomes_write(outcomes[1]);
  if (pipe2(proceed, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd proceed_read(proceed[0]);
  // Held while the session lives: the child reads a hang-up as the broker's death.
  proceed_write_.reset(proceed[1]);
  RETURN_IF_ERROR(channel_.CatchForwardedSignals());
  SandboxChild setup;
  setup.stub_binary = stub_binary_.get();
  setup.stub_socket = stub_end.get();
  setup.broker_pid = getpid();
  setup.new_pid_namespace = (clone_flags_ & CLONE_NEWPID) != 0;
  if (clone_flags_ & CLONE_NEWUTS) setup.hostname = options_.policy.hostname.c_str();
  // The child clones the host paths in its own mount namespace, from the
  // paths the planner opened, checked against those fds.
  if (view_.has_value()) setup.view = &*view_;
  setup.view_report_fd = outcomes_write.get();
  setup.proceed_fd = proceed_read.get();
  setup.user_namespace = (clone_flags_ & CLONE_NEWUSER) != 0;
  setup.broker_ends[0] = outcomes_read.get();
  setup.broker_ends[1] = proceed_write_.get();
  UniqueFd network_read, network_write;
  if (network_at_clone_) {
    int network[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, network) != 0) {
      return ErrnoStatus(errno, "socketpair(AF_UNIX, SOCK_SEQPACKET)");
    }
    network_read.reset(network[0]);
    network_write.reset(network[1]);
    setup.network_report_fd = network_write.get();
    setup.proxy_listener = !options_.egress.rules.empty();
    setup.broker_ends[2] = network_read.get();
  }
  int pidfd = -1;
  bool into_cgroup = false;
  child_ = CloneWithNamespaces(clone_flags_, &pidfd, cgroup_ != nullptr ? cgroup_->clone_fd() : -1,
                               &into_cgroup);
  if (child_ < 0) {
    return ErrnoStatus(
        errno, absl::StrCat("clone3 of the stub with namespace flags 0x", absl::Hex(clone_flags_)));
  }
  if (child_ == 0) StartSandboxChild(setup);
  timeline_.Mark("clone");
  pidfd_.reset(pidfd);
  stub_binary_.reset();
  outcomes_write.reset();
  proceed_read.reset();
  network_write.reset();
  if (!pidfd_.valid()) return ErrnoStatus(errno, "pidfd_open");
  // In every cgroup before its own code goes on (the child waits for its
  // id maps or the view's go-ahead, the stub for its plan); the limits read
  // back.
  cgroup_->Attach(child_, into_cgroup);
  cgroup_->Verify(child_);
  // On v1 a move into cgroup.procs waits for an RCU grace period at times
  // (cgroup_threadgroup_rwsem); v2 is placed at clone time instead.
  timeline_.Mark("cgroup_attach");
  absl::Status verified = RecordResources();
  if (verified.ok() && id_mapping_.has_value()) verified = MapUserNamespace();
  if (verified.ok()) verified = VerifyNamespaces(child_, clone_flags_, &namespace_records_);
  if (verified.ok() && id_mapping_.has_value()) {
    verified = VerifyIdMaps(child_, *id_mapping_);
    for (MechanismRecord& record : namespace_records_) {
      if (record.mechanism == Mechanism::kUserNamespace && verified.ok()) {
        record.evidence = Evidence::kVerified;  // its inode, its maps and setgroups
      }
    }
    if (!verified.ok()) {
      verified = MechanismError(Mechanism::kUserNamespace, verified.code(), verified.message());
    }
  }
  if (verified.ok() && network_at_clone_) verified = AdoptSandboxNetwork(network_read.get());
  if (verified.ok() && view_.has_value()) verified = CollectView(outcomes_read.get());
  if (verified.ok() && view_.has_value() && write(proceed_write_.get(), "", 1) != 1) {
    verified = ErrnoStatus(errno, "write(proceed)");
  }
  for (MechanismRecord& record : namespace_records_) {
    if (record.mechanism == Mechanism::kSandboxInit && verified.ok()) {
      record.evidence = Evidence::kVerified;  // pid 1 of the namespace just checked
    }
    recorder_.RecordSetup(record);
  }
  for (MechanismRecord& record : view_records_) recorder_.RecordSetup(record);
  // The child's namespaces set up and checked, its view mounted and read
  // back from mountinfo.
  timeline_.Mark("namespaces_and_mounts");
  return verified;
}

// The child waits, nobody in its new user namespace, until the broker
// writes its maps from outside (the child could map only itself, and not
// its gid without giving up setgroups first, which is what is done here).
absl::Status RunSession::MapUserNamespace() {
  absl::Status mapped = WriteIdMaps(child_, *id_mapping_);
  if (mapped.ok() && write(proceed_write_.get(), "", 1) != 1) {
    mapped = ErrnoStatus(errno, "write(proceed)");
  }
  if (mapped.ok()) return mapped;
  return MechanismError(
      Mechanism::kUserNamespace, absl::StatusCode::kFailedPrecondition,
      absl::StrCat("the id maps of the sandbox's user namespace: ", mapped.message()));
}

absl::Status RunSession::AwaitChildReport(int fd, absl::string_view too_long,
                                          absl::string_view poll_call) {
  while (true) {
    struct pollfd readable = {fd, POLLIN, 0};
    if (absl::Now() >= channel_.deadline()) return absl::DeadlineExceededError(too_long);
    int ready = poll(&readable, 1, PollTimeout(channel_.deadline()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return ErrnoStatus(ready < 0 ? errno : ETIMEDOUT, poll_call);
    return absl::OkStatus();
  }
}

// The sandbox's network namespace, made at clone time: the child says
// whether lo is up and hands over the egress proxy's listener; the broker
// keeps an fd of the namespace to check the stub against before Go.
absl::Status RunSession::AdoptSandboxNetwork(int report_fd) {
  RETURN_IF_ERROR(
      AwaitChildReport(report_fd, "the sandbox's network took too long", "poll(network outcome)"));
  NetworkOutcome outcome;
  ipc::Datagram datagram = ipc::ReceiveWithFds(report_fd, &outcome, sizeof(outcome));
  if (datagram.size < 0) return ErrnoStatus(datagram.errno_value, "recvmsg(network outcome)");
  if (datagram.size == 0) {
    return absl::InternalError("the sandbox ended before its network was set up");
  }
  size_t listeners = options_.egress.rules.empty() ? 0 : 1;
  if (datagram.size != sizeof(outcome) || (datagram.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    return absl::InternalError("garbled network outcome");
  }
  outcome.message[sizeof(outcome.message) - 1] = '\0';
  if (outcome.error != 0) {
    return MechanismError(Mechanism::kNetworkNamespace, absl::StatusCode::kFailedPrecondition,
                          absl::StrCat("the sandbox's network: ", outcome.message));
  }
  if (datagram.fds.size() != listeners) return absl::InternalError("garbled network outcome");
  std::string path = absl::StrCat("/proc/", child_, "/ns/net");
  UniqueFd netns(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns.valid()) return ErrnoStatus(errno, absl::StrCat("open(", path, ")"));
  network_ = IsolatedNetwork::Adopt(
      std::move(netns), listeners != 0 ? std::move(datagram.fds[0]) : UniqueFd(), outcome.port);
  return absl::OkStatus();
}

// The child's account of each mount, until it says the view is complete
// (or dies), then the kernel's in /proc/<pid>/mountinfo, read while the
// child waits, before the stub runs there.
absl::Status RunSession::CollectView(int outcomes_fd) {
  std::vector<int> errors(view_->mounts.size(), -1);
  // The child writes its outcomes in one write: they are read in as few.
  char buffer[64 * sizeof(ViewMountOutcome)];
  size_t held = 0;
  bool complete = false;
  while (!complete) {
    RETURN_IF_ERROR(
        AwaitChildReport(outcomes_fd, "the filesystem view took too long", "poll(view outcomes)"));
    ssize_t n = read(outcomes_fd, buffer + held, sizeof(buffer) - held);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "read(view outcomes)");
    if (n == 0) {
      if (held != 0) return absl::InternalError("garbled filesystem view outcome");
      break;  // the child is gone: what it did not report, it did not do
    }
    held += static_cast<size_t>(n);
    size_t used = 0;
    while (!complete && held - used >= sizeof(ViewMountOutcome)) {
      ViewMountOutcome outcome;
      std::memcpy(&outcome, buffer + used, sizeof(outcome));
      used += sizeof(outcome);
      complete = outcome.index == kViewComplete;
      if (complete) break;
      if (outcome.index >= errors.size()) {
        return absl::InternalError("garbled filesystem view outcome");
      }
      errors[outcome.index] = outcome.error;
    }
    std::memmove(buffer, buffer + used, held - used);
    held -= used;
  }
  view_records_ = ViewRecords(*view_, errors);
  for (size_t i = 0; i < errors.size(); ++i) {
    if (errors[i] > 0) {
      return MechanismError(Mechanism::kFilesystemView, absl::StatusCode::kFailedPrecondition,
                            absl::StrCat(view_records_[i].action, " failed: ", strerror(errors[i]),
                                         " (", strerrorname_np(errors[i]), ")"));
    }
  }
  for (size_t i = 0; i < errors.size(); ++i) {
    if (errors[i] < 0) {
      return MechanismError(Mechanism::kFilesystemView, absl::StatusCode::kInternal,
                            absl::StrCat("the sandbox ended before ", view_records_[i].action));
    }
  }
  RETURN_IF_ERROR(VerifyView(child_, *view_, &view_records_));
  // Held from now on: Landlock's rules name the view's inodes through it,
  // even if the stub is gone by then.
  std::string root = absl::StrCat("/proc/", child_, "/root");
  view_root_.reset(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!view_root_.valid()) return ErrnoStatus(errno, absl::StrCat("open(", root, ", O_PATH)"));
  return absl::OkStatus();
}

// Where the stub's paths resolve: a sidecar stub's are those of its own
// root, a local stub's those of its view (its /tmp is not the host's).
std::string RunSession::StubRoot() const {
  if (view_root_.valid()) return absl::StrCat("/proc/self/fd/", view_root_.get());
  if (sidecar_ && stub_visible_) return absl::StrCat("/proc/", child_, "/root");
  return "";
}

// The policy's Landlock rules, all but the working directory's (a sidecar
// stub names it in its Hello).
policy::LandlockRules RunSession::PolicyLandlockRules() const {
  policy::LandlockRules rules;
  rules.read_only = options_.policy.read_only;
  rules.read_write = options_.policy.read_write;
  rules.devices = options_.policy.devices;
  rules.write_file = options_.policy.write_file;
  rules.root = StubRoot();
  // Everything in the view is there because the policy lists it: its
  // directories may be listed (what is in them keeps its own rule).
  if (view_.has_value()) rules.read_only.push_back("/");
  return rules;
}

// Opening and adding each of the policy's paths takes a few hundred
// microseconds and needs nothing from the Hello but the Landlock ABI, which
// is the kernel's: done while the stub is executed and starts (local mode;
// a sidecar stub's Hello comes too soon for it to gain anything). A stub
// that names another ABI gets a ruleset built for that one.
void RunSession::BuildRulesetAhead() {
  int abi = kernel::QueryLandlockAbi();
  if (abi <= 0) return;
  ruleset_ahead_ =
      policy::BuildLandlockRuleset(PolicyLandlockRules(), abi, policy::MissingPath::kSkip);
  ruleset_ahead_abi_ = abi;
}

// The working directory is writable unless it is the root, a system
// directory, a home directory or an ancestor of one: then it stays
// read-only (the root not even that), with a warning and a report record.
void RunSession::GrantWorkingDirectory(policy::LandlockRules* rules) {
  std::vector<std::string> homes;
  if (!working_directory_access_.has_value()) {
    homes = home_directories_.has_value() ? *home_directories_ : CachedHomeDirectories();
  }
  if (sidecar_) {
    // The stub's own HOME names a home of its root.
    for (const std::string& variable : requested_envp_) {
      if (absl::StartsWith(variable, "HOME=")) {
        homes.push_back(NormalizeLexically(variable.substr(5)));
      }
    }
  }
  // A sidecar stub's path lives in its own root: decided by name only.
  // Local: decided once, before the view was built around it.
  WorkingDirectoryAccess access =
      working_directory_access_.has_value()
          ? *working_directory_access_
          : DecideWorkingDirectoryAccess(working_directory_, homes, options_.policy.read_write);
  if (access.writable) {
    rules->read_write.push_back(working_directory_);
    return;
  }
  if (working_directory_ != "/") rules->read_only.push_back(working_directory_);
  std::string why =
      absl::StrCat("the working directory ", working_directory_, " is ", access.why_read_only,
                   ": it stays ", working_directory_ == "/" ? "as the policy says" : "read-only",
                   " (list it under filesystem.read_write to make it writable)");
  std::fprintf(stderr, "%s: warning: %s\n", sidecar_ ? "tether serve" : "tether", why.c_str());
  MechanismRecord record;
  record.mechanism = Mechanism::kLandlock;
  record.action = "working_directory_not_writable";
  record.state = MechanismState::kEnforced;
  record.reason = why;
  record.evidence = Evidence::kStubAttested;  // through the Landlock ruleset
  recorder_.RecordAfterPlan(record);
}

absl::Status RunSession::CheckLandlockAloneCanNarrow(const policy::LandlockRules& rules) {
  std::vector<std::string> narrowed;
  for (const std::vector<std::string>* list : {&rules.read_only, &rules.devices}) {
    for (const std::string& path : *list) {
      std::string inner = NormalizeLexically(path);
      for (const std::string& writable : rules.read_write) {
        std::string outer = NormalizeLexically(writable);
        if (inner != outer && IsUnderPath(inner, outer)) {
          narrowed.push_back(absl::StrCat(inner, " (under ", outer, ")"));
        }
      }
    }
  }
  if (narrowed.empty()) return absl::OkStatus();
  std::string why = absl::StrCat(
      "without a filesystem view Landlock cannot make a path read-only inside a read-write one: ",
      absl::StrJoin(narrowed, ", "), " stay writable");
  if (!options_.enforcement.best_effort(Mechanism::kLandlock)) {
    return MechanismError(Mechanism::kLandlock, absl::StatusCode::kFailedPrecondition, why);
  }
  MechanismRecord record;
  record.mechanism = Mechanism::kLandlock;
  record.action = "read_only_inside_read_write";
  record.state = MechanismState::kDegraded;
  record.reason = absl::StrCat("best effort: ", why);
  record.evidence = Evidence::kStubAttested;
  recorder_.RecordAfterPlan(record);
  return absl::OkStatus();
}

absl::StatusOr<Plan> RunSession::MakePlan(const ipc::Hello& hello, std::vector<UniqueFd>* fds) {
  PlanInput input;
  input.hello = hello;
  input.target = target_;
  input.broker_pid = getpid();
  input.working_directory = working_directory_;
  input.sidecar = sidecar_;
  input.new_pid_namespace = (clone_flags_ & CLONE_NEWPID) != 0;
  input.foreground_terminal = terminal_group_ > 0 && terminal_group_ == getpgrp();
  input.argv = sidecar_ ? hello.requested_argv : options_.argv;
  input.envp = sidecar_ ? FilterEnvironment(hello.requested_envp, options_.policy.environment_allow)
                        : FilterEnvironment(environ, options_.policy.environment_allow);

  // Without Landlock (best effort) the fd slot carries a placeholder.
  absl::StatusOr<UniqueFd> ruleset = UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (hello.landlock_abi > 0) {
    policy::LandlockRules working_directory;
    working_directory.root = StubRoot();
    GrantWorkingDirectory(&working_directory);
    // Without a view only Landlock stands, and Landlock only adds rights
    // down a tree: a read-only entry under a writable one stays writable.
    if (!view_.has_value()) {
      policy::LandlockRules all = PolicyLandlockRules();
      for (const std::string& path : working_directory.read_only) all.read_only.push_back(path);
      for (const std::string& path : working_directory.read_write) all.read_write.push_back(path);
      RETURN_IF_ERROR(CheckLandlockAloneCanNarrow(all));
    }
    ruleset = hello.landlock_abi == ruleset_ahead_abi_
                  ? std::move(ruleset_ahead_)
                  : policy::BuildLandlockRuleset(PolicyLandlockRules(), hello.landlock_abi,
                                                 policy::MissingPath::kSkip);
    // Not used, or moved from: the one built ahead is closed either way.
    ruleset_ahead_ = absl::UnavailableError("taken, or built for another ABI");
    ruleset_ahead_abi_ = 0;
    if (ruleset.ok()) {
      absl::Status added = policy::AddLandlockRules(ruleset->get(), working_directory,
                                                    hello.landlock_abi, policy::MissingPath::kSkip);
      if (!added.ok()) ruleset = added;
    }
  }
  if (!ruleset.ok()) {
    return MechanismError(Mechanism::kLandlock, ruleset.status().code(),
                          ruleset.status().message());
  }
  // Compiled by PrepareOnce before anything else (Run, and `tether serve`
  // once before forking its workers).
  const std::vector<struct sock_filter>& program = *options_.compiled_seccomp;
  input.enforcement = options_.enforcement;
  const HostFacts& facts = HostFactsFor(options_);
  input.bounding_set_probe = facts.bounding_set;
  input.seccomp_probe = facts.seccomp;
  input.network_mode = options_.network_mode;
  input.rlimits = options_.rlimits;
  input.landlock_missing_rights = kernel::RightsMissingBelow(hello.landlock_abi, 6);
  if (options_.network_mode != NetworkMode::kHost) {
    input.network = warm_network_.has_value() ? *warm_network_ : PrepareNetwork(facts);
  }
  input.network_made_at_clone = network_at_clone_;
  input.bounding_set_cleared_at_clone = (clone_flags_ & CLONE_NEWUSER) != 0;
  RETURN_IF_ERROR(RecordEgress(&input.envp));
  ASSIGN_OR_RETURN(Plan plan, BuildPlan(input));
  UniqueFd sealed = std::move(warm_sealed_program_);
  if (!sealed.valid()) {
    ASSIGN_OR_RETURN(sealed, policy::SealProgram(program));
  }
  fds->clear();
  fds->push_back(std::move(*ruleset));  // kLandlockFdIndex
  fds->push_back(std::move(sealed));    // kSeccompFdIndex
  if (network_ != nullptr && !network_at_clone_) {
    // kNetworkNamespaceFdIndex; the session keeps its own.
    int netns = fcntl(network_->netns_fd(), F_DUPFD_CLOEXEC, 0);
    if (netns < 0) return ErrnoStatus(errno, "fcntl(F_DUPFD_CLOEXEC, netns)");
    fds->emplace_back(netns);
  }
  return plan;
}

absl::Status RunSession::CollectResults(const Plan& plan) {
  for (size_t index = 0; index < plan.steps.size(); ++index) {
    const PlannedStep& planned = plan.steps[index];
    std::string what =
        absl::StrCat("the result of step ", index, " ", ipc::ActionName(planned.step.action));
    ASSIGN_OR_RETURN(ipc::StubMessage message, channel_.Receive(what));
    if (message.kind != ipc::StubMessage::Kind::kStepResult || message.step_result.index != index) {
      return absl::InvalidArgumentError(absl::StrCat(
          "protocol violation: expected ", what, ", got ", ipc::StubMessageKindName(message.kind),
          message.kind == ipc::StubMessage::Kind::kStepResult
              ? absl::StrCat(" for step ", message.step_result.index)
              : ""));
    }
    const ipc::StepResult& result = message.step_result;
    recorder_.report().RecordResult(result);
    bool skip = planned.step.disposition == ipc::Disposition::kSkipAlreadySatisfied;
    const std::vector<int32_t>& tolerable = planned.step.tolerate_errnos;
    bool consistent = skip ? result.outcome == ipc::Outcome::kSkipped
                           : result.outcome != ipc::Outcome::kSkipped &&
                                 (result.outcome != ipc::Outcome::kTolerated ||
                                  (planned.step.disposition == ipc::Disposition::kBestEffort &&
                                   std::find(tolerable.begin(), tolerable.end(),
                                             result.errno_value) != tolerable.end()));
    results_.push_back(result);
    if (!consistent) {
      return absl::InvalidArgumentError(absl::StrCat(
          "protocol violation: step ", index, " ", ipc::ActionName(planned.step.action),
          " was planned as ", ipc::DispositionName(planned.step.disposition),
          " but the stub reports ", ipc::OutcomeName(result.outcome)));
    }
    if (result.outcome == ipc::Outcome::kFailed) {
      return MechanismError(
          planned.mechanism, absl::StatusCode::kFailedPrecondition,
          absl::StrCat("step ", index, " ", ipc::ActionName(planned.step.action),
                       " failed: ", ipc::ActionSyscall(planned.step.action), ": ",
                       strerror(result.errno_value), " (errno ", result.errno_value, ")"));
    }
  }
  return channel_.Expect(ipc::StubMessage::Kind::kReady, "ready").status();
}

absl::Status RunSession::VerifyPosture(const Plan& plan) {
  // Without the stub's /proc only its own reports stand (stub-attested).
  if (!stub_visible_) return absl::OkStatus();
  ASSIGN_OR_RETURN(ProcStatus proc, ReadProcStatus(child_));
  ASSIGN_OR_RETURN(CoreLimit core, ReadCoreLimit(child_));
  char cwd[PATH_MAX + 1];
  std::string cwd_link = absl::StrCat("/proc/", child_, "/cwd");
  ssize_t length = readlink(cwd_link.c_str(), cwd, PATH_MAX);
  if (length < 0) return ErrnoStatus(errno, absl::StrCat("readlink(", cwd_link, ")"));
  if (network_ != nullptr) {
    struct stat expected_ns, actual_ns;
    std::string ns_path = absl::StrCat("/proc/", child_, "/ns/net");
    if (fstat(network_->netns_fd(), &expected_ns) != 0) {
      return ErrnoStatus(errno, "fstat(netns)");
    }
    if (stat(ns_path.c_str(), &actual_ns) != 0) {
      return ErrnoStatus(errno, absl::StrCat("stat(", ns_path, ")"));
    }
    if (expected_ns.st_ino != actual_ns.st_ino || expected_ns.st_dev != actual_ns.st_dev) {
      return absl::FailedPreconditionError(
          absl::StrCat("final posture: network namespace is net:[", actual_ns.st_ino,
                       "], expected the broker's net:[", expected_ns.st_ino, "]"));
    }
  }
  // The host's view: a stub in its own user namespace is the broker's uid.
  ExpectedPosture expected{id_mapping_.has_value() ? outside_target_ : target_, working_directory_};
  for (const ipc::StepResult& result : results_) {
    if (result.outcome != ipc::Outcome::kTolerated) continue;
    Mechanism mechanism = plan.steps[result.index].mechanism;
    expected.bounding_set_degraded |= mechanism == Mechanism::kBoundingSet;
    expected.identity_degraded |= mechanism == Mechanism::kPrivilegeDrop;
    expected.seccomp_degraded |= mechanism == Mechanism::kWorkloadSeccomp;
  }
  RETURN_IF_ERROR(VerifyFinalPosture(proc, core, std::string(cwd, length), expected));
  recorder_.report().MarkVerified();
  return absl::OkStatus();
}

// Finds and validates the selected GPUs' device nodes and widens the policy
// for exactly those; a missing or fake node refuses the run.
std::optional<Refusal> RunSession::GrantGpus() {
  bool none = !options_.gpus.all && options_.gpus.indexes.empty();
  if (none) return std::nullopt;
  absl::StatusOr<GpuGrant> grant = DiscoverGpus(options_.gpus, options_.gpu_discovery);
  if (!grant.ok()) {
    return Refusal{ExitKind::kSetupFailed, MechanismError(Mechanism::kGpu, grant.status().code(),
                                                          grant.status().message())};
  }
  absl::StatusOr<GpuPolicyOutcome> outcome = ApplyGpuGrant(
      *grant, options_.proc_conflict, options_.user_lists_proc_read_only, &options_.policy);
  if (!outcome.ok()) return Refusal{ExitKind::kBadPolicy, outcome.status()};
  MechanismRecord devices;
  devices.mechanism = Mechanism::kGpu;
  devices.action = "grant_device_nodes";
  devices.state = MechanismState::kEnforced;
  devices.reason =
      absl::StrCat("read-write and ioctl on exactly: ", absl::StrJoin(outcome->granted, ", "));
  devices.evidence = Evidence::kStubAttested;  // through the Landlock ruleset
  recorder_.RecordAfterPlan(devices);
  MechanismRecord proc;
  proc.mechanism = Mechanism::kGpu;
  proc.action = "proc_write_file";
  proc.state = outcome->proc_promoted ? MechanismState::kEnforced : MechanismState::kSkipped;
  proc.reason = outcome->proc_note;
  proc.evidence = Evidence::kStubAttested;
  recorder_.RecordAfterPlan(proc);
  if (outcome->warn) {
    std::fprintf(stderr, "tether: warning: /proc %s\n", outcome->proc_note.c_str());
  }
  if (OcsfEventLog* events = recorder_.events()) {
    events->ConfigState(outcome->proc_promoted ? "Promoted" : "Kept",
                        outcome->warn ? Severity::kMedium : Severity::kInformational,
                        absl::StrCat("/proc ", outcome->proc_note), Mechanism::kGpu, 0,
                        absl::StrJoin(outcome->granted, ", "));
  }
  return std::nullopt;
}

// Makes the namespace now, so that the plan is decided from what really
// happened; the probe's evidence explains a failure.
ProbeResult RunSession::PrepareNetwork(const HostFacts& facts) {
  // Made at clone time (a non-root broker's), or now.
  if (!network_at_clone_) {
    if (!facts.network_namespace.ok) return facts.network_namespace;
    absl::StatusOr<std::unique_ptr<IsolatedNetwork>> network =
        IsolatedNetwork::Create(options_.egress.rules.empty() ? IsolatedNetwork::Listener::kNone
                                                              : IsolatedNetwork::Listener::kProxy);
    if (!network.ok()) {
      int error = network.status().code() == absl::StatusCode::kPermissionDenied ? EPERM : EIO;
      return {false, error, std::string(network.status().message())};
    }
    network_ = std::move(*network);
  }
  if (!options_.egress.rules.empty()) {
    const absl::StatusOr<std::vector<struct sock_filter>>& filter = SupervisorFilter();
    absl::StatusOr<std::unique_ptr<EgressProxy>> proxy =
        filter.ok() ? EgressProxy::Start(network_->TakeProxyListener(), options_.egress, EventsFd(),
                                         *filter)
                    : filter.status();
    if (proxy.ok()) {
      egress_proxy_ = std::move(*proxy);
    } else {
      egress_error_ = proxy.status();
    }
  }
  return {true, 0, "made a network namespace whose only interface is lo"};
}

// The proxy should live as long as the workload. Gone, the sandbox has no
// way out at all (nothing else listens there), so nothing is weakened, but
// the workload's connections fail: say so where the run's events go.
void RunSession::ReportEgressProxyGone() {
  egress_alive_ = false;
  std::string how = egress_proxy_->Reap();
  std::string message =
      absl::StrCat("the egress proxy ", how, "; the sandbox has no egress from now on");
  std::fprintf(stderr, "tether: warning: %s\n", message.c_str());
  if (OcsfEventLog* events = recorder_.events()) {
    events->ConfigState("Degraded", Severity::kMedium, message, Mechanism::kEgressProxy, 0, how);
  }
}

// Compiled once: the broker loads it on itself, and the egress proxy on
// itself.
const absl::StatusOr<std::vector<struct sock_filter>>& RunSession::SupervisorFilter() {
  if (!supervisor_filter_.has_value()) {
    supervisor_filter_ =
        options_.compiled_supervisor.has_value()
            ? absl::StatusOr<std::vector<struct sock_filter>>(*options_.compiled_supervisor)
            : CompiledSupervisorFilter();
  }
  return *supervisor_filter_;
}

int RunSession::EventsFd() {
  if (options_.events_fd >= 0) return options_.events_fd;
  OcsfEventLog* events = recorder_.events();
  return events != nullptr ? events->fd() : -1;
}

// The proxy's record, and its address in the workload's environment (the
// caller's proxy variables replaced: they point nowhere the sandbox can
// reach). A proxy that did not start refuses the run: an allow-list asked
// for is never silently dropped.
absl::Status RunSession::RecordEgress(std::vector<std::string>* envp) {
  if (options_.egress.rules.empty()) return absl::OkStatus();
  std::vector<std::string> allowed;
  for (const policy::EgressRule& rule : options_.egress.rules) allowed.push_back(rule.text);
  recorder_.report().egress = allowed;
  MechanismRecord record;
  record.mechanism = Mechanism::kEgressProxy;
  record.action = "egress_proxy";
  if (!egress_error_.ok()) {
    return MechanismError(
        Mechanism::kEgressProxy, egress_error_.code(),
        absl::StrCat("the egress proxy did not start: ", egress_error_.message()));
  }
  if (egress_proxy_ == nullptr) {
    // `auto` fell back to the host's network: nothing goes through a proxy.
    record.state = MechanismState::kDegraded;
    record.reason =
        "the network is the host's (network auto fell back), so the allow-list is not enforced";
    recorder_.RecordAfterPlan(record);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(ProcStatus proxy, ReadProcStatus(egress_proxy_->pid()));
  bool runs_as_nobody = geteuid() != 0 || (proxy.uids.real == kEgressProxyUid &&
                                           proxy.uids.effective == kEgressProxyUid &&
                                           proxy.uids.saved == kEgressProxyUid);
  if (proxy.seccomp_mode != 2 || !proxy.no_new_privs || proxy.caps.effective != 0 ||
      proxy.caps.permitted != 0 || proxy.caps.bounding != 0 || !runs_as_nobody) {
    return MechanismError(Mechanism::kEgressProxy, absl::StatusCode::kInternal,
                          "the egress proxy process is not confined as planned");
  }
  std::string url = absl::StrCat("http://127.0.0.1:", network_->proxy_port());
  recorder_.report().egress_proxy = url;
  record.state = MechanismState::kEnforced;
  record.reason = absl::StrCat("HTTP proxy (absolute URIs and CONNECT) at ", url,
                               " in the sandbox, connecting from the ", "broker's network; allows ",
                               absl::StrJoin(allowed, ", "), "; at most ",
                               options_.egress.limits.max_connections, " connections and ",
                               options_.egress.limits.max_bytes, " bytes");
  record.evidence = Evidence::kVerified;  // its process: nobody, no caps, no_new_privs, seccomp
  recorder_.RecordAfterPlan(record);
  static constexpr const char* kProxyVariables[] = {"HTTP_PROXY",  "HTTPS_PROXY", "http_proxy",
                                                    "https_proxy", "ALL_PROXY",   "all_proxy",
                                                    "NO_PROXY",    "no_proxy"};
  envp->erase(std::remove_if(envp->begin(), envp->end(),
                             [](const std::string& entry) {
                               std::string name = entry.substr(0, entry.find('='));
                               return std::find(std::begin(kProxyVariables),
                                                std::end(kProxyVariables),
                                                name) != std::end(kProxyVariables);
                             }),
              envp->end());
  for (const char* name : kProxyVariables) {
    bool no_proxy = absl::EqualsIgnoreCase(name, "NO_PROXY");
    envp->push_back(absl::StrCat(name, "=", no_proxy ? "localhost,127.0.0.1" : url));
  }
  return absl::OkStatus();
}

// Loads the supervisor filter on this process and checks that the kernel
// says so: `loaded` is the load's outcome (compiling the program included),
// `checked` the check's once it loaded.
RunSession::SupervisorLoad RunSession::LoadSupervisorFilter() {
  SupervisorLoad outcome;
  const absl::StatusOr<std::vector<struct sock_filter>>& program = SupervisorFilter();
  outcome.loaded = program.ok() ? policy::RestrictSelfWithSeccomp(*program) : program.status();
  if (!outcome.loaded.ok()) return outcome;
  absl::StatusOr<ProcStatus> self = ReadProcStatus(getpid());
  if (!self.ok()) {
    outcome.checked = absl::InternalError(absl::StrCat("loaded, but ", self.status().message()));
  } else if (self->seccomp_mode != 2) {
    outcome.checked = absl::InternalError(
        absl::StrCat("loaded, but /proc/self/status says Seccomp ", self->seccomp_mode));
  }
  return outcome;
}

// Every privileged object exists by now (stub forked, ruleset and filter
// sent), so the broker gives up what it never needs again; a serve worker
// did so before its stub connected (WarmUp).
absl::Status RunSession::RestrictSupervisor() {
  MechanismRecord record;
  record.mechanism = Mechanism::kSupervisorSeccomp;
  record.action = "broker_seccomp_filter";
  SupervisorLoad outcome =
      supervisor_loaded_.has_value() ? *supervisor_loaded_ : LoadSupervisorFilter();
  if (!outcome.checked.ok()) {
    return MechanismError(Mechanism::kSupervisorSeccomp, outcome.checked.code(),
                          outcome.checked.message());
  }
  const absl::Status& loaded = outcome.loaded;
  if (loaded.ok()) {
    record.state = MechanismState::kEnforced;
    record.reason =
        "the broker denies itself ptrace, kexec, modules, bpf, perf, "
        "userfaultfd, keyctl, mount, execve and more";
    record.evidence = Evidence::kVerified;
    recorder_.report().mechanisms.push_back(record);
    return absl::OkStatus();
  }
  int error = loaded.code() == absl::StatusCode::kInvalidArgument ? EINVAL : EPERM;
  if (!options_.enforcement.best_effort(Mechanism::kSupervisorSeccomp)) {
    return MechanismError(Mechanism::kSupervisorSeccomp, absl::StatusCode::kFailedPrecondition,
                          absl::StrCat("the broker cannot restrict itself: ", loaded.message()));
  }
  record.state = MechanismState::kDegraded;
  record.reason = absl::StrCat("best effort: ", loaded.message());
  record.errno_value = error;
  record.evidence = Evidence::kNone;
  recorder_.report().mechanisms.push_back(record);
  return absl::OkStatus();
}

absl::Status RunSession::Handshake() {
  ASSIGN_OR_RETURN(ipc::StubMessage message,
                   channel_.Expect(ipc::StubMessage::Kind::kHello, "hello"));
  const ipc::Hello& hello = message.hello;
  hello_received_ = true;
  timeline_.Mark(sidecar_ ? "hello" : "stub_start");
  if (sidecar_) {
    if (options_.sidecar_token.has_value() && !TokensEqual(*options_.sidecar_token, hello.token)) {
      return absl::PermissionDeniedError("the sidecar stub presented a wrong or no token");
    }
    // Whether the broker sees the stub's /proc was decided by the kernel
    // before the Hello (Serve); a visible stub that names another pid lies.
    if (stub_visible_ && hello.pid != child_) {
      return absl::PermissionDeniedError(
          absl::StrCat("the sidecar stub lied in its Hello: it claims pid ", hello.pid,
                       " but shares the broker's pid namespace as pid ", child_));
    }
    if (hello.requested_argv.empty()) {
      return absl::InvalidArgumentError("the sidecar stub sent no command to run");
    }
    // The stub's path names a directory of its own root: normalised here,
    // resolved by the kernel when the stub enters it.
    working_directory_ = NormalizeLexically(hello.cwd.empty() ? "/" : hello.cwd);
    requested_envp_ = hello.requested_envp;
  }
  if (stub_visible_) {
    // SO_PEERCRED on a socketpair names its creator, the broker itself; the
    // stub's pid is checked against the forked child instead.
    ASSIGN_OR_RETURN(ProcStatus proc, ReadProcStatus(child_));
    // In its own user namespace the stub sees the mapped ids (and the
    // overflow id for every other); the broker reads the host's.
    if (id_mapping_.has_value()) {
      proc = InsideView(proc, *id_mapping_, OverflowUid(), OverflowGid());
    }
    RETURN_IF_ERROR(CheckHelloAgainstProc(hello, proc, child_));
  }
  if (sidecar_) {
    RecordSidecarLayers(hello);
    RETURN_IF_ERROR(RecordSidecarResources());
  }
  recorder_.report().landlock_abi = hello.landlock_abi;

  std::vector<UniqueFd> fds;
  ASSIGN_OR_RETURN(Plan plan, MakePlan(hello, &fds));
  recorder_.SetPlan(plan);
  ipc::BrokerMessage plan_message;
  plan_message.kind = ipc::BrokerMessage::Kind::kPlan;
  plan_message.plan = plan.ToWire();
  std::vector<int> raw_fds;
  for (const UniqueFd& fd : fds) raw_fds.push_back(fd.get());
  RETURN_IF_ERROR(channel_.Send(plan_message, raw_fds));
  fds.clear();
  timeline_.Mark("plan");
  if (OcsfEventLog* events = recorder_.events()) {
    events->ConfigState(
        "Validated", Severity::kInformational,
        absl::StrCat("hello checked against /proc; plan of ", plan.steps.size(), " steps sent"),
        Mechanism::kPlan, 0, "");
  }
  RETURN_IF_ERROR(RestrictSupervisor());
  timeline_.Mark("supervisor_seccomp");
  RETURN_IF_ERROR(CollectResults(plan));
  RecordStubStepTimes(plan);
  RETURN_IF_ERROR(VerifyPosture(plan));
  timeline_.Mark("verification");
  // Complete before the workload can start, so that whoever waits for the
  // workload finds the whole report (a failed Go rewrites it as refused).
  recorder_.report().outcome = "running";
  recorder_.WriteReport(child_, hello_received_);
  ipc::BrokerMessage go;
  go.kind = ipc::BrokerMessage::Kind::kGo;
  return channel_.Send(go);
}

void RunSession::RecordStubStepTimes(const Plan& plan) {
  timeline_.Mark("stub_steps");
  uint32_t landlock = 0, seccomp = 0, other = 0;
  for (const ipc::StepResult& result : results_) {
    Mechanism mechanism = plan.steps[result.index].mechanism;
    uint32_t& sum = mechanism == Mechanism::kLandlock          ? landlock
                    : mechanism == Mechanism::kWorkloadSeccomp ? seccomp
                                                               : other;
    sum += result.elapsed_micros;
  }
  timeline_.AddStubPhase("landlock", landlock);
  timeline_.AddStubPhase("seccomp", seccomp);
  timeline_.AddStubPhase("other_steps", other);
}

namespace {

// Whether /proc/<pid>/root is the broker's own root directory.
bool SameRootAsBroker(pid_t pid) {
  struct stat own, theirs;
  return stat("/", &own) == 0 && stat(absl::StrCat("/proc/", pid, "/root").c_str(), &theirs) == 0 &&
         own.st_dev == theirs.st_dev && own.st_ino == theirs.st_ino;
}

}  // namespace

// A sidecar stub already runs in its container's namespaces and image:
// tether applies none of them. Each layer is reported for what it is, the
// container's own (where its namespace differs from the broker's) or none
// at all, never as enforced. /proc says which where the broker sees the
// stub; elsewhere the pid namespace differs by the kernel's word (Serve)
// and the others only by the stub's.
void RunSession::RecordSidecarLayers(const ipc::Hello& hello) {
  const struct {
    Mechanism mechanism;
    const char* name;
  } layers[] = {{Mechanism::kPidNamespace, "pid"},       {Mechanism::kMountNamespace, "mnt"},
                {Mechanism::kIpcNamespace, "ipc"},       {Mechanism::kUtsNamespace, "uts"},
                {Mechanism::kCgroupNamespace, "cgroup"}, {Mechanism::kFilesystemView, "mnt"}};
  auto index_of = [](const char* name) {
    size_t i = 0;
    while (i < std::size(ipc::kNamespaceNames) && std::string(ipc::kNamespaceNames[i]) != name) ++i;
    return i;
  };
  // Each read once: the view's layer is the mount namespace's again.
  std::vector<uint64_t> own = options_.broker_namespace_inodes;
  if (own.empty()) own = NamespaceInodesOf("self");
  std::vector<uint64_t> stubs = stub_visible_ ? NamespaceInodesOf(absl::StrCat(child_))
                                              : std::vector<uint64_t>(own.size(), 0);
  for (const auto& layer : layers) {
    size_t index = index_of(layer.name);
    bool known_own = index < own.size() && own[index] != 0;
    std::optional<uint64_t> stub_inode;
    Evidence evidence = Evidence::kStubAttested;
    if (stub_visible_) {
      if (index < stubs.size() && stubs[index] != 0) {
        stub_inode = stubs[index];
        evidence = Evidence::kVerified;
      }
    } else if (layer.mechanism == Mechanism::kPidNamespace) {
      stub_inode = 0;  // another pid namespace: the kernel said so
      evidence = Evidence::kVerified;
    } else if (index < hello.namespace_inodes.size() && hello.namespace_inodes[index] != 0) {
      stub_inode = hello.namespace_inodes[index];
    }
    uint64_t own_inode = known_own ? own[index] : 0;
    MechanismRecord record;
    record.mechanism = layer.mechanism;
    record.action = "sidecar_layer";
    bool view = layer.mechanism == Mechanism::kFilesystemView;
    if (!stub_inode.has_value() || !known_own) {
      record.state = MechanismState::kNotIsolated;
      record.reason = absl::StrCat("sidecar: the stub's ", layer.name,
                                   " namespace is unknown; tether did not make it");
      record.evidence = Evidence::kNone;
    } else if (*stub_inode != own_inode && view && stub_visible_ && SameRootAsBroker(child_)) {
      // Its own mount namespace, but the host's root: no view at all.
      record.state = MechanismState::kNotIsolated;
      record.reason =
          "sidecar: the stub's mount namespace is its own but its root is the broker's: it sees "
          "the host's filesystem";
      record.evidence = Evidence::kVerified;
    } else if (*stub_inode != own_inode) {
      record.state = MechanismState::kProvidedByContainer;
      record.reason = view ? "sidecar: the container's own image and mounts, not tether's view"
                           : absl::StrCat("sidecar: the container's own ", layer.name,
                                          " namespace, not one tether made");
      record.evidence = evidence;
    } else {
      record.state = MechanismState::kNotIsolated;
      record.reason = absl::StrCat(
          "sidecar: the stub shares the broker's ", layer.name,
          view ? " namespace: it sees the host's filesystem" : " namespace: nothing isolates it");
      record.evidence = evidence;
    }
    recorder_.RecordSetup(record);
  }
}

int RunSession::Supervise() {
  int exec_errno = 0;
  bool socket_open = true;
  // The timeout: SIGTERM to the sandbox's init (which passes it on), then
  // SIGKILL to everything in the sandbox once the grace period is over.
  absl::Time deadline = options_.resources.timeout.has_value()
                            ? absl::Now() + *options_.resources.timeout
                            : absl::InfiniteFuture();
  while (true) {
    int proxy = egress_proxy_ != nullptr && egress_alive_ ? egress_proxy_->pidfd() : -1;
    int oom = cgroup_ != nullptr && !memory_limit_hit_ ? cgroup_->oom_fd() : -1;
    struct pollfd fds[5] = {{pidfd_.get(), POLLIN, 0},
                            {channel_.signal_fd(), POLLIN, 0},
                            {socket_open ? channel_.socket() : -1, POLLIN, 0},
                            {proxy, POLLIN, 0},
                            {oom, oom >= 0 ? cgroup_->oom_poll_events() : short{0}, 0}};
    int ready = poll(fds, 5, PollTimeout(deadline));
    if (ready < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "tether: poll: %s\n", strerror(errno));
      KillAndReapStub();
      return kExitSetupFailed;
    }
    if (ready == 0 && absl::Now() >= deadline) {
      if (!timed_out_) {
        timed_out_ = true;
        syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGTERM, nullptr, 0);
        deadline = absl::Now() + policy::kTimeoutGrace;
      } else {
        KillSandbox();
        deadline = absl::InfiniteFuture();
      }
      continue;
    }
    if (oom >= 0 && fds[4].revents != 0) {
      cgroup_->DrainOomFd();
      // An OOM kill anywhere ends the whole sandbox, as memory.oom.group
      // does on v2.
      if (cgroup_->OomKills() > 0) {
        memory_limit_hit_ = true;
        KillSandbox();
      }
    }
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(channel_.signal_fd(), &info, sizeof(info)) == sizeof(info)) {
        syscall(SYS_pidfd_send_signal, pidfd_.get(), info.ssi_signo, nullptr, 0);
      }
    }
    if (proxy >= 0 && (fds[3].revents & POLLIN)) ReportEgressProxyGone();
    if (socket_open && fds[2].revents != 0) {
      exec_errno = channel_.ReceiveExecOutcome();
      timeline_.Mark("exec");  // Go until the stub's exec closed its socket
      socket_open = false;
      channel_.Close();
    }
    if (fds[0].revents & POLLIN) {
      siginfo_t info = {};
      if (waitid(P_PIDFD, pidfd_.get(), &info, WEXITED) != 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "tether: waitid: %s\n", strerror(errno));
        return kExitSetupFailed;
      }
      reaped_ = true;
      if (exec_errno != 0) {
        std::fprintf(stderr, "tether: cannot execute %s: %s\n", options_.argv[0].c_str(),
                     strerror(exec_errno));
        return kernel::ExitStatusForExecErrno(exec_errno);
      }
      if (info.si_code == CLD_EXITED) return info.si_status;
      return 128 + info.si_status;
    }
  }
}

void RunSession::KillSandbox() {
  if (cgroup_ != nullptr) cgroup_->KillAll();
  if (!reaped_) syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
}

namespace {

std::string LimitValue(const std::string& name, const policy::ResourceLimits& limits) {
  if (name == "memory") return policy::FormatBytes(limits.memory_bytes.value_or(0));
  if (name == "swap") return policy::FormatBytes(limits.swap_bytes.value_or(0));
  if (name == "pids") return absl::StrCat(limits.PidsOrDefault());
  if (name == "cpu") return absl::StrCat(limits.cpus.value_or(0));
  return "";
}

MechanismRecord ResourceRecord(std::string action, MechanismState state, std::string reason,
                               int errno_value = 0, Evidence evidence = Evidence::kNone) {
  MechanismRecord record;
  record.mechanism = Mechanism::kResourceLimits;
  record.action = std::move(action);
  record.state = state;
  record.reason = std::move(reason);
  record.errno_value = errno_value;
  record.evidence = evidence;
  return record;
}

std::string TimeoutText(absl::Duration timeout, bool local) {
  return absl::StrCat(absl::FormatDuration(timeout), ", then SIGTERM and SIGKILL ",
                      absl::FormatDuration(policy::kTimeoutGrace), " later",
                      local ? " (exit 124)" : "");
}

}  // namespace

void RunSession::MakeCgroup() {
  absl::StatusOr<CgroupLayout> layout = DiscoverCgroupLayout();
  CgroupLayout found = layout.ok() ? *layout : CgroupLayout();
  // Those of brokers killed before they could remove their own.
  RemoveStaleCgroups(found);
  cgroup_ = SandboxCgroup::Create(found, options_.resources);
}

// Each limit as it was read back; one asked for that does not hold refuses
// the run unless resource_limits is best effort. The default pids limit,
// never asked for, is only reported where it cannot be applied.
absl::Status RunSession::RecordResources() {
  const policy::ResourceLimits& asked = options_.resources;
  PostureReport& report = recorder_.report();
  report.cgroups = cgroup_->Describe();
  bool best_effort = options_.enforcement.best_effort(Mechanism::kResourceLimits);
  absl::Status refusal;
  for (const CgroupLimit& limit : cgroup_->limits()) {
    ResourceLimitRecord out;
    out.name = limit.name;
    out.value = LimitValue(limit.name, asked);
    out.asked = limit.asked;
    if (limit.version.has_value()) out.version = CgroupVersionName(*limit.version);
    out.setting = limit.Setting();
    int errno_value = 0;
    Evidence evidence = Evidence::kNone;
    if (limit.skipped) {
      out.state = MechanismState::kSkipped;
      out.reason = limit.note;
    } else if (limit.error == 0) {
      out.state = MechanismState::kEnforced;
      out.reason = absl::StrCat("cgroup ", out.version, ": ", out.setting, " in ", limit.directory,
                                ", read back");
      evidence = Evidence::kVerified;
    } else {
      std::string why = absl::StrCat("the ", limit.name, " limit ", out.value,
                                     " cannot be applied: ", limit.problem);
      bool refuse = limit.asked && !best_effort;
      if (refuse && refusal.ok()) {
        refusal =
            MechanismError(Mechanism::kResourceLimits, absl::StatusCode::kFailedPrecondition, why);
      }
      out.state = refuse ? MechanismState::kFailed : MechanismState::kDegraded;
      if (!limit.asked) {
        out.reason = absl::StrCat("the default pids limit is not enforced: ", limit.problem);
      } else {
        out.reason = refuse ? why : absl::StrCat("best effort: ", why);
      }
      errno_value = limit.error;
    }
    report.limits.push_back(out);
    recorder_.RecordSetup(ResourceRecord(absl::StrCat(limit.name, "_limit"), out.state, out.reason,
                                         errno_value, evidence));
  }
  // Every limit is in the report; the first that refuses the run is named.
  RETURN_IF_ERROR(refusal);
  if (asked.timeout.has_value()) {
    report.timeout = TimeoutText(*asked.timeout, true);
    recorder_.RecordSetup(
        ResourceRecord("timeout", MechanismState::kEnforced,
                       absl::StrCat("the broker ends the sandbox after ", report.timeout)));
  }
  return absl::OkStatus();
}

// A sidecar stub runs in its container's cgroup, which is the container
// runtime's: tether does not move a process it did not start. What the
// broker can reach is the timeout, where it sees the stub.
absl::Status RunSession::RecordSidecarResources() {
  const policy::ResourceLimits& asked = options_.resources;
  PostureReport& report = recorder_.report();
  std::string where = "unknown (the stub is in another pid namespace)";
  if (stub_visible_) {
    absl::StatusOr<std::string> cgroup = ReadSmallFile(absl::StrCat("/proc/", child_, "/cgroup"));
    if (cgroup.ok()) {
      std::vector<std::string> lines = absl::StrSplit(*cgroup, '\n', absl::SkipEmpty());
      where = absl::StrJoin(lines, "; ");
    }
  }
  report.cgroups = {absl::StrCat("the container's: ", where)};
  bool best_effort = options_.enforcement.best_effort(Mechanism::kResourceLimits);
  for (const CgroupLimit& limit : PlanCgroupLimits(asked)) {
    ResourceLimitRecord out;
    out.name = limit.name;
    out.value = LimitValue(limit.name, asked);
    out.asked = limit.asked;
    if (limit.asked) {
      std::string why =
          absl::StrCat("sidecar: the ", limit.name, " limit ", out.value,
                       " cannot be applied: the stub runs in its container's cgroup (", where,
                       "), which the container runtime sets, not tether");
      if (!best_effort) {
        return MechanismError(Mechanism::kResourceLimits, absl::StatusCode::kFailedPrecondition,
                              why);
      }
      out.state = MechanismState::kDegraded;
      out.reason = absl::StrCat("best effort: ", why);
    } else {
      out.state = MechanismState::kProvidedByContainer;
      out.reason = "sidecar: the container's cgroup and its pids limit, not tether's";
    }
    report.limits.push_back(out);
    recorder_.RecordSetup(
        ResourceRecord(absl::StrCat(limit.name, "_limit"), out.state, out.reason));
  }
  if (asked.timeout.has_value()) {
    // Only the workload's own process is in reach: what it forks lives in
    // the container, whose runtime ends it. That is half a timeout.
    report.timeout = TimeoutText(*asked.timeout, false);
    std::string why =
        stub_visible_ && pidfd_.valid()
            ? absl::StrCat(
                  "sidecar: the timeout reaches only the workload's own process (ended "
                  "after ",
                  report.timeout, "); what it forks is its container's to end")
            : "sidecar: the timeout cannot be enforced: the broker does not see the stub's process";
    recorder_.RecordSetup(
        ResourceRecord("timeout", MechanismState::kDegraded, absl::StrCat("best effort: ", why)));
    if (!best_effort) {
      return MechanismError(Mechanism::kResourceLimits, absl::StatusCode::kFailedPrecondition, why);
    }
  }
  return absl::OkStatus();
}

int RunSession::FinishRun(int status) {
  ExitRecord exit;
  exit.status = status;
  exit.cause = status > 128 ? "signaled" : "exited";
  if (cgroup_ != nullptr && cgroup_->OomKills() > 0) memory_limit_hit_ = true;
  std::string limit_text;
  for (const ResourceLimitRecord& limit : recorder_.report().limits) {
    if (limit.name == "memory") {
      limit_text = absl::StrCat(limit.value, " (cgroup ", limit.version, " ", limit.setting, ")");
    }
  }
  if (memory_limit_hit_) {
    exit.status = 128 + SIGKILL;
    exit.cause = "memory_limit";
    exit.detail = absl::StrCat("the sandbox reached its memory limit ", limit_text,
                               ": the kernel killed a process, and tether the rest");
  } else if (timed_out_) {
    exit.status = kExitTimedOut;
    exit.cause = "timeout";
    exit.detail = absl::StrCat("the workload ran past its timeout of ",
                               absl::FormatDuration(*options_.resources.timeout),
                               ": SIGTERM, and SIGKILL to what was left after ",
                               absl::FormatDuration(policy::kTimeoutGrace));
  }
  cgroup_.reset();  // whatever is left of the sandbox dies here
  if (!exit.detail.empty()) {
    std::fprintf(stderr, "tether: %s (exit %d)\n", exit.detail.c_str(), exit.status);
    if (OcsfEventLog* events = recorder_.events()) {
      events->ConfigState("Limit Reached", Severity::kMedium, exit.detail,
                          Mechanism::kResourceLimits, 0, exit.cause);
    }
  }
  recorder_.report().exit = exit;
  recorder_.WriteReport(child_, hello_received_);
  return exit.status;
}

// The stub's init gave the terminal to the workload's process group; the
// caller's gets it back, or the shell that ran tether could not read.
void RunSession::RestoreTerminal() {
  if (terminal_group_ <= 0) return;
  sigset_t ttou, previous;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  sigprocmask(SIG_BLOCK, &ttou, &previous);
  tcsetpgrp(STDIN_FILENO, terminal_group_);
  sigprocmask(SIG_SETMASK, &previous, nullptr);
}

int RunSession::Fail(const absl::Status& status) {
  return Fail(Refusal{ExitKind::kSetupFailed, status});
}

int RunSession::Fail(const Refusal& refusal) {
  if (refusal.exit == ExitKind::kSetupFailed) {
    KillAndReapStub();
    // A cached fact may have promised what the kernel now refuses: the
    // next run probes afresh (this one failed closed).
    ForgetCachedHostFacts();
  }
  Recorder::RefusalContext context;
  context.stub_pid = child_;
  context.sidecar = sidecar_;
  context.hello_received = hello_received_;
  context.interrupted_by = channel_.interrupted_by();
  context.enforcement = &options_.enforcement;
  return recorder_.Refuse(refusal, context);
}

int RunSession::Serve(UniqueFd socket, pid_t peer_pid, uid_t peer_uid, gid_t peer_gid) {
  sidecar_ = true;
  timeline_ = LaunchTimeline();  // from the connection, not the pool's start
  stub_visible_ = PeerSharesPidNamespace(socket.get(), peer_pid);
  // Held from the start, so that the timeout can only ever reach this
  // process (its Hello is checked against /proc/<pid>).
  if (stub_visible_) pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, peer_pid, 0)));
  channel_.Attach(std::move(socket));
  channel_.SetDeadline(absl::Now() + options_.handshake_timeout);
  child_ = peer_pid;
  reaped_ = true;  // not the broker's child: never killed or reaped here
  // Without a policy user, the workload keeps the stub's own identity (a
  // root stub drops to nobody). Whatever is wrong, the stub is refused.
  if (std::optional<Refusal> refused = Prologue(peer_uid, peer_gid, {}); refused.has_value()) {
    return Fail(refused->status);
  }
  if (absl::Status handshake = Handshake(); !handshake.ok()) return Fail(handshake);
  recorder_.EmitPostureEvents();
  // EOF: the stub exec'd (its socket is close-on-exec); ExecFailed: it did
  // not. A stub that says neither is taken as running once the deadline
  // passes, so that it cannot hold a handshake slot (or a drain) forever.
  struct pollfd answered = {channel_.socket(), POLLIN, 0};
  int64_t wait_ms =
      std::max<int64_t>(1000, absl::ToInt64Milliseconds(channel_.deadline() - absl::Now()));
  while (poll(&answered, 1, static_cast<int>(wait_ms)) < 0 && errno == EINTR) {
  }
  if (int exec_errno = answered.revents != 0 ? channel_.ReceiveExecOutcome() : 0; exec_errno != 0) {
    std::fprintf(stderr, "tether serve: the stub could not execute its command: %s\n",
                 strerror(exec_errno));
    return kernel::ExitStatusForExecErrno(exec_errno);
  }
  if (OcsfEventLog* events = recorder_.events()) events->ProcessLaunch(child_, {}, target_.uid);
  timeline_.Mark("exec");
  return 0;
}

void RunSession::WarmUp() {
  home_directories_ =
      options_.home_directories.has_value() ? *options_.home_directories : CachedHomeDirectories();
  if (absl::StatusOr<UniqueFd> sealed = policy::SealProgram(*options_.compiled_seccomp);
      sealed.ok()) {
    warm_sealed_program_ = std::move(*sealed);
  }
  if (options_.network_mode != NetworkMode::kHost) {
    warm_network_ = PrepareNetwork(HostFactsFor(options_));
  }
  // What a launch may touch, mapped while no stub waits rather than
  // faulted in a page at a time during its handshake.
  PrefaultForkedBroker();
  // Last: the network's set-up (setns, the proxy's fork) is what it denies.
  supervisor_loaded_ = LoadSupervisorFilter();
}

void RunSession::HoldUntilWorkloadExits() {
  // Unseen workloads: exiting closes the namespace fd, and the kernel
  // removes the namespace when the workload is gone.
  bool timeout = options_.resources.timeout.has_value();
  if ((network_ == nullptr && !timeout) || !stub_visible_ || !pidfd_.valid()) return;
  absl::Time deadline =
      timeout ? absl::Now() + *options_.resources.timeout : absl::InfiniteFuture();
  int signals_sent = 0;
  while (true) {
    struct pollfd exited = {pidfd_.get(), POLLIN, 0};
    int ready = poll(&exited, 1, PollTimeout(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready != 0) break;
    // The workload is the stub's own process here: TERM, then KILL.
    syscall(SYS_pidfd_send_signal, pidfd_.get(), signals_sent == 0 ? SIGTERM : SIGKILL, nullptr, 0);
    deadline = ++signals_sent == 1 ? absl::Now() + policy::kTimeoutGrace : absl::InfiniteFuture();
  }
  egress_proxy_.reset();
  network_.reset();
}

// The order of a local run: working directory, identity and outputs, the
// stub binary, GPUs, the namespaces and the view, the stub cloned into
// them, the handshake, then supervision.
int RunSession::Run() {
  timeline_ = LaunchTimeline::SinceMainEntered();
  channel_.SetDeadline(absl::Now() + options_.handshake_timeout);
  absl::StatusOr<std::string> cwd = CurrentDirectory();
  if (!cwd.ok()) return Fail(cwd.status());
  absl::StatusOr<std::string> canonical =
      CanonicalDirectory(options_.working_directory.value_or(*cwd));
  if (!canonical.ok()) return Fail(canonical.status());
  working_directory_ = *canonical;
  if (std::optional<Refusal> refused = Prologue(getuid(), getgid(), CurrentGroups());
      refused.has_value()) {
    return Fail(*refused);
  }
  for (const std::string& warning : options_.warnings) {
    std::fprintf(stderr, "tether: warning: %s\n", warning.c_str());
  }
  if (absl::Status opened = OpenStubBinary(); !opened.ok()) return Fail(opened);
  if (std::optional<Refusal> refused = GrantGpus(); refused.has_value()) return Fail(*refused);
  timeline_.Mark("options");  // flags, policy, identity, the stub binary, GPUs
  if (!options_.compiled_seccomp.has_value()) {
    if (absl::Status prepared = PrepareOnce(&options_, &timeline_); !prepared.ok()) {
      return Fail(prepared);
    }
  }
  if (absl::Status planned = PlanSandbox(); !planned.ok()) {
    // A listed path the view refuses (a link someone else owns) is the
    // policy's problem: best effort would not change it.
    bool bad_path = planned.code() == absl::StatusCode::kInvalidArgument;
    return Fail(Refusal{bad_path ? ExitKind::kBadPolicy : ExitKind::kSetupFailed, planned});
  }
  // Only the terminal's foreground job may hand it to the workload.
  if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp()) terminal_group_ = getpgrp();
  timeline_.Mark("plan_sandbox");  // the namespaces decided, the view's paths opened
  MakeCgroup();
  timeline_.Mark("cgroup");
  if (absl::Status started = StartStub(); !started.ok()) return Fail(started);
  BuildRulesetAhead();
  if (absl::Status handshake = Handshake(); !handshake.ok()) return Fail(handshake);
  recorder_.EmitPostureEvents();
  OcsfEventLog* events = recorder_.events();
  if (events != nullptr) events->ProcessLaunch(child_, options_.argv, target_.uid);
  int status = FinishRun(Supervise());
  RestoreTerminal();
  if (events != nullptr) events->ProcessExit(child_, status);
  return status;
}

}  // namespace tether::broker
