#include "broker/run_session.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

#include <capnp/message.h>

#include "absl/strings/string_view.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/exit_codes.h"
#include "broker/host_probe.h"
#include "broker/output_file.h"
#include "broker/peer_process.h"
#include "broker/proc_status.h"
#include "broker/stub_binary.h"
#include "broker/verifier.h"
#include "broker/working_directory.h"
#include "ipc/frame.h"
#include "policy/landlock_ruleset.h"
#include "policy/supervisor_seccomp.h"
#include "policy/workload_seccomp.h"

extern char** environ;

namespace tether::broker {
namespace {

constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
constexpr int kStubSocketFd = 3;

sigset_t ForwardedSignalSet() {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : kForwardedSignals) sigaddset(&set, signo);
  return set;
}

absl::Status Errno(absl::string_view call) { return absl::ErrnoToStatus(errno, call); }

// Runs in the forked child: only async-signal-safe calls until execveat.
// The stub is executed from the fd that was checked (stub_binary.h).
[[noreturn]] void ExecStub(int stub_binary, int stub_socket, pid_t broker_pid) {
  sigset_t empty;
  sigemptyset(&empty);
  for (int signo : kForwardedSignals) signal(signo, SIG_DFL);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
  // Dies with the broker from the first instruction; the stub re-arms this
  // after its identity change, which clears it.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid() != broker_pid) _exit(kExitSetupFailed);
  // Both fds move above the ones they will become, so neither overwrites
  // the other; the binary's fd stays close-on-exec.
  int socket_copy = fcntl(stub_socket, F_DUPFD_CLOEXEC, kStubSocketFd + 2);
  int binary = fcntl(stub_binary, F_DUPFD_CLOEXEC, kStubSocketFd + 2);
  if (socket_copy < 0 || binary < 0 || dup2(socket_copy, kStubSocketFd) < 0 ||
      dup3(binary, kStubSocketFd + 1, O_CLOEXEC) < 0) {
    _exit(kExitSetupFailed);
  }
  syscall(SYS_close_range, kStubSocketFd + 2, ~0U, 0);
  char fd_text[] = "3";
  char* argv[] = {const_cast<char*>("tether-stub"), const_cast<char*>("--fd"), fd_text,
                  nullptr};
  char* envp[] = {nullptr};
  syscall(SYS_execveat, kStubSocketFd + 1, "", argv, envp, AT_EMPTY_PATH);
  static const char kMessage[] = "tether: cannot execute the stub\n";
  (void)!write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  _exit(kExitSetupFailed);
}

// Compares without an early exit, so timing says nothing about the token.
bool TokensEqual(const std::string& expected, const std::string& given) {
  unsigned char difference = expected.size() != given.size();
  for (size_t i = 0; i < expected.size(); ++i) {
    difference |= static_cast<unsigned char>(expected[i]) ^
                  static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  }
  return difference == 0;
}

// The rights the policy relies on that an older ABI does not enforce.
std::string LandlockRightsMissingBelow(int abi, int required) {
  const struct {
    int abi;
    const char* names;
  } introduced[] = {{2, "refer"}, {3, "truncate"}, {5, "ioctl_dev"},
                    {6, "abstract_unix_socket and signal scoping"}};
  std::vector<std::string> missing;
  for (const auto& entry : introduced) {
    if (entry.abi > abi && entry.abi <= required) missing.push_back(entry.names);
  }
  return absl::StrJoin(missing, ", ");
}

}  // namespace

absl::Status PrepareOnce(RunOptions* options) {
  policy::WorkloadSeccompOptions seccomp_options;
  seccomp_options.extra_denied_syscalls = options->policy.extra_denied_syscalls;
  seccomp_options.allowed_socket_families = options->policy.allowed_socket_families;
  absl::StatusOr<std::vector<struct sock_filter>> program =
      policy::CompileWorkloadFilter(seccomp_options);
  if (!program.ok()) {
    return MechanismError(Mechanism::kWorkloadSeccomp, program.status().code(),
                          program.status().message());
  }
  options->compiled_seccomp = *program;
  CachedHostFacts(*program);
  return absl::OkStatus();
}

namespace {

absl::StatusOr<std::string> CurrentDirectory() {
  char buffer[PATH_MAX];
  if (getcwd(buffer, sizeof(buffer)) == nullptr) return Errno("getcwd");
  return std::string(buffer);
}

std::vector<uint32_t> CurrentGroups() {
  int count = getgroups(0, nullptr);
  std::vector<gid_t> groups(count > 0 ? count : 0);
  if (count > 0) count = getgroups(count, groups.data());
  return std::vector<uint32_t>(groups.begin(), groups.begin() + (count > 0 ? count : 0));
}

}  // namespace

RunSession::RunSession(RunOptions options) : options_(std::move(options)) {}

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

