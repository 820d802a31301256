#include "ipc/fd_passing.h"

#include <errno.h>
#include <sys/socket.h>

#include <cstring>

#include "ipc/limits.h"

namespace tether::ipc {
namespace {

inline constexpr size_t kReceiveFdRoom = 4 * kMaxFdsPerMessage;

}  // namespace

ssize_t SendWithFds(int socket_fd, const void* data, size_t size, const int* fds, size_t fd_count,
                    int flags) {
  if (fd_count > kMaxFdsPerDatagram) {
    errno = EINVAL;
    return -1;
  }
  struct iovec iov = {const_cast<void*>(data), size};
  struct msghdr message = {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerDatagram)];
  if (fd_count > 0) {
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
    std::memset(control, 0, message.msg_controllen);
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&message);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    std::memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * fd_count);
  }
  ssize_t sent;
  do {
    sent = sendmsg(socket_fd, &message, flags | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent;
}

Datagram ReceiveWithFds(int socket_fd, void* buffer, size_t capacity) {
  Datagram datagram;
  struct iovec iov = {buffer, capacity};
  struct msghdr message = {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kReceiveFdRoom)];
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  do {
    datagram.size = recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC);
  } while (datagram.size < 0 && errno == EINTR);
  if (datagram.size < 0) {
    datagram.errno_value = errno;
    return datagram;
  }
  datagram.msg_flags = message.msg_flags;
  for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&message); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&message, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      datagram.fds.emplace_back(fd);
    }
  }
  return datagram;
}

}  // namespace tether::ipc
