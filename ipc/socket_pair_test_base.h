#ifndef TETHER_IPC_SOCKET_PAIR_TEST_BASE_H_
#define TETHER_IPC_SOCKET_PAIR_TEST_BASE_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "ipc/unique_fd.h"

namespace tether::ipc {

// A test over a connected SOCK_SEQPACKET pair, the handshake's transport.
class SocketPairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
    sender_.reset(pair[0]);
    receiver_.reset(pair[1]);
  }

  // Counted, rather than compared by number, because received fds take the
  // lowest free numbers wherever they are.
  static int CountOpenFds() {
    int count = 0;
    for (int fd = 0; fd < 1024; ++fd) count += fcntl(fd, F_GETFD) >= 0;
    return count;
  }

  UniqueFd sender_;
  UniqueFd receiver_;
};

}  // namespace tether::ipc

#endif  // TETHER_IPC_SOCKET_PAIR_TEST_BASE_H_
