#ifndef TETHER_STUB_SESSION_H_
#define TETHER_STUB_SESSION_H_

// The stub's side of the handshake, in the pieces the protocol names, so
// that test stubs can tell lies by composing them differently.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "ipc/messages.h"
#include "ipc/unique_fd.h"
#include "kernel/spawn.h"

namespace tether::stub {

// Exit status of the stub when the sandbox could not be set up.
inline constexpr int kSetupFailedExit = 125;

// Leaves exactly stdin/stdout/stderr and the socket open (the socket
// close-on-exec), so nothing the stub inherited reaches the workload.
bool PrepareDescriptors(int socket_fd);

bool SendHello(int socket_fd, const ipc::Hello& hello);

struct ReceivedPlan {
  ipc::Plan plan;
  std::vector<UniqueFd> fds;
  // The stack of the workload's child when the stub stays as pid 1
  // (stub/init.h), mapped on receipt: before any step's limit (RLIMIT_AS)
  // could refuse it.
  kernel::ChildStack workload_stack;
};
// Returns the plan, or nothing after printing why (abort, EOF, bad message).
std::optional<ReceivedPlan> ReceivePlan(int socket_fd);

// Runs every step in order, reporting each; false once a step failed.
bool RunPlan(int socket_fd, const ReceivedPlan& plan);

bool SendReady(int socket_fd);

// Waits for Go and execs the workload; returns the exit status to use when
// it could not (abort from the broker, EOF, or execve failing).
int AwaitGoAndExec(int socket_fd, const ReceivedPlan& plan);

// The whole protocol as the production stub speaks it, forked by the broker.
int RunStub(int socket_fd);

struct ConnectOptions {
  std::string socket_path;
  std::string token;
  uid_t broker_uid = 0;  // whoever answers on the socket must run as this uid
  std::vector<std::string> argv;
};

// Sidecar mode: connects to a broker's socket and asks it to run `argv`
// with this process's environment and working directory. Nothing, the
// token least of all, is sent before SO_PEERCRED shows that the socket is
// served by `broker_uid`: whoever could replace the socket could otherwise
// take the token and answer with an empty plan.
int RunStubConnected(const ConnectOptions& options);

}  // namespace tether::stub

#endif  // TETHER_STUB_SESSION_H_