absl::Status RunSession::StartStub() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return Errno("socketpair(AF_UNIX, SOCK_SEQPACKET)");
  }
  socket_.reset(pair[0]);
  UniqueFd stub_end(pair[1]);

  sigset_t forwarded = ForwardedSignalSet();
  if (sigprocmask(SIG_BLOCK, &forwarded, nullptr) != 0) return Errno("sigprocmask");
  signal_fd_.reset(signalfd(-1, &forwarded, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_.valid()) return Errno("signalfd");

  pid_t broker_pid = getpid();
  child_ = fork();
  if (child_ < 0) return Errno("fork");
  if (child_ == 0) ExecStub(stub_binary_.get(), stub_end.get(), broker_pid);
  stub_binary_.reset();
  pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, child_, 0)));
  if (!pidfd_.valid()) return Errno("pidfd_open");
  return absl::OkStatus();
}

absl::StatusOr<ipc::StubMessage> RunSession::Receive(absl::string_view expecting) {
  while (true) {
    absl::Duration left = deadline_ - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("the stub sent no ", expecting, " before the handshake deadline"));
    }
    struct pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {signal_fd_.get(), POLLIN, 0}};
    int ready = poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return Errno("poll");
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
        interrupted_by_ = static_cast<int>(info.ssi_signo);
        return absl::CancelledError(absl::StrCat(
            "interrupted by signal ", interrupted_by_, " (", strsignal(interrupted_by_),
            ") during set-up"));
      }
    }
    if (fds[0].revents == 0) continue;
    ipc::ReceivedFrame frame = ipc::ReceiveFrame(socket_.get());
    if (frame.error == ipc::FrameError::kClosed) {
      return absl::AbortedError(absl::StrCat(
          "the stub closed the connection (it died or exited) while the broker "
          "waited for ", expecting));
    }
    ipc::StubMessage message;
    std::string error;
    if (!ipc::Decode(frame, &message, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid message from the stub while waiting for ", expecting,
                       ": ", error,
                       frame.error == ipc::FrameError::kSystem
                           ? absl::StrCat(" (recvmsg: ", strerror(frame.errno_value), ")")
                           : ""));
    }
    return message;
  }
}

absl::Status RunSession::Send(const ipc::BrokerMessage& message,
                              const std::vector<int>& fds) {
  capnp::MallocMessageBuilder builder;
  ipc::Encode(message, builder);
  ipc::SendResult sent = ipc::SendFrame(socket_.get(), builder, fds);
  if (sent.error == ipc::FrameError::kClosed) {
    return absl::AbortedError(
        "the stub closed the connection (it died or exited) before the broker's "
        "message reached it");
  }
  if (!sent.ok()) {
    return absl::AbortedError(absl::StrCat("cannot send to the stub: ",
                                           ipc::FrameErrorName(sent.error), ": ",
                                           strerror(sent.errno_value)));
  }
  return absl::OkStatus();
}

// The working directory is writable unless it is the root, a system
// directory, a home directory or an ancestor of one: then it stays
// read-only (the root not even that), with a warning and a report record.
void RunSession::GrantWorkingDirectory(policy::LandlockRules* rules) {
  std::vector<std::string> homes = HomeDirectories();
  if (sidecar_) {
    // The stub's own HOME names a home of its root.
    for (const std::string& variable : requested_envp_) {
      if (absl::StartsWith(variable, "HOME=")) homes.push_back(NormalizeLexically(variable.substr(5)));
    }
  }
  // A sidecar stub's path lives in its own root: decided by name only.
  WorkingDirectoryAccess access =
      sidecar_ ? DecideWorkingDirectoryAccess(working_directory_, homes, options_.policy.read_write)
               : DecideWorkingDirectoryAccessOnDisk(working_directory_, homes,
                                                    options_.policy.read_write);
  if (access.writable) {
    rules->read_write.push_back(working_directory_);
    return;
  }
  if (working_directory_ != "/") rules->read_only.push_back(working_directory_);
  std::string why = absl::StrCat("the working directory ", working_directory_, " is ",
                                 access.why_read_only, ": it stays ",
                                 working_directory_ == "/" ? "as the policy says" : "read-only",
                                 " (list it under filesystem.read_write to make it writable)");
  std::fprintf(stderr, "%s: warning: %s\n", sidecar_ ? "tether serve" : "tether", why.c_str());
  MechanismRecord record;
  record.mechanism = Mechanism::kLandlock;
  record.action = "working_directory_not_writable";
  record.state = MechanismState::kEnforced;
  record.reason = why;
  record.evidence = Evidence::kStubAttested;  // through the Landlock ruleset
  records_after_plan_.push_back(record);
}

