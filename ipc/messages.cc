#include "ipc/messages.h"

#include <kj/exception.h>

#include "ipc/handshake.capnp.h"
#include "ipc/limits.h"

namespace tether::ipc {
namespace {

constexpr int32_t kMaxErrno = 4095;

bool Fail(std::string* error, std::string message) {
  *error = std::move(message);
  return false;
}

bool ValidErrno(int32_t value) { return value > 0 && value <= kMaxErrno; }

void EncodeIds(const IdTriple& ids, wire::IdTriple::Builder out) {
  out.setReal(ids.real);
  out.setEffective(ids.effective);
  out.setSaved(ids.saved);
}

IdTriple DecodeIds(wire::IdTriple::Reader in) {
  return {in.getReal(), in.getEffective(), in.getSaved()};
}

template <typename T>
void FillList(const std::vector<T>& values, typename ::capnp::List<T>::Builder out) {
  for (size_t i = 0; i < values.size(); ++i) out.set(i, values[i]);
}

template <typename T>
std::vector<T> CopyList(typename ::capnp::List<T>::Reader in) {
  std::vector<T> out;
  out.reserve(in.size());
  for (T value : in) out.push_back(value);
  return out;
}

bool CopyTextList(::capnp::List<::capnp::Text>::Reader in, const char* field,
                  std::vector<std::string>* out, std::string* error) {
  for (auto text : in) {
    std::string value(text.cStr(), text.size());
    if (value.find('\0') != std::string::npos) {
      return Fail(error, std::string(field) + " contains a NUL byte");
    }
    out->push_back(std::move(value));
  }
  return true;
}

void EncodeHello(const Hello& hello, wire::Hello::Builder out) {
  out.setProtocolVersion(hello.protocol_version);
  out.setPid(hello.pid);
  EncodeIds(hello.uids, out.initUids());
  EncodeIds(hello.gids, out.initGids());
  FillList<uint32_t>(hello.groups, out.initGroups(hello.groups.size()));
  auto caps = out.initCaps();
  caps.setEffective(hello.caps.effective);
  caps.setPermitted(hello.caps.permitted);
  caps.setInheritable(hello.caps.inheritable);
  caps.setBounding(hello.caps.bounding);
  caps.setAmbient(hello.caps.ambient);
  out.setNoNewPrivs(hello.no_new_privs);
  out.setSeccompMode(hello.seccomp_mode);
  out.setLandlockAbi(hello.landlock_abi);
  out.setLandlockErrno(hello.landlock_errno);
  out.setAuditArch(hello.audit_arch);
  if (!hello.requested_argv.empty()) {
    auto exec = out.initRequestedExec();
    auto argv = exec.initArgv(hello.requested_argv.size());
    for (size_t i = 0; i < hello.requested_argv.size(); ++i) argv.set(i, hello.requested_argv[i]);
    auto envp = exec.initEnvp(hello.requested_envp.size());
    for (size_t i = 0; i < hello.requested_envp.size(); ++i) envp.set(i, hello.requested_envp[i]);
  }
  if (!hello.cwd.empty()) out.setCwd(hello.cwd);
  if (!hello.token.empty()) out.setToken(hello.token);
  if (!hello.namespace_inodes.empty()) {
    auto inodes = out.initNamespaceInodes(hello.namespace_inodes.size());
    for (size_t i = 0; i < hello.namespace_inodes.size(); ++i) {
      inodes.set(i, hello.namespace_inodes[i]);
    }
  }
}

bool DecodeHello(wire::Hello::Reader in, Hello* out, std::string* error) {
  out->protocol_version = in.getProtocolVersion();
  if (out->protocol_version != wire::PROTOCOL_VERSION) {
    return Fail(error, "hello.protocolVersion " + std::to_string(out->protocol_version) +
                           " is not the supported version " +
                           std::to_string(wire::PROTOCOL_VERSION));
  }
  out->pid = in.getPid();
  if (out->pid <= 0) return Fail(error, "hello.pid must be positive");
  out->uids = DecodeIds(in.getUids());
  out->gids = DecodeIds(in.getGids());
  auto groups = in.getGroups();
  if (groups.size() > kMaxGroups) {
    return Fail(error, "hello.groups has more than NGROUPS_MAX entries");
  }
  out->groups = CopyList<uint32_t>(groups);
  auto caps = in.getCaps();
  out->caps = {caps.getEffective(), caps.getPermitted(), caps.getInheritable(), caps.getBounding(),
               caps.getAmbient()};
  out->no_new_privs = in.getNoNewPrivs();
  out->seccomp_mode = in.getSeccompMode();
  if (out->seccomp_mode > 2) {
    return Fail(error, "hello.seccompMode must be 0, 1 or 2");
  }
  out->landlock_abi = in.getLandlockAbi();
  if (out->landlock_abi < 0 || out->landlock_abi > 64) {
    return Fail(error, "hello.landlockAbi is out of range");
  }
  out->landlock_errno = in.getLandlockErrno();
  if (out->landlock_errno != 0 && !ValidErrno(out->landlock_errno)) {
    return Fail(error, "hello.landlockErrno is not an errno");
  }
  if ((out->landlock_abi == 0) == (out->landlock_errno == 0)) {
    return Fail(error, "hello.landlockErrno must be set exactly when landlockAbi is 0");
  }
  out->audit_arch = in.getAuditArch();
  if (out->audit_arch == 0) return Fail(error, "hello.auditArch is missing");
  if (in.hasRequestedExec()) {
    auto exec = in.getRequestedExec();
    if (!CopyTextList(exec.getArgv(), "hello.requestedExec.argv", &out->requested_argv, error) ||
        !CopyTextList(exec.getEnvp(), "hello.requestedExec.envp", &out->requested_envp, error)) {
      return false;
    }
    if (out->requested_argv.empty() || out->requested_argv[0].empty()) {
      return Fail(error, "hello.requestedExec.argv is empty");
    }
    for (const std::string& var : out->requested_envp) {
      if (var.find('=') == std::string::npos) {
        return Fail(error, "hello.requestedExec.envp has an entry without '='");
      }
    }
  }
  if (in.hasNamespaceInodes()) {
    auto inodes = in.getNamespaceInodes();
    if (inodes.size() > std::size(kNamespaceNames)) {
      return Fail(error, "hello.namespaceInodes has more entries than there are namespaces");
    }
    for (uint64_t inode : inodes) out->namespace_inodes.push_back(inode);
  }
  if (in.hasToken()) {
    out->token = in.getToken();
    if (out->token.size() > 4096) return Fail(error, "hello.token is longer than 4096 bytes");
  }
  if (in.hasCwd()) {
    out->cwd = in.getCwd();
    if (out->cwd.empty() || out->cwd[0] != '/' || out->cwd.find('\0') != std::string::npos) {
      return Fail(error, "hello.cwd must be an absolute path");
    }
  }
  return true;
}

void EncodeStep(const Step& step, wire::Step::Builder out) {
  out.setDisposition(static_cast<wire::Disposition>(step.disposition));
  FillList<int32_t>(step.tolerate_errnos, out.initTolerateErrnos(step.tolerate_errnos.size()));
  auto action = out.initAction();
  switch (step.action) {
    case Action::kSetGroups:
      FillList<uint32_t>(step.groups, action.initSetGroups(step.groups.size()));
      break;
    case Action::kSetResgid: action.setSetResgid(step.id); break;
    case Action::kSetResuid: action.setSetResuid(step.id); break;
    case Action::kClearBoundingSet: action.setClearBoundingSet(); break;
    case Action::kClearInheritableAndAmbient: action.setClearInheritableAndAmbient(); break;
    case Action::kSetNoNewPrivs: action.setSetNoNewPrivs(); break;
    case Action::kSetRlimit: {
      auto rlimit = action.initSetRlimit();
      rlimit.setResource(step.rlimit_resource);
      rlimit.setSoft(step.rlimit_soft);
      rlimit.setHard(step.rlimit_hard);
      break;
    }
    case Action::kLandlockRestrictSelf: action.setLandlockRestrictSelf(step.fd_index); break;
    case Action::kSeccompFilter: action.setSeccompFilter(step.fd_index); break;
    case Action::kParentDeathSignal: {
      auto pdeath = action.initParentDeathSignal();
      pdeath.setSignal(step.signal);
      pdeath.setExpectedParent(step.expected_parent);
      break;
    }
    case Action::kChangeDirectory: action.setChangeDirectory(step.path); break;
    case Action::kJoinNetworkNamespace: action.setJoinNetworkNamespace(step.fd_index); break;
  }
}

bool DecodeStep(wire::Step::Reader in, size_t fd_count, const std::string& where, Step* out,
                std::string* error) {
  auto disposition = in.getDisposition();
  if (static_cast<uint16_t>(disposition) > static_cast<uint16_t>(wire::Disposition::BEST_EFFORT)) {
    return Fail(error, where + ".disposition is unknown");
  }
  out->disposition = static_cast<Disposition>(disposition);
  out->tolerate_errnos = CopyList<int32_t>(in.getTolerateErrnos());
  if (!out->tolerate_errnos.empty() && out->disposition != Disposition::kBestEffort) {
    return Fail(error, where + ".tolerateErrnos is only valid with bestEffort");
  }
  for (int32_t value : out->tolerate_errnos) {
    if (!ValidErrno(value)) return Fail(error, where + ".tolerateErrnos has a non-errno");
  }
  auto action = in.getAction();
  auto check_fd = [&](uint8_t index) {
    out->fd_index = index;
    if (index >= fd_count) {
      return Fail(error, where + " refers to fd " + std::to_string(index) +
                             " but the message carries " + std::to_string(fd_count));
    }
    return true;
  };
  switch (action.which()) {
    case wire::Step::Action::SET_GROUPS:
      out->action = Action::kSetGroups;
      if (action.getSetGroups().size() > kMaxGroups) {
        return Fail(error, where + ".setGroups has more than NGROUPS_MAX entries");
      }
      out->groups = CopyList<uint32_t>(action.getSetGroups());
      return true;
    case wire::Step::Action::SET_RESGID:
      out->action = Action::kSetResgid;
      out->id = action.getSetResgid();
      return true;
    case wire::Step::Action::SET_RESUID:
      out->action = Action::kSetResuid;
      out->id = action.getSetResuid();
      return true;
    case wire::Step::Action::CLEAR_BOUNDING_SET:
      out->action = Action::kClearBoundingSet;
      return true;
    case wire::Step::Action::CLEAR_INHERITABLE_AND_AMBIENT:
      out->action = Action::kClearInheritableAndAmbient;
      return true;
    case wire::Step::Action::SET_NO_NEW_PRIVS: out->action = Action::kSetNoNewPrivs; return true;
    case wire::Step::Action::SET_RLIMIT: {
      out->action = Action::kSetRlimit;
      auto rlimit = action.getSetRlimit();
      out->rlimit_resource = rlimit.getResource();
      out->rlimit_soft = rlimit.getSoft();
      out->rlimit_hard = rlimit.getHard();
      if (out->rlimit_soft > out->rlimit_hard) {
        return Fail(error, where + ".setRlimit soft limit exceeds hard limit");
      }
      return true;
    }
    case wire::Step::Action::LANDLOCK_RESTRICT_SELF:
      out->action = Action::kLandlockRestrictSelf;
      return check_fd(action.getLandlockRestrictSelf());
    case wire::Step::Action::SECCOMP_FILTER:
      out->action = Action::kSeccompFilter;
      return check_fd(action.getSeccompFilter());
    case wire::Step::Action::PARENT_DEATH_SIGNAL:
      out->action = Action::kParentDeathSignal;
      out->signal = action.getParentDeathSignal().getSignal();
      out->expected_parent = action.getParentDeathSignal().getExpectedParent();
      if (out->signal <= 0 || out->signal > 64) {
        return Fail(error, where + ".parentDeathSignal.signal is out of range");
      }
      return true;
    case wire::Step::Action::JOIN_NETWORK_NAMESPACE:
      out->action = Action::kJoinNetworkNamespace;
      return check_fd(action.getJoinNetworkNamespace());
    case wire::Step::Action::CHANGE_DIRECTORY: {
      out->action = Action::kChangeDirectory;
      auto path = action.getChangeDirectory();
      out->path.assign(path.cStr(), path.size());
      if (out->path.empty() || out->path[0] != '/' || out->path.find('\0') != std::string::npos) {
        return Fail(error, where + ".changeDirectory must be an absolute path");
      }
      return true;
    }
  }
  return Fail(error, where + ".action is unknown");
}

bool DecodeStubMessage(wire::StubMessage::Reader in, size_t fd_count, StubMessage* out,
                       std::string* error) {
  if (fd_count != 0) return Fail(error, "the stub may not send file descriptors");
  switch (in.which()) {
    case wire::StubMessage::HELLO:
      out->kind = StubMessage::Kind::kHello;
      return DecodeHello(in.getHello(), &out->hello, error);
    case wire::StubMessage::STEP_RESULT: {
      out->kind = StubMessage::Kind::kStepResult;
      auto result = in.getStepResult();
      out->step_result.index = result.getIndex();
      if (out->step_result.index >= kMaxPlanSteps) {
        return Fail(error, "stepResult.index is out of range");
      }
      auto outcome = result.getOutcome();
      if (static_cast<uint16_t>(outcome) > static_cast<uint16_t>(wire::Outcome::FAILED)) {
        return Fail(error, "stepResult.outcome is unknown");
      }
      out->step_result.outcome = static_cast<Outcome>(outcome);
      out->step_result.errno_value = result.getErrno();
      out->step_result.elapsed_micros = result.getElapsedMicros();
      bool needs_errno = out->step_result.outcome == Outcome::kTolerated ||
                         out->step_result.outcome == Outcome::kFailed;
      if (needs_errno ? !ValidErrno(out->step_result.errno_value)
                      : out->step_result.errno_value != 0) {
        return Fail(error, std::string("stepResult.errno does not fit outcome ") +
                               OutcomeName(out->step_result.outcome));
      }
      return true;
    }
    case wire::StubMessage::READY: out->kind = StubMessage::Kind::kReady; return true;
    case wire::StubMessage::EXEC_FAILED:
      out->kind = StubMessage::Kind::kExecFailed;
      out->exec_errno = in.getExecFailed();
      if (!ValidErrno(out->exec_errno)) {
        return Fail(error, "execFailed is not an errno");
      }
      return true;
  }
  return Fail(error, "stub message kind is unknown");
}

bool DecodeBrokerMessage(wire::BrokerMessage::Reader in, size_t fd_count, BrokerMessage* out,
                         std::string* error) {
  switch (in.which()) {
    case wire::BrokerMessage::PLAN: {
      out->kind = BrokerMessage::Kind::kPlan;
      auto plan = in.getPlan();
      if (plan.getProtocolVersion() != wire::PROTOCOL_VERSION) {
        return Fail(error, "plan.protocolVersion is not supported");
      }
      auto steps = plan.getSteps();
      if (steps.size() > kMaxPlanSteps) return Fail(error, "plan has too many steps");
      for (size_t i = 0; i < steps.size(); ++i) {
        Step step;
        if (!DecodeStep(steps[i], fd_count, "plan.steps[" + std::to_string(i) + "]", &step,
                        error)) {
          return false;
        }
        out->plan.steps.push_back(std::move(step));
      }
      auto exec = plan.getExec();
      if (!CopyTextList(exec.getArgv(), "plan.exec.argv", &out->plan.exec.argv, error) ||
          !CopyTextList(exec.getEnvp(), "plan.exec.envp", &out->plan.exec.envp, error)) {
        return false;
      }
      if (out->plan.exec.argv.empty() || out->plan.exec.argv[0].empty()) {
        return Fail(error, "plan.exec.argv is empty");
      }
      out->plan.exec.as_init = exec.getAsInit();
      out->plan.exec.take_terminal = exec.getTakeTerminal();
      return true;
    }
    case wire::BrokerMessage::GO:
      out->kind = BrokerMessage::Kind::kGo;
      return fd_count == 0 || Fail(error, "go may not carry file descriptors");
    case wire::BrokerMessage::ABORT:
      out->kind = BrokerMessage::Kind::kAbort;
      out->abort_reason = in.getAbort();
      return true;
  }
  return Fail(error, "broker message kind is unknown");
}

template <typename Root, typename Out, typename DecodeFn>
bool DecodeFrame(ReceivedFrame& frame, Out* out, std::string* error, DecodeFn decode) {
  if (!frame.ok()) return Fail(error, FrameErrorName(frame.error));
  bool ok = false;
  kj::Maybe<kj::Exception> exception = kj::runCatchingExceptions(
      [&] { ok = decode(frame.template Get<Root>(), frame.fds.size(), out, error); });
  KJ_IF_MAYBE (e, exception) {
    return Fail(error, std::string("malformed message: ") + e->getDescription().cStr());
  }
  return ok;
}

}  // namespace

const char* ActionName(Action action) {
  switch (action) {
    case Action::kSetGroups: return "set_groups";
    case Action::kSetResgid: return "set_resgid";
    case Action::kSetResuid: return "set_resuid";
    case Action::kClearBoundingSet: return "clear_bounding_set";
    case Action::kClearInheritableAndAmbient: return "clear_inheritable_and_ambient";
    case Action::kSetNoNewPrivs: return "set_no_new_privs";
    case Action::kSetRlimit: return "set_rlimit";
    case Action::kLandlockRestrictSelf: return "landlock_restrict_self";
    case Action::kSeccompFilter: return "seccomp_filter";
    case Action::kParentDeathSignal: return "parent_death_signal";
    case Action::kChangeDirectory: return "change_directory";
    case Action::kJoinNetworkNamespace: return "join_network_namespace";
  }
  return "unknown";
}

const char* ActionSyscall(Action action) {
  switch (action) {
    case Action::kSetGroups: return "setgroups";
    case Action::kSetResgid: return "setresgid";
    case Action::kSetResuid: return "setresuid";
    case Action::kClearBoundingSet: return "prctl(PR_CAPBSET_DROP)";
    case Action::kClearInheritableAndAmbient: return "prctl(PR_CAP_AMBIENT)/capset";
    case Action::kSetNoNewPrivs: return "prctl(PR_SET_NO_NEW_PRIVS)";
    case Action::kSetRlimit: return "setrlimit";
    case Action::kLandlockRestrictSelf: return "landlock_restrict_self";
    case Action::kSeccompFilter: return "seccomp(SECCOMP_SET_MODE_FILTER)";
    case Action::kParentDeathSignal: return "prctl(PR_SET_PDEATHSIG)";
    case Action::kChangeDirectory: return "chdir";
    case Action::kJoinNetworkNamespace: return "setns(CLONE_NEWNET)";
  }
  return "unknown";
}

const char* DispositionName(Disposition disposition) {
  switch (disposition) {
    case Disposition::kEnforce: return "enforce";
    case Disposition::kSkipAlreadySatisfied: return "skip_already_satisfied";
    case Disposition::kBestEffort: return "best_effort";
  }
  return "unknown";
}

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk: return "ok";
    case Outcome::kSkipped: return "skipped";
    case Outcome::kTolerated: return "tolerated";
    case Outcome::kFailed: return "failed";
  }
  return "unknown";
}

