#include "ipc/messages.h"

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "ipc/handshake.capnp.h"
#include "ipc/socket_pair_test_base.h"

namespace tether::ipc {
namespace {

class MessagesTest : public SocketPairTest {
 protected:
  ReceivedFrame Transfer(capnp::MessageBuilder& builder, const std::vector<int>& fds = {}) {
    EXPECT_TRUE(SendFrame(sender_.get(), builder, fds).ok());
    return ReceiveFrame(receiver_.get());
  }

  template <typename Message>
  bool RoundTrip(const Message& in, Message* out, std::string* error,
                 const std::vector<int>& fds = {}) {
    capnp::MallocMessageBuilder builder;
    Encode(in, builder);
    ReceivedFrame frame = Transfer(builder, fds);
    return Decode(frame, out, error);
  }
};

Hello ValidHello() {
  Hello hello;
  hello.protocol_version = wire::PROTOCOL_VERSION;
  hello.pid = 100;
  hello.uids = {1, 2, 3};
  hello.gids = {4, 5, 6};
  hello.groups = {7, 8};
  hello.caps = {1, 2, 3, 4, 5};
  hello.no_new_privs = true;
  hello.seccomp_mode = 2;
  hello.landlock_abi = 7;
  hello.audit_arch = 0xc000003e;
  return hello;
}

StubMessage HelloMessage(const Hello& hello) {
  StubMessage message;
  message.kind = StubMessage::Kind::kHello;
  message.hello = hello;
  return message;
}

TEST_F(MessagesTest, HelloRoundTripsEveryField) {
  StubMessage out;
  std::string error;
  ASSERT_TRUE(RoundTrip(HelloMessage(ValidHello()), &out, &error)) << error;
  EXPECT_EQ(out.kind, StubMessage::Kind::kHello);
  EXPECT_EQ(out.hello.pid, 100);
  EXPECT_EQ(out.hello.uids, (IdTriple{1, 2, 3}));
  EXPECT_EQ(out.hello.gids, (IdTriple{4, 5, 6}));
  EXPECT_EQ(out.hello.groups, (std::vector<uint32_t>{7, 8}));
  EXPECT_EQ(out.hello.caps, (CapabilitySets{1, 2, 3, 4, 5}));
  EXPECT_TRUE(out.hello.no_new_privs);
  EXPECT_EQ(out.hello.seccomp_mode, 2);
  EXPECT_EQ(out.hello.landlock_abi, 7);
  EXPECT_EQ(out.hello.audit_arch, 0xc000003eu);
}

struct BadHello {
  const char* name;
  void (*mutate)(Hello*);
  const char* expected_error;
};

class BadHelloTest : public MessagesTest, public ::testing::WithParamInterface<BadHello> {};

TEST_P(BadHelloTest, IsRejectedNamingTheField) {
  Hello hello = ValidHello();
  GetParam().mutate(&hello);
  StubMessage out;
  std::string error;
  EXPECT_FALSE(RoundTrip(HelloMessage(hello), &out, &error));
  EXPECT_NE(error.find(GetParam().expected_error), std::string::npos) << error;
}

INSTANTIATE_TEST_SUITE_P(
    Hellos, BadHelloTest,
    ::testing::Values(
        BadHello{"WrongVersion", [](Hello* h) { h->protocol_version = 99; },
                 "hello.protocolVersion"},
        BadHello{"ZeroPid", [](Hello* h) { h->pid = 0; }, "hello.pid"},
        BadHello{"SeccompModeThree", [](Hello* h) { h->seccomp_mode = 3; }, "hello.seccompMode"},
        BadHello{"NegativeLandlockAbi", [](Hello* h) { h->landlock_abi = -1; },
                 "hello.landlockAbi"},
        BadHello{"LandlockAbiWithErrno", [](Hello* h) { h->landlock_errno = 38; },
                 "hello.landlockErrno"},
        BadHello{"NoAuditArch", [](Hello* h) { h->audit_arch = 0; }, "hello.auditArch"}),
    [](const ::testing::TestParamInfo<BadHello>& info) { return info.param.name; });

TEST_F(MessagesTest, StubMessageCarryingFdsIsRejected) {
  StubMessage message;
  message.kind = StubMessage::Kind::kReady;
  StubMessage out;
  std::string error;
  EXPECT_FALSE(RoundTrip(message, &out, &error, {STDIN_FILENO}));
  EXPECT_NE(error.find("may not send file descriptors"), std::string::npos) << error;
}

TEST_F(MessagesTest, StepResultFailedWithoutErrnoIsRejected) {
  StubMessage message;
  message.kind = StubMessage::Kind::kStepResult;
  message.step_result = {0, Outcome::kFailed, 0};
  StubMessage out;
  std::string error;
  EXPECT_FALSE(RoundTrip(message, &out, &error));
  EXPECT_NE(error.find("stepResult.errno"), std::string::npos) << error;
}

TEST_F(MessagesTest, StepResultOkWithErrnoIsRejected) {
  StubMessage message;
  message.kind = StubMessage::Kind::kStepResult;
  message.step_result = {0, Outcome::kOk, 1};
  StubMessage out;
  std::string error;
  EXPECT_FALSE(RoundTrip(message, &out, &error));
}

TEST_F(MessagesTest, StepResultWithUnknownOutcomeIsRejected) {
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::StubMessage>().initStepResult().setOutcome(static_cast<wire::Outcome>(17));
  ReceivedFrame frame = Transfer(builder);
  StubMessage out;
  std::string error;
  EXPECT_FALSE(Decode(frame, &out, &error));
  EXPECT_NE(error.find("outcome is unknown"), std::string::npos) << error;
}

TEST_F(MessagesTest, ExecFailedWithoutErrnoIsRejected) {
  StubMessage message;
  message.kind = StubMessage::Kind::kExecFailed;
  message.exec_errno = 0;
  StubMessage out;
  std::string error;
  EXPECT_FALSE(RoundTrip(message, &out, &error));
}

BrokerMessage PlanMessage() {
  BrokerMessage message;
  message.kind = BrokerMessage::Kind::kPlan;
  Step groups;
  groups.action = Action::kSetGroups;
  groups.groups = {1, 2};
  Step seccomp;
  seccomp.action = Action::kSeccompFilter;
  seccomp.fd_index = 0;
  Step chdir_step;
  chdir_step.action = Action::kChangeDirectory;
  chdir_step.path = "/work";
  message.plan.steps = {groups, seccomp, chdir_step};
  message.plan.exec.argv = {"/bin/true", "x"};
  message.plan.exec.envp = {"PATH=/bin"};
  return message;
}

TEST_F(MessagesTest, PlanRoundTripsStepsAndExecRequest) {
  BrokerMessage out;
  std::string error;
  ASSERT_TRUE(RoundTrip(PlanMessage(), &out, &error, {STDIN_FILENO})) << error;
  ASSERT_EQ(out.plan.steps.size(), 3u);
  EXPECT_EQ(out.plan.steps[0].groups, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(out.plan.steps[1].action, Action::kSeccompFilter);
  EXPECT_EQ(out.plan.steps[2].path, "/work");
  EXPECT_EQ(out.plan.exec.argv, (std::vector<std::string>{"/bin/true", "x"}));
  EXPECT_EQ(out.plan.exec.envp, (std::vector<std::string>{"PATH=/bin"}));
}

TEST_F(MessagesTest, PlanReferringToMissingFdIsRejected) {
  BrokerMessage out;
  std::string error;
  EXPECT_FALSE(RoundTrip(PlanMessage(), &out, &error));
  EXPECT_NE(error.find("refers to fd 0"), std::string::npos) << error;
}

TEST_F(MessagesTest, PlanWithRelativeDirectoryIsRejected) {
  BrokerMessage message = PlanMessage();
  message.plan.steps[2].path = "work";
  BrokerMessage out;
  std::string error;
  EXPECT_FALSE(RoundTrip(message, &out, &error, {STDIN_FILENO}));
  EXPECT_NE(error.find("absolute path"), std::string::npos) << error;
}

TEST_F(MessagesTest, PlanWithoutArgvIsRejected) {
  BrokerMessage message = PlanMessage();
  message.plan.exec.argv.clear();
  BrokerMessage out;
  std::string error;
  EXPECT_FALSE(RoundTrip(message, &out, &error, {STDIN_FILENO}));
  EXPECT_NE(error.find("argv is empty"), std::string::npos) << error;
}

TEST_F(MessagesTest, ToleratedErrnosOnEnforcedStepAreRejected) {
  BrokerMessage message = PlanMessage();
  message.plan.steps[0].tolerate_errnos = {1};
  BrokerMessage out;
  std::string error;
  EXPECT_FALSE(RoundTrip(message, &out, &error, {STDIN_FILENO}));
  EXPECT_NE(error.find("only valid with bestEffort"), std::string::npos) << error;
}

TEST_F(MessagesTest, GarbageBytesAreRejectedWithoutCrashing) {
  // A valid segment table pointing at a root pointer of nonsense.
  uint32_t words[6] = {0, 2, 0xdeadbeef, 0xffffffff, 0x12345678, 0x9abcdef0};
  ASSERT_EQ(send(sender_.get(), words, sizeof(words), 0), static_cast<ssize_t>(sizeof(words)));
  ReceivedFrame frame = ReceiveFrame(receiver_.get());
  StubMessage out;
  std::string error;
  EXPECT_FALSE(frame.ok() && Decode(frame, &out, &error));
}

}  // namespace
}  // namespace tether::ipc