absl::StatusOr<Plan> RunSession::MakePlan(const ipc::Hello& hello,
                                          std::vector<UniqueFd>* fds) {
  PlanInput input;
  input.hello = hello;
  input.target = target_;
  input.broker_pid = getpid();
  input.working_directory = working_directory_;
  input.sidecar = sidecar_;
  input.argv = sidecar_ ? hello.requested_argv : options_.argv;
  input.envp = sidecar_ ? FilterEnvironment(hello.requested_envp, options_.policy.environment_allow)
                        : FilterEnvironment(environ, options_.policy.environment_allow);

  // Without Landlock (best effort) the fd slot carries a placeholder.
  absl::StatusOr<UniqueFd> ruleset = UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (hello.landlock_abi > 0) {
    policy::LandlockRules rules;
    rules.read_only = options_.policy.read_only;
    rules.read_write = options_.policy.read_write;
    GrantWorkingDirectory(&rules);
    rules.devices = options_.policy.devices;
    rules.write_file = options_.policy.write_file;
    // A sidecar stub's paths are those of its own root.
    if (sidecar_ && stub_visible_) rules.root = absl::StrCat("/proc/", child_, "/root");
    ruleset = policy::BuildLandlockRuleset(rules, hello.landlock_abi, policy::MissingPath::kSkip);
  }
  if (!ruleset.ok()) {
    return MechanismError(Mechanism::kLandlock, ruleset.status().code(),
                          ruleset.status().message());
  }
  policy::WorkloadSeccompOptions seccomp_options;
  seccomp_options.extra_denied_syscalls = options_.policy.extra_denied_syscalls;
  seccomp_options.allowed_socket_families = options_.policy.allowed_socket_families;
  // `tether serve` compiles its policy's program once, before forking.
  absl::StatusOr<std::vector<struct sock_filter>> program =
      options_.compiled_seccomp.has_value() ? *options_.compiled_seccomp
                                            : policy::CompileWorkloadFilter(seccomp_options);
  if (!program.ok()) {
    return MechanismError(Mechanism::kWorkloadSeccomp, program.status().code(),
                          program.status().message());
  }
  input.enforcement = options_.enforcement;
  const HostFacts& facts = CachedHostFacts(*program);
  input.bounding_set_probe = {facts.bounding_set.ok, facts.bounding_set.errno_value,
                              facts.bounding_set.evidence};
  input.seccomp_probe = {facts.seccomp.ok, facts.seccomp.errno_value, facts.seccomp.evidence};
  input.network_mode = options_.network_mode;
  input.rlimits = options_.rlimits;
  input.landlock_missing_rights = LandlockRightsMissingBelow(hello.landlock_abi, 6);
  if (options_.network_mode != NetworkMode::kHost) {
    input.network = warm_network_.has_value() ? *warm_network_ : PrepareNetwork(facts);
  }
  absl::StatusOr<Plan> plan = BuildPlan(input);
  if (!plan.ok()) return plan.status();
  absl::StatusOr<UniqueFd> sealed = policy::SealProgram(*program);
  if (!sealed.ok()) return sealed.status();
  fds->clear();
  fds->push_back(std::move(*ruleset));  // kLandlockFdIndex
  fds->push_back(std::move(*sealed));   // kSeccompFdIndex
  if (network_ != nullptr) {
    // kNetworkNamespaceFdIndex; the session keeps its own.
    int netns = fcntl(network_->netns_fd(), F_DUPFD_CLOEXEC, 0);
    if (netns < 0) return Errno("fcntl(F_DUPFD_CLOEXEC, netns)");
    fds->emplace_back(netns);
  }
  return plan;
}

absl::Status RunSession::CollectResults(const Plan& plan) {
  for (size_t index = 0; index < plan.steps.size(); ++index) {
    const PlannedStep& planned = plan.steps[index];
    std::string what = absl::StrCat("the result of step ", index, " ",
                                    ipc::ActionName(planned.step.action));
    absl::StatusOr<ipc::StubMessage> message = Receive(what);
    if (!message.ok()) return message.status();
    if (message->kind != ipc::StubMessage::Kind::kStepResult ||
        message->step_result.index != index) {
      return absl::InvalidArgumentError(absl::StrCat(
          "protocol violation: expected ", what, ", got ",
          ipc::StubMessageKindName(message->kind),
          message->kind == ipc::StubMessage::Kind::kStepResult
              ? absl::StrCat(" for step ", message->step_result.index)
              : ""));
    }
    const ipc::StepResult& result = message->step_result;
    report_.RecordResult(result);
    bool skip = planned.step.disposition == ipc::Disposition::kSkipAlreadySatisfied;
    const std::vector<int32_t>& tolerable = planned.step.tolerate_errnos;
    bool consistent =
        skip ? result.outcome == ipc::Outcome::kSkipped
             : result.outcome != ipc::Outcome::kSkipped &&
                   (result.outcome != ipc::Outcome::kTolerated ||
                    (planned.step.disposition == ipc::Disposition::kBestEffort &&
                     std::find(tolerable.begin(), tolerable.end(), result.errno_value) !=
                         tolerable.end()));
    results_.push_back(result);
    if (!consistent) {
      return absl::InvalidArgumentError(absl::StrCat(
          "protocol violation: step ", index, " ", ipc::ActionName(planned.step.action),
          " was planned as ", ipc::DispositionName(planned.step.disposition),
          " but the stub reports ", ipc::OutcomeName(result.outcome)));
    }
    if (result.outcome == ipc::Outcome::kFailed) {
      return absl::FailedPreconditionError(absl::StrCat(
          planned.mechanism, ": step ", index, " ", ipc::ActionName(planned.step.action),
          " failed: ", ipc::ActionSyscall(planned.step.action), ": ",
          strerror(result.errno_value), " (errno ", result.errno_value, ")"));
    }
  }
  absl::StatusOr<ipc::StubMessage> ready = Receive("ready");
  if (!ready.ok()) return ready.status();
  if (ready->kind != ipc::StubMessage::Kind::kReady) {
    return absl::InvalidArgumentError(absl::StrCat(
        "protocol violation: expected ready, got ",
        ipc::StubMessageKindName(ready->kind)));
  }
  return absl::OkStatus();
}