const char* StubMessageKindName(StubMessage::Kind kind) {
  switch (kind) {
    case StubMessage::Kind::kHello: return "hello";
    case StubMessage::Kind::kStepResult: return "stepResult";
    case StubMessage::Kind::kReady: return "ready";
    case StubMessage::Kind::kExecFailed: return "execFailed";
  }
  return "unknown";
}

void Encode(const StubMessage& message, capnp::MessageBuilder& builder) {
  auto root = builder.initRoot<wire::StubMessage>();
  switch (message.kind) {
    case StubMessage::Kind::kHello: EncodeHello(message.hello, root.initHello()); break;
    case StubMessage::Kind::kStepResult: {
      auto result = root.initStepResult();
      result.setIndex(message.step_result.index);
      result.setOutcome(static_cast<wire::Outcome>(message.step_result.outcome));
      result.setErrno(message.step_result.errno_value);
      result.setElapsedMicros(message.step_result.elapsed_micros);
      break;
    }
    case StubMessage::Kind::kReady: root.setReady(); break;
    case StubMessage::Kind::kExecFailed: root.setExecFailed(message.exec_errno); break;
  }
}

void Encode(const BrokerMessage& message, capnp::MessageBuilder& builder) {
  auto root = builder.initRoot<wire::BrokerMessage>();
  switch (message.kind) {
    case BrokerMessage::Kind::kPlan: {
      auto plan = root.initPlan();
      plan.setProtocolVersion(wire::PROTOCOL_VERSION);
      auto steps = plan.initSteps(message.plan.steps.size());
      for (size_t i = 0; i < message.plan.steps.size(); ++i) {
        EncodeStep(message.plan.steps[i], steps[i]);
      }
      auto exec = plan.initExec();
      auto argv = exec.initArgv(message.plan.exec.argv.size());
      for (size_t i = 0; i < message.plan.exec.argv.size(); ++i) {
        argv.set(i, message.plan.exec.argv[i]);
      }
      auto envp = exec.initEnvp(message.plan.exec.envp.size());
      for (size_t i = 0; i < message.plan.exec.envp.size(); ++i) {
        envp.set(i, message.plan.exec.envp[i]);
      }
      exec.setAsInit(message.plan.exec.as_init);
      exec.setTakeTerminal(message.plan.exec.take_terminal);
      break;
    }
    case BrokerMessage::Kind::kGo: root.setGo(); break;
    case BrokerMessage::Kind::kAbort: root.setAbort(message.abort_reason); break;
  }
}

bool Decode(ReceivedFrame& frame, StubMessage* out, std::string* error) {
  return DecodeFrame<wire::StubMessage>(frame, out, error, DecodeStubMessage);
}

bool Decode(ReceivedFrame& frame, BrokerMessage* out, std::string* error) {
  return DecodeFrame<wire::BrokerMessage>(frame, out, error, DecodeBrokerMessage);
}

}  // namespace tether::ipc
