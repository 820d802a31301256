// Writes seed corpora from real handshake messages: this process's own
// Hello as the stub would send it, step results of every outcome, Ready,
// ExecFailed, and a real Plan. Run by hand when the schema changes:
//   bazel run //tests/fuzz:corpus_gen -- $PWD/tests/fuzz/corpus

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "broker/planner.h"
#include "ipc/messages.h"
#include "stub/self_facts.h"

namespace {

void Write(const std::string& dir, const std::string& name, capnp::MessageBuilder& builder) {
  std::filesystem::create_directories(dir);
  kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(words.asBytes().begin()), words.asBytes().size());
}

template <typename Message>
void WriteMessage(const std::string& dir, const std::string& name, const Message& message,
                  char fd_prefix = -1) {
  capnp::MallocMessageBuilder builder;
  tether::ipc::Encode(message, builder);
  Write(dir, name, builder);
  if (fd_prefix >= 0) {
    // The frame fuzzer's inputs: one byte for the fd count, then the datagram.
    kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
    std::filesystem::create_directories(dir + "/../frame_fuzzer");
    std::ofstream out(dir + "/../frame_fuzzer/" + name, std::ios::binary);
    out.put(fd_prefix);
    out.write(reinterpret_cast<const char*>(words.asBytes().begin()), words.asBytes().size());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: corpus_gen CORPUS_DIR\n");
    return 64;
  }
  std::string stub_dir = std::string(argv[1]) + "/stub_message_fuzzer";
  using tether::ipc::StubMessage;
  StubMessage hello;
  hello.kind = StubMessage::Kind::kHello;
  hello.hello = tether::stub::CollectSelfFacts();
  WriteMessage(stub_dir, "hello_self", hello, 0);
  StubMessage user = hello;
  user.hello.uids = {1000, 1000, 1000};
  user.hello.gids = {1000, 1000, 1000};
  user.hello.caps = {};
  WriteMessage(stub_dir, "hello_predropped", user, 0);
  // The serve-mode greeting: a Hello carrying the command, environment,
  // working directory and token of a sidecar stub.
  StubMessage sidecar = hello;
  sidecar.hello.requested_argv = {"/workload", "--flag", "value"};
  sidecar.hello.requested_envp = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
  sidecar.hello.cwd = "/srv";
  sidecar.hello.token = "s3cret";
  WriteMessage(stub_dir, "hello_sidecar", sidecar, 0);
  StubMessage no_landlock = hello;
  no_landlock.hello.landlock_abi = 0;
  no_landlock.hello.landlock_errno = 38;
  WriteMessage(stub_dir, "hello_no_landlock", no_landlock, 0);
  const tether::ipc::Outcome outcomes[] = {
      tether::ipc::Outcome::kOk, tether::ipc::Outcome::kSkipped, tether::ipc::Outcome::kTolerated,
      tether::ipc::Outcome::kFailed};
  for (auto outcome : outcomes) {
    StubMessage result;
    result.kind = StubMessage::Kind::kStepResult;
    bool has_errno =
        outcome == tether::ipc::Outcome::kTolerated || outcome == tether::ipc::Outcome::kFailed;
    result.step_result = {3, outcome, has_errno ? 1 : 0};
    WriteMessage(stub_dir, std::string("step_result_") + tether::ipc::OutcomeName(outcome), result,
                 0);
  }
  StubMessage ready;
  ready.kind = StubMessage::Kind::kReady;
  WriteMessage(stub_dir, "ready", ready, 1);
  StubMessage exec_failed;
  exec_failed.kind = StubMessage::Kind::kExecFailed;
  exec_failed.exec_errno = 2;
  WriteMessage(stub_dir, "exec_failed", exec_failed, 0);

  tether::broker::PlanInput input;
  input.hello = hello.hello;
  input.target = {65534, 65534, {}};
  input.broker_pid = 1;
  input.working_directory = "/tmp";
  input.argv = {"/bin/true"};
  input.envp = {"PATH=/usr/bin:/bin"};
  absl::StatusOr<tether::broker::Plan> plan = tether::broker::BuildPlan(input);
  if (plan.ok()) {
    tether::ipc::BrokerMessage message;
    message.kind = tether::ipc::BrokerMessage::Kind::kPlan;
    message.plan = plan->ToWire();
    WriteMessage(std::string(argv[1]) + "/broker_message_fuzzer", "plan", message, 2);
  }
  return 0;
}