absl::Status RunSession::VerifyPosture(const Plan& plan) {
  // Without the stub's /proc only its own reports stand (stub-attested).
  if (!stub_visible_) return absl::OkStatus();
  absl::StatusOr<ProcStatus> proc = ReadProcStatus(child_);
  if (!proc.ok()) return proc.status();
  absl::StatusOr<CoreLimit> core = ReadCoreLimit(child_);
  if (!core.ok()) return core.status();
  char cwd[PATH_MAX + 1];
  std::string cwd_link = absl::StrCat("/proc/", child_, "/cwd");
  ssize_t length = readlink(cwd_link.c_str(), cwd, PATH_MAX);
  if (length < 0) return Errno(absl::StrCat("readlink(", cwd_link, ")"));
  if (network_ != nullptr) {
    struct stat expected_ns, actual_ns;
    std::string ns_path = absl::StrCat("/proc/", child_, "/ns/net");
    if (fstat(network_->netns_fd(), &expected_ns) != 0) return Errno("fstat(netns)");
    if (stat(ns_path.c_str(), &actual_ns) != 0) return Errno(absl::StrCat("stat(", ns_path, ")"));
    if (expected_ns.st_ino != actual_ns.st_ino || expected_ns.st_dev != actual_ns.st_dev) {
      return absl::FailedPreconditionError(absl::StrCat(
          "final posture: network namespace is net:[", actual_ns.st_ino,
          "], expected the broker's net:[", expected_ns.st_ino, "]"));
    }
  }
  ExpectedPosture expected{target_, working_directory_};
  for (const ipc::StepResult& result : results_) {
    if (result.outcome != ipc::Outcome::kTolerated) continue;
    Mechanism mechanism = plan.steps[result.index].mechanism;
    expected.bounding_set_degraded |= mechanism == Mechanism::kBoundingSet;
    expected.identity_degraded |= mechanism == Mechanism::kPrivilegeDrop;
    expected.seccomp_degraded |= mechanism == Mechanism::kWorkloadSeccomp;
  }
  absl::Status verified =
      VerifyFinalPosture(*proc, *core, std::string(cwd, length), expected);
  if (!verified.ok()) return verified;
  report_.MarkVerified();
  return absl::OkStatus();
}

// Finds and validates the selected GPUs' device nodes and widens the policy
// for exactly those; a missing or fake node refuses the run.
std::optional<Refusal> RunSession::GrantGpus() {
  bool none = !options_.gpus.all && options_.gpus.indexes.empty();
  if (none) return std::nullopt;
  absl::StatusOr<GpuGrant> grant = DiscoverGpus(options_.gpus, options_.gpu_discovery);
  if (!grant.ok()) {
    return Refusal{ExitKind::kSetupFailed,
                   MechanismError(Mechanism::kGpu, grant.status().code(), grant.status().message())};
  }
  absl::StatusOr<GpuPolicyOutcome> outcome =
      ApplyGpuGrant(*grant, options_.proc_conflict, options_.user_lists_proc_read_only,
                    &options_.policy);
  if (!outcome.ok()) return Refusal{ExitKind::kBadPolicy, outcome.status()};
  MechanismRecord devices;
  devices.mechanism = Mechanism::kGpu;
  devices.action = "grant_device_nodes";
  devices.state = MechanismState::kEnforced;
  devices.reason = absl::StrCat("read-write and ioctl on exactly: ",
                                absl::StrJoin(outcome->granted, ", "));
  devices.evidence = Evidence::kStubAttested;  // through the Landlock ruleset
  // Recorded after the plan's steps, whose results are indexed by step.
  records_after_plan_.push_back(devices);
  MechanismRecord proc;
  proc.mechanism = Mechanism::kGpu;
  proc.action = "proc_write_file";
  proc.state = outcome->proc_promoted ? MechanismState::kEnforced : MechanismState::kSkipped;
  proc.reason = outcome->proc_note;
  proc.evidence = Evidence::kStubAttested;
  records_after_plan_.push_back(proc);
  if (outcome->warn) std::fprintf(stderr, "tether: warning: /proc %s\n", outcome->proc_note.c_str());
  if (events_.has_value()) {
    events_->ConfigState(outcome->proc_promoted ? "Promoted" : "Kept",
                         outcome->warn ? Severity::kMedium : Severity::kInformational,
                         absl::StrCat("/proc ", outcome->proc_note), Mechanism::kGpu, 0,
                         absl::StrJoin(outcome->granted, ", "));
  }
  return std::nullopt;
}

