// Fuzzes the framing layer on a real socket: the input is sent as one
// datagram with a number of fds chosen by its first byte. Invariants: a
// rejected frame holds no fds (nothing leaks), an accepted one holds at most
// the limit, and the process's fd count is unchanged afterwards.

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ipc/fd_passing.h"
#include "ipc/frame.h"
#include "ipc/limits.h"
#include "ipc/messages.h"

namespace {

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

int CountOpenFds() {
  int count = 0;
  for (int fd = 0; fd < 256; ++fd) count += fcntl(fd, F_GETFD) >= 0;
  return count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > tether::ipc::kMaxMessageBytes + 64) return 0;
  int before = CountOpenFds();
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return 0;
  size_t fd_count = data[0] % (tether::ipc::kMaxFdsPerMessage * 2 + 1);
  std::vector<int> fds(fd_count, STDERR_FILENO);
  int sndbuf = 1 << 20;
  setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  if (tether::ipc::SendWithFds(pair[0], data + 1, size - 1, fds.data(), fd_count, MSG_DONTWAIT) >=
      0) {
    tether::ipc::ReceivedFrame frame = tether::ipc::ReceiveFrame(pair[1]);
    if (!frame.ok()) {
      Check(frame.fds.empty(), "a rejected frame keeps no fds");
    } else {
      Check(frame.fds.size() <= tether::ipc::kMaxFdsPerMessage, "fd limit holds");
      tether::ipc::StubMessage message;
      std::string error;
      if (!tether::ipc::Decode(frame, &message, &error)) {
        Check(!error.empty(), "a rejected message says why");
      } else {
        Check(frame.fds.empty(), "an accepted stub message carries no fds");
      }
    }
  }
  close(pair[0]);
  close(pair[1]);
  Check(CountOpenFds() == before, "no fd leaks");
  return 0;
}
