#include "ipc/frame.h"

#include <capnp/message.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/fd_passing.h"
#include "ipc/handshake.capnp.h"
#include "ipc/limits.h"
#include "ipc/socket_pair_test_base.h"

namespace tether::ipc {
namespace {

class FrameTest : public SocketPairTest {
 protected:
  // Sends raw bytes and fds, bypassing SendFrame's own checks, like a hostile peer.
  void SendRaw(const void* data, size_t size, const std::vector<int>& fds = {}) {
    ASSERT_EQ(SendWithFds(sender_.get(), data, size, fds.data(), fds.size()),
              static_cast<ssize_t>(size));
  }
};

TEST_F(FrameTest, RoundTripsMessageWithFds) {
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::StubMessage>().setExecFailed(2);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  ASSERT_TRUE(SendFrame(sender_.get(), builder, {pipe_fds[1]}).ok());
  close(pipe_fds[1]);
  ReceivedFrame frame = ReceiveFrame(receiver_.get());
  ASSERT_TRUE(frame.ok()) << FrameErrorName(frame.error);
  EXPECT_EQ(frame.Get<wire::StubMessage>().getExecFailed(), 2);
  ASSERT_EQ(frame.fds.size(), 1u);
  EXPECT_EQ(fcntl(frame.fds[0].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ASSERT_EQ(write(frame.fds[0].get(), "x", 1), 1);
  char byte;
  EXPECT_EQ(read(pipe_fds[0], &byte, 1), 1);
  close(pipe_fds[0]);
}

TEST_F(FrameTest, ReportsPeerCloseAsClosed) {
  sender_.reset();
  EXPECT_EQ(ReceiveFrame(receiver_.get()).error, FrameError::kClosed);
}

TEST_F(FrameTest, RejectsOversizedDatagram) {
  int size = 4 << 20;
  ASSERT_EQ(setsockopt(sender_.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
  std::vector<capnp::word> big(kMaxMessageBytes / sizeof(capnp::word) + 64);
  SendRaw(big.data(), big.size() * sizeof(capnp::word));
  EXPECT_EQ(ReceiveFrame(receiver_.get()).error, FrameError::kTooLarge);
}

TEST_F(FrameTest, RejectsAndClosesTooManyFds) {
  int before = CountOpenFds();
  std::vector<int> fds(kMaxFdsPerMessage + 1, STDIN_FILENO);
  capnp::word word = {};
  SendRaw(&word, sizeof(word), fds);
  ReceivedFrame frame = ReceiveFrame(receiver_.get());
  EXPECT_EQ(frame.error, FrameError::kTooManyFds);
  EXPECT_TRUE(frame.fds.empty());
  EXPECT_EQ(CountOpenFds(), before);
}

TEST_F(FrameTest, RefusesToSendTooManyFds) {
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::StubMessage>().setReady();
  std::vector<int> fds(kMaxFdsPerMessage + 1, STDIN_FILENO);
  EXPECT_EQ(SendFrame(sender_.get(), builder, fds).error, FrameError::kTooManyFds);
}

kj::Array<capnp::word> ExecFailedFrame(int error) {
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::StubMessage>().setExecFailed(error);
  return EncodeFrame(builder);
}

TEST_F(FrameTest, SentFramesArriveInOrderOneDatagramEach) {
  std::vector<kj::Array<capnp::word>> frames;
  for (int error = 1; error <= 40; ++error) frames.push_back(ExecFailedFrame(error));
  ASSERT_TRUE(SendFrames(sender_.get(), frames).ok());
  for (int error = 1; error <= 40; ++error) {
    ReceivedFrame frame = ReceiveFrame(receiver_.get());
    ASSERT_TRUE(frame.ok()) << FrameErrorName(frame.error);
    EXPECT_EQ(frame.Get<wire::StubMessage>().getExecFailed(), error);
  }
  sender_.reset();
  EXPECT_EQ(ReceiveFrame(receiver_.get()).error, FrameError::kClosed);
}

TEST_F(FrameTest, FramesWithOneOversizedAreNotSentAtAll) {
  std::vector<kj::Array<capnp::word>> frames;
  frames.push_back(ExecFailedFrame(1));
  frames.push_back(kj::heapArray<capnp::word>(kMaxMessageBytes / sizeof(capnp::word) + 1));
  EXPECT_EQ(SendFrames(sender_.get(), frames).error, FrameError::kTooLarge);
  sender_.reset();
  EXPECT_EQ(ReceiveFrame(receiver_.get()).error, FrameError::kClosed);
}

TEST_F(FrameTest, FramesToAClosedPeerReportClosed) {
  receiver_.reset();
  std::vector<kj::Array<capnp::word>> frames;
  frames.push_back(ExecFailedFrame(1));
  EXPECT_EQ(SendFrames(sender_.get(), frames).error, FrameError::kClosed);
}

// Loads a filter on this process that fails sendmmsg with EPERM.
void DenySendmmsg() {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sendmmsg, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = {sizeof(filter) / sizeof(filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
    _exit(90);
  }
}

// What the stub sends under a workload filter that denies sendmmsg: one
// frame goes out, two do not.
TEST_F(FrameTest, OneFrameIsSentWhereSendmmsgIsDenied) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    DenySendmmsg();
    std::vector<kj::Array<capnp::word>> one;
    one.push_back(ExecFailedFrame(7));
    if (!SendFrames(sender_.get(), one).ok()) _exit(91);
    std::vector<kj::Array<capnp::word>> two;
    two.push_back(ExecFailedFrame(8));
    two.push_back(ExecFailedFrame(9));
    SendResult sent = SendFrames(sender_.get(), two);
    _exit(sent.error == FrameError::kSystem && sent.errno_value == EPERM ? 0 : 92);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ReceivedFrame frame = ReceiveFrame(receiver_.get());
  ASSERT_TRUE(frame.ok()) << FrameErrorName(frame.error);
  EXPECT_EQ(frame.Get<wire::StubMessage>().getExecFailed(), 7);
  sender_.reset();
  EXPECT_EQ(ReceiveFrame(receiver_.get()).error, FrameError::kClosed);
}

TEST_F(FrameTest, RejectsBytesThatAreNotWordAligned) {
  SendRaw("abc", 3);
  EXPECT_EQ(ReceiveFrame(receiver_.get()).error, FrameError::kMalformed);
}

TEST_F(FrameTest, RejectsSegmentTableThatLiesAboutSize) {
  // One segment claimed to be 1000 words long in a two-word datagram.
  uint32_t table[4] = {0, 1000, 0, 0};
  SendRaw(table, sizeof(table));
  EXPECT_EQ(ReceiveFrame(receiver_.get()).error, FrameError::kMalformed);
}

TEST_F(FrameTest, AcceptsPlanWithinTheNestingAndTraversalLimits) {
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::BrokerMessage>().initPlan().initSteps(1)[0].initAction().initSetGroups(1);
  ASSERT_TRUE(SendFrame(sender_.get(), builder).ok());
  ReceivedFrame frame = ReceiveFrame(receiver_.get());
  ASSERT_TRUE(frame.ok());
  // A legitimate plan is well inside the limit.
  EXPECT_EQ(frame.Get<wire::BrokerMessage>().getPlan().getSteps().size(), 1u);
}

}  // namespace
}  // namespace tether::ipc