// Makes the namespace and its veth pair now, so that the plan is decided
// from what really happened; the probe's evidence explains a failure.
ProbeResult RunSession::PrepareNetwork(const HostFacts& facts) {
  if (!facts.network_namespace.ok) {
    return {false, facts.network_namespace.errno_value, facts.network_namespace.evidence};
  }
  VethAddresses addresses;
  if (options_.subnet.has_value()) {
    addresses = *options_.subnet;
  } else {
    // A /30 of 10.201.0.0/16 picked by pid, so concurrent runs do not clash.
    uint32_t slot = static_cast<uint32_t>(getpid()) % 16384;
    absl::StatusOr<VethAddresses> derived = ParseVethSubnet(
        absl::StrCat("10.201.", slot / 64, ".", (slot % 64) * 4, "/30"));
    if (!derived.ok()) return {false, EINVAL, std::string(derived.status().message())};
    addresses = *derived;
  }
  absl::StatusOr<std::unique_ptr<IsolatedNetwork>> network =
      IsolatedNetwork::Create(absl::StrCat("tth", getpid()), addresses);
  if (!network.ok()) {
    int error = network.status().code() == absl::StatusCode::kPermissionDenied ? EPERM : EIO;
    return {false, error, std::string(network.status().message())};
  }
  network_ = std::move(*network);
  return {true, 0,
          absl::StrCat("made a network namespace with ", network_->host_ifname(), " ",
                       network_->addresses().host_cidr, " <-> ", network_->sandbox_ifname(),
                       " ", network_->addresses().sandbox_cidr)};
}

// Every privileged object exists by now (stub forked, ruleset and filter
// sent), so the broker gives up what it never needs again.
absl::Status RunSession::RestrictSupervisor() {
  MechanismRecord record;
  record.mechanism = Mechanism::kSupervisorSeccomp;
  record.action = "broker_seccomp_filter";
  absl::StatusOr<std::vector<struct sock_filter>> program = policy::CompileSupervisorFilter();
  absl::Status loaded = program.ok() ? policy::RestrictSelfWithSeccomp(*program)
                                     : program.status();
  if (loaded.ok()) {
    absl::StatusOr<ProcStatus> self = ReadProcStatus(getpid());
    if (!self.ok()) return self.status();
    if (self->seccomp_mode != 2) {
      return absl::InternalError(absl::StrCat(
          "supervisor_seccomp: loaded, but /proc/self/status says Seccomp ",
          self->seccomp_mode));
    }
    record.state = MechanismState::kEnforced;
    record.reason = "the broker denies itself ptrace, kexec, modules, bpf, perf, "
                    "userfaultfd, keyctl, mount, execve and more";
    record.evidence = Evidence::kVerified;
    report_.mechanisms.push_back(record);
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
  report_.mechanisms.push_back(record);
  return absl::OkStatus();
}

absl::Status RunSession::Handshake() {
  absl::StatusOr<ipc::StubMessage> hello = Receive("hello");
  if (!hello.ok()) return hello.status();
  if (hello->kind != ipc::StubMessage::Kind::kHello) {
    return absl::InvalidArgumentError(absl::StrCat(
        "protocol violation: expected hello, got ", ipc::StubMessageKindName(hello->kind)));
  }
  hello_received_ = true;
  if (sidecar_) {
    // Whether the broker sees the stub's /proc was decided by the kernel
    // before the Hello (Serve); a visible stub that names another pid lies.
    if (options_.sidecar_token.has_value() &&
        !TokensEqual(*options_.sidecar_token, hello->hello.token)) {
      return absl::PermissionDeniedError("the sidecar stub presented a wrong or no token");
    }
    if (stub_visible_ && hello->hello.pid != child_) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the sidecar stub lied in its Hello: it claims pid ", hello->hello.pid,
          " but shares the broker's pid namespace as pid ", child_));
    }
    if (hello->hello.requested_argv.empty()) {
      return absl::InvalidArgumentError("the sidecar stub sent no command to run");
    }
    // The stub's path names a directory of its own root: normalised here,
    // resolved by the kernel when the stub enters it.
    working_directory_ = NormalizeLexically(hello->hello.cwd.empty() ? "/" : hello->hello.cwd);
    requested_envp_ = hello->hello.requested_envp;
  }
  if (stub_visible_) {
    // SO_PEERCRED on a socketpair names its creator, the broker itself; the
    // stub's pid is checked against the forked child instead.
    absl::StatusOr<ProcStatus> proc = ReadProcStatus(child_);
    if (!proc.ok()) return proc.status();
    absl::Status honest = CheckHelloAgainstProc(hello->hello, *proc, child_);
    if (!honest.ok()) return honest;
  }
  report_.landlock_abi = hello->hello.landlock_abi;

  std::vector<UniqueFd> fds;
  absl::StatusOr<Plan> plan = MakePlan(hello->hello, &fds);
  if (!plan.ok()) return plan.status();
  report_.SetPlan(*plan);
  for (const MechanismRecord& record : records_after_plan_) report_.mechanisms.push_back(record);
  ipc::BrokerMessage message;
  message.kind = ipc::BrokerMessage::Kind::kPlan;
  message.plan = plan->ToWire();
  std::vector<int> raw_fds;
  for (const UniqueFd& fd : fds) raw_fds.push_back(fd.get());
  absl::Status sent = Send(message, raw_fds);
  if (!sent.ok()) return sent;
  fds.clear();
  if (events_.has_value()) {
    events_->ConfigState("Validated", Severity::kInformational,
                         absl::StrCat("hello checked against /proc; plan of ",
                                      plan->steps.size(), " steps sent"),
                         Mechanism::kPlan, 0, "");
  }

  absl::Status restricted = RestrictSupervisor();
  if (!restricted.ok()) return restricted;

  absl::Status results = CollectResults(*plan);
  if (!results.ok()) return results;
  absl::Status posture = VerifyPosture(*plan);
  if (!posture.ok()) return posture;
  ipc::BrokerMessage go;
  go.kind = ipc::BrokerMessage::Kind::kGo;
  return Send(go, {});
}

