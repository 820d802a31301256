#ifndef TETHER_IPC_MESSAGES_H_
#define TETHER_IPC_MESSAGES_H_

// Plain C++ views of the handshake messages. Decoding copies everything out
// of the Cap'n Proto reader inside one exception boundary and checks ranges
// and shapes, so the rest of the code never touches untrusted readers.

#include <capnp/message.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ipc/frame.h"

namespace tether::ipc {

struct IdTriple {
  uint32_t real = 0;
  uint32_t effective = 0;
  uint32_t saved = 0;
  bool operator==(const IdTriple&) const = default;
};

struct CapabilitySets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
  uint64_t bounding = 0;
  uint64_t ambient = 0;
  bool operator==(const CapabilitySets&) const = default;
};

struct Hello {
  uint32_t protocol_version = 0;
  int32_t pid = 0;
  IdTriple uids;
  IdTriple gids;
  std::vector<uint32_t> groups;
  CapabilitySets caps;
  bool no_new_privs = false;
  uint8_t seccomp_mode = 0;
  int32_t landlock_abi = 0;
  int32_t landlock_errno = 0;
  uint32_t audit_arch = 0;
  // Sidecar mode: what the stub was started to run; empty in local mode.
  std::vector<std::string> requested_argv;
  std::vector<std::string> requested_envp;
  std::string cwd;
  std::string token;
  // The stub's namespaces (kNamespaceNames order), 0 where unknown.
  std::vector<uint64_t> namespace_inodes;
};

enum class Disposition { kEnforce, kSkipAlreadySatisfied, kBestEffort };

enum class Action {
  kSetGroups,
  kSetResgid,
  kSetResuid,
  kClearBoundingSet,
  kClearInheritableAndAmbient,
  kSetNoNewPrivs,
  kSetRlimit,
  kLandlockRestrictSelf,
  kSeccompFilter,
  kParentDeathSignal,
  kChangeDirectory,
  kJoinNetworkNamespace,
};

const char* ActionName(Action action);
// The system call a step makes, for error messages.
const char* ActionSyscall(Action action);
const char* DispositionName(Disposition disposition);

struct Step {
  Disposition disposition = Disposition::kEnforce;
  std::vector<int32_t> tolerate_errnos;
  Action action = Action::kSetNoNewPrivs;
  std::vector<uint32_t> groups;  // kSetGroups
  uint32_t id = 0;               // kSetResgid, kSetResuid
  uint32_t rlimit_resource = 0;  // kSetRlimit
  uint64_t rlimit_soft = 0;
  uint64_t rlimit_hard = 0;
  uint8_t fd_index = 0;  // kLandlockRestrictSelf, kSeccompFilter,
                         // kJoinNetworkNamespace
  int32_t signal = 0;    // kParentDeathSignal
  int32_t expected_parent = 0;
  std::string path;  // kChangeDirectory
};

// The namespaces a Hello names, in its order.
inline constexpr const char* kNamespaceNames[] = {"pid", "mnt", "ipc", "uts", "cgroup", "net"};

struct ExecRequest {
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  bool as_init = false;        // fork the workload and stay as its init
  bool take_terminal = false;  // as_init: the workload leads the terminal's foreground
};

struct Plan {
  std::vector<Step> steps;
  ExecRequest exec;
};

enum class Outcome { kOk, kSkipped, kTolerated, kFailed };
const char* OutcomeName(Outcome outcome);

struct StepResult {
  uint32_t index = 0;
  Outcome outcome = Outcome::kOk;
  int32_t errno_value = 0;
  uint32_t elapsed_micros = 0;  // for the launch breakdown only
};

struct StubMessage {
  enum class Kind { kHello, kStepResult, kReady, kExecFailed };
  Kind kind = Kind::kReady;
  Hello hello;
  StepResult step_result;
  int32_t exec_errno = 0;
};

struct BrokerMessage {
  enum class Kind { kPlan, kGo, kAbort };
  Kind kind = Kind::kGo;
  Plan plan;
  std::string abort_reason;
};

const char* StubMessageKindName(StubMessage::Kind kind);

void Encode(const StubMessage& message, capnp::MessageBuilder& builder);
void Encode(const BrokerMessage& message, capnp::MessageBuilder& builder);

// Decode and validate. On failure `error` names the field and the problem.
bool Decode(ReceivedFrame& frame, StubMessage* out, std::string* error);
bool Decode(ReceivedFrame& frame, BrokerMessage* out, std::string* error);

}  // namespace tether::ipc

#endif  // TETHER_IPC_MESSAGES_H_
