#include "ipc/fd_passing.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "ipc/socket_pair_test_base.h"

namespace tether::ipc {
namespace {

using FdPassingTest = SocketPairTest;

TEST_F(FdPassingTest, DeliversBytesAndFdsInOneDatagram) {
  const int fds[] = {STDIN_FILENO, STDERR_FILENO};
  ASSERT_EQ(SendWithFds(sender_.get(), "hello", 5, fds, 2), 5);

  char buffer[16] = {};
  Datagram datagram = ReceiveWithFds(receiver_.get(), buffer, sizeof(buffer));
  ASSERT_EQ(datagram.size, 5);
  EXPECT_EQ(std::memcmp(buffer, "hello", 5), 0);
  ASSERT_EQ(datagram.fds.size(), 2u);
  struct stat sent, received;
  ASSERT_EQ(fstat(STDERR_FILENO, &sent), 0);
  ASSERT_EQ(fstat(datagram.fds[1].get(), &received), 0);
  EXPECT_EQ(sent.st_ino, received.st_ino);
  EXPECT_EQ(sent.st_dev, received.st_dev);
}

TEST_F(FdPassingTest, ReceivedFdsAreCloseOnExec) {
  const int fd = STDERR_FILENO;
  ASSERT_EQ(SendWithFds(sender_.get(), "x", 1, &fd, 1), 1);
  char byte;
  Datagram datagram = ReceiveWithFds(receiver_.get(), &byte, 1);
  ASSERT_EQ(datagram.fds.size(), 1u);
  EXPECT_EQ(fcntl(datagram.fds[0].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST_F(FdPassingTest, RefusesMoreFdsThanTheKernelCarries) {
  std::vector<int> fds(kMaxFdsPerDatagram + 1, STDERR_FILENO);
  errno = 0;
  EXPECT_EQ(SendWithFds(sender_.get(), "x", 1, fds.data(), fds.size()), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(FdPassingTest, ReportsAnOversizedDatagramAsTruncated) {
  ASSERT_EQ(SendWithFds(sender_.get(), "too long", 8, nullptr, 0), 8);
  char buffer[4];
  Datagram datagram = ReceiveWithFds(receiver_.get(), buffer, sizeof(buffer));
  EXPECT_NE(datagram.msg_flags & MSG_TRUNC, 0);
}

// A peer sending more fds than the receiver has room for: what fits arrives
// owned and is closed with the Datagram; the kernel closes the rest.
TEST_F(FdPassingTest, ExcessFdsAreCutAndWhatArrivedIsClosed) {
  const int open_before = CountOpenFds();
  std::vector<int> fds(200, STDERR_FILENO);
  ASSERT_EQ(SendWithFds(sender_.get(), "x", 1, fds.data(), fds.size()), 1);
  {
    char byte;
    Datagram datagram = ReceiveWithFds(receiver_.get(), &byte, 1);
    EXPECT_NE(datagram.msg_flags & MSG_CTRUNC, 0);
    EXPECT_FALSE(datagram.fds.empty());
    EXPECT_LT(datagram.fds.size(), fds.size());
    EXPECT_EQ(CountOpenFds(), open_before + static_cast<int>(datagram.fds.size()));
  }
  EXPECT_EQ(CountOpenFds(), open_before);
}

TEST_F(FdPassingTest, ReportsTheErrnoOfAFailedReceive) {
  char byte;
  Datagram datagram = ReceiveWithFds(-1, &byte, 1);
  EXPECT_EQ(datagram.size, -1);
  EXPECT_EQ(datagram.errno_value, EBADF);
  EXPECT_TRUE(datagram.fds.empty());
}

}  // namespace
}  // namespace tether::ipc