int RunSession::Supervise() {
  int exec_errno = 0;
  bool socket_open = true;
  while (true) {
    struct pollfd fds[3] = {{pidfd_.get(), POLLIN, 0},
                            {signal_fd_.get(), POLLIN, 0},
                            {socket_open ? socket_.get() : -1, POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "tether: poll: %s\n", strerror(errno));
      KillAndReapStub();
      return kExitSetupFailed;
    }
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
        syscall(SYS_pidfd_send_signal, pidfd_.get(), info.ssi_signo, nullptr, 0);
      }
    }
    if (socket_open && fds[2].revents != 0) {
      ipc::ReceivedFrame frame = ipc::ReceiveFrame(socket_.get());
      ipc::StubMessage message;
      std::string error;
      if (frame.ok() && ipc::Decode(frame, &message, &error) &&
          message.kind == ipc::StubMessage::Kind::kExecFailed) {
        exec_errno = message.exec_errno;
      }
      // EOF: the socket was closed by execve (close-on-exec), or the stub ended.
      socket_open = false;
      socket_.reset();
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
        return exec_errno == ENOENT ? kExitNotFound : kExitCannotExecute;
      }
      if (info.si_code == CLD_EXITED) return info.si_status;
      return 128 + info.si_status;
    }
  }
}

// Opened before anything runs, so that a bad --report or --events is a
// usage error, and never through a planted link (output_file.h).
absl::Status RunSession::OpenOutputs() {
  if (options_.report_path.has_value() && !report_fd_.valid()) {
    absl::StatusOr<UniqueFd> report = OpenOutputFile(*options_.report_path, OutputMode::kTruncate);
    if (!report.ok()) {
      return absl::Status(report.status().code(),
                          absl::StrCat("--report: ", report.status().message()));
    }
    report_fd_ = std::move(*report);
    report_display_ = *options_.report_path;
  }
  if (options_.events_fd >= 0) {
    absl::StatusOr<OcsfEventLog> events = OcsfEventLog::Share(options_.events_fd);
    if (!events.ok()) return events.status();
    events_.emplace(std::move(*events));
  } else if (options_.events_path.has_value()) {
    absl::StatusOr<OcsfEventLog> events = OcsfEventLog::Open(*options_.events_path);
    if (!events.ok()) {
      return absl::Status(events.status().code(),
                          absl::StrCat("--events: ", events.status().message()));
    }
    events_.emplace(std::move(*events));
  }
  return absl::OkStatus();
}

void RunSession::WriteReport() {
  if (!report_fd_.valid() && report_dir_fd_ >= 0 && hello_received_) {
    absl::StatusOr<std::string> name = UnpredictableReportName(child_);
    std::string display = absl::StrCat(report_dir_display_, "/", name.ok() ? *name : "?");
    absl::StatusOr<UniqueFd> report =
        name.ok() ? OpenOutputFileAt(report_dir_fd_, *name, OutputMode::kTruncate, display)
                  : absl::StatusOr<UniqueFd>(name.status());
    if (!report.ok()) {
      std::fprintf(stderr, "tether: no report for stub pid %d: %s\n", child_,
                   std::string(report.status().message()).c_str());
      return;
    }
    report_fd_ = std::move(*report);
    report_display_ = display;
  }
  if (!report_fd_.valid()) return;
  absl::Status written = ReplaceContent(report_fd_.get(), report_.ToJson(), report_display_);
  if (!written.ok()) {
    std::fprintf(stderr, "tether: cannot write the report: %s\n",
                 std::string(written.message()).c_str());
  }
}

void RunSession::EmitPostureEvents() {
  if (!events_.has_value()) return;
  // What still confines a workload whose bounding set stays: in this order.
  std::vector<Mechanism> enforced;
  for (const MechanismRecord& record : report_.mechanisms) {
    bool confines = record.mechanism == Mechanism::kLandlock ||
                    record.mechanism == Mechanism::kWorkloadSeccomp ||
                    record.mechanism == Mechanism::kNoNewPrivs ||
                    record.mechanism == Mechanism::kPrivilegeDrop;
    if (record.state == MechanismState::kEnforced && confines &&
        std::find(enforced.begin(), enforced.end(), record.mechanism) == enforced.end()) {
      enforced.push_back(record.mechanism);
    }
  }
  bool degraded = false;
  for (const MechanismRecord& record : report_.mechanisms) {
    if (record.state != MechanismState::kDegraded &&
        record.state != MechanismState::kUnavailable) {
      continue;
    }
    degraded = true;
    events_->ConfigState("Degraded", Severity::kMedium,
                         absl::StrCat(MechanismName(record.mechanism), " ",
                                      MechanismStateName(record.state), ": ", record.reason),
                         record.mechanism, record.errno_value, record.reason);
    if (record.mechanism == Mechanism::kBoundingSet) {
      // Truthful about what is left: Landlock may be degraded too.
      events_->DetectionFinding(
          "capability bounding set not cleared",
          "the workload runs with a non-empty capability bounding set; exec of a "
          "file with capabilities is still blocked only by what remains enforced",
          record.mechanism, record.errno_value, enforced);
    }
  }
  events_->ConfigState("Created", Severity::kInformational,
                       degraded ? "sandbox posture verified with degraded mechanisms"
                                : "sandbox posture verified: every mechanism enforced",
                       Mechanism::kPosture, 0, "");
}

int RunSession::Fail(const absl::Status& status) {
  return Fail(Refusal{ExitKind::kSetupFailed, status});
}

int RunSession::Fail(const Refusal& refusal) {
  const absl::Status& status = refusal.status;
  if (refusal.exit == ExitKind::kBadPolicy) {
    // The policy contradicts itself: nothing was set up yet.
    std::fprintf(stderr, "tether: bad policy: %s\n", std::string(status.message()).c_str());
    return kExitBadPolicy;
  }
  KillAndReapStub();
  report_.outcome = "refused";
  report_.error = std::string(status.message());
  WriteReport();
  if (events_.has_value()) {
    events_->ConfigState("Refused", Severity::kHigh,
                         absl::StrCat("sandbox set-up refused: ", status.message()),
                         Mechanism::kSetup, 0, "");
    if (sidecar_) {
      // A stub elsewhere failed the handshake: possibly hostile.
      events_->DetectionFinding("sidecar stub dropped",
                                absl::StrCat("stub pid ", child_, ": ", status.message()),
                                Mechanism::kSidecar, 0, {});
    }
  }
  if (interrupted_by_ != 0) {
    std::fprintf(stderr, "tether: %s\n", std::string(status.message()).c_str());
    return 128 + interrupted_by_;
  }
  // A strict refusal of a mechanism the policy may relax says how.
  std::string hint;
  std::optional<Mechanism> mechanism = MechanismOf(status);
  if (mechanism.has_value() && InfoOf(*mechanism).relaxable &&
      !options_.enforcement.best_effort(*mechanism)) {
    hint = absl::StrCat(" (to run without it: --best-effort ", MechanismName(*mechanism),
                        ", or enforcement.", MechanismName(*mechanism),
                        " = \"best_effort\" in the policy)");
  }
  std::fprintf(stderr, "tether: sandbox set-up failed: %s%s\n",
               std::string(status.message()).c_str(), hint.c_str());
  return kExitSetupFailed;
}

int RunSession::Serve(UniqueFd socket, pid_t peer_pid, uid_t peer_uid, gid_t peer_gid) {
  sidecar_ = true;
  socket_ = std::move(socket);
  child_ = peer_pid;
  stub_visible_ = PeerSharesPidNamespace(socket_.get(), peer_pid);
  reaped_ = true;  // not the broker's child: never killed or reaped here
  deadline_ = absl::Now() + options_.handshake_timeout;
  // Without a policy user, the workload keeps the stub's own identity (a
  // root stub drops to nobody).
  absl::StatusOr<TargetIdentity> target =
      ResolveTargetIdentity(options_.user, peer_uid, peer_gid, {});
  if (!target.ok()) return Fail(target.status());
  absl::Status groups = ApplyGroups(options_.group, options_.supplementary_groups, &*target);
  if (!groups.ok()) return Fail(groups);
  target_ = *target;
  report_.target = target_;
  report_.enforcement = options_.enforcement;
  absl::Status outputs = OpenOutputs();
  if (!outputs.ok()) return Fail(outputs);
  absl::Status handshake = Handshake();
  if (!handshake.ok()) return Fail(handshake);
  report_.outcome = "running";
  WriteReport();
  EmitPostureEvents();
  // EOF: the stub exec'd (its socket is close-on-exec); ExecFailed: it did
  // not. A stub that says neither is taken as running once the deadline
  // passes, so that it cannot hold a handshake slot (or a drain) forever.
  struct pollfd answered = {socket_.get(), POLLIN, 0};
  int64_t wait_ms = std::max<int64_t>(1000, absl::ToInt64Milliseconds(deadline_ - absl::Now()));
  while (poll(&answered, 1, static_cast<int>(wait_ms)) < 0 && errno == EINTR) {
  }
  if (answered.revents != 0) {
    ipc::ReceivedFrame frame = ipc::ReceiveFrame(socket_.get());
    ipc::StubMessage message;
    std::string error;
    if (frame.ok() && ipc::Decode(frame, &message, &error) &&
        message.kind == ipc::StubMessage::Kind::kExecFailed) {
      std::fprintf(stderr, "tether serve: the stub could not execute its command: %s\n",
                   strerror(message.exec_errno));
      return message.exec_errno == ENOENT ? kExitNotFound : kExitCannotExecute;
    }
  }
  if (events_.has_value()) events_->ProcessLaunch(child_, {}, target_.uid);
  return 0;
}

void RunSession::WarmUp() {
  if (options_.network_mode == NetworkMode::kHost || !options_.compiled_seccomp.has_value()) {
    return;
  }
  warm_network_ = PrepareNetwork(CachedHostFacts(*options_.compiled_seccomp));
}

void RunSession::HoldNetworkUntilWorkloadExits() {
  // Unseen workloads: exiting closes the namespace fd, and the kernel
  // deletes the pair with the namespace when the workload is gone.
  if (network_ == nullptr || !stub_visible_) return;
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, child_, 0)));
  if (pidfd.valid()) {
    struct pollfd exited = {pidfd.get(), POLLIN, 0};
    while (poll(&exited, 1, -1) < 0 && errno == EINTR) {
    }
  }
  network_.reset();
}

int RunSession::Run() {
  deadline_ = absl::Now() + options_.handshake_timeout;
  absl::StatusOr<std::string> cwd = CurrentDirectory();
  if (!cwd.ok()) return Fail(cwd.status());
  absl::StatusOr<std::string> canonical =
      CanonicalDirectory(options_.working_directory.value_or(*cwd));
  if (!canonical.ok()) return Fail(canonical.status());
  working_directory_ = *canonical;
  absl::StatusOr<TargetIdentity> target =
      ResolveTargetIdentity(options_.user, getuid(), getgid(), CurrentGroups());
  if (!target.ok()) {
    std::fprintf(stderr, "tether: %s\n", std::string(target.status().message()).c_str());
    return kExitUsage;
  }
  absl::Status groups =
      ApplyGroups(options_.group, options_.supplementary_groups, &*target);
  if (!groups.ok()) {
    std::fprintf(stderr, "tether: bad policy: %s\n", std::string(groups.message()).c_str());
    return kExitBadPolicy;
  }
  target_ = *target;
  report_.target = target_;
  report_.enforcement = options_.enforcement;
  absl::Status outputs = OpenOutputs();
  if (!outputs.ok()) {
    std::fprintf(stderr, "tether: %s\n", std::string(outputs.message()).c_str());
    return kExitUsage;
  }
  for (const std::string& warning : options_.warnings) {
    std::fprintf(stderr, "tether: warning: %s\n", warning.c_str());
  }
  absl::StatusOr<std::string> stub_path =
      options_.stub_path.empty() ? StubBesideBroker() : options_.stub_path;
  absl::StatusOr<UniqueFd> stub_binary =
      stub_path.ok() ? OpenTrustedStub(*stub_path) : absl::StatusOr<UniqueFd>(stub_path.status());
  if (!stub_binary.ok()) return Fail(stub_binary.status());
  stub_binary_ = std::move(*stub_binary);
  if (std::optional<Refusal> refused = GrantGpus(); refused.has_value()) return Fail(*refused);
  absl::Status started = StartStub();
  if (!started.ok()) return Fail(started);
  absl::Status handshake = Handshake();
  if (!handshake.ok()) return Fail(handshake);
  report_.outcome = "running";
  WriteReport();
  EmitPostureEvents();
  if (events_.has_value()) events_->ProcessLaunch(child_, options_.argv, target_.uid);
  int status = Supervise();
  if (events_.has_value()) events_->ProcessExit(child_, status);
  return status;
}

}  // namespace tether::broker
