#include "ipc/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include <kj/exception.h>

#include "ipc/limits.h"

namespace tether::ipc {

const char* FrameErrorName(FrameError error) {
  switch (error) {
    case FrameError::kNone: return "ok";
    case FrameError::kClosed: return "peer closed the socket";
    case FrameError::kSystem: return "socket error";
    case FrameError::kTooLarge: return "message exceeds the size limit";
    case FrameError::kTooManyFds: return "message carries too many fds";
    case FrameError::kMalformed: return "malformed message";
  }
  return "unknown frame error";
}

SendResult SendFrame(int socket_fd, capnp::MessageBuilder& message,
                     const std::vector<int>& fds) {
  SendResult result;
  if (fds.size() > kMaxFdsPerMessage) {
    result.error = FrameError::kTooManyFds;
    return result;
  }
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  kj::ArrayPtr<const kj::byte> bytes = words.asBytes();
  if (bytes.size() > kMaxMessageBytes) {
    result.error = FrameError::kTooLarge;
    return result;
  }
  struct iovec iov = {const_cast<kj::byte*>(bytes.begin()), bytes.size()};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
  if (!fds.empty()) {
    std::memset(control, 0, sizeof(control));
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent;
  do {
    sent = sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    result.error = errno == EPIPE ? FrameError::kClosed : FrameError::kSystem;
    result.errno_value = errno;
  } else if (static_cast<size_t>(sent) != bytes.size()) {
    result.error = FrameError::kSystem;
    result.errno_value = EMSGSIZE;
  }
  return result;
}

ReceivedFrame ReceiveFrame(int socket_fd) {
  ReceivedFrame frame;
  // One word more than the limit so that an oversized datagram is detected
  // by MSG_TRUNC rather than silently cut to a valid-looking prefix.
  frame.words_ = kj::heapArray<capnp::word>(kMaxMessageBytes / sizeof(capnp::word) + 1);
  struct iovec iov = {frame.words_.begin(), frame.words_.size() * sizeof(capnp::word)};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // Room for more fds than allowed, so excess is seen (and closed) rather
  // than dropped by MSG_CTRUNC alone.
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage * 4)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t received;
  do {
    received = recvmsg(socket_fd, &msg, MSG_CMSG_CLOEXEC);
  } while (received < 0 && errno == EINTR);
  if (received < 0) {
    frame.error = (errno == ECONNRESET) ? FrameError::kClosed : FrameError::kSystem;
    frame.errno_value = errno;
    return frame;
  }
  for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      frame.fds.emplace_back(fd);
    }
  }
  auto fail = [&frame](FrameError error) {
    frame.error = error;
    frame.fds.clear();
    frame.reader_.reset();
    return std::move(frame);
  };
  if (received == 0 && frame.fds.empty()) return fail(FrameError::kClosed);
  if (msg.msg_flags & MSG_TRUNC) return fail(FrameError::kTooLarge);
  if ((msg.msg_flags & MSG_CTRUNC) || frame.fds.size() > kMaxFdsPerMessage) {
    return fail(FrameError::kTooManyFds);
  }
  frame.Finish(received);
  return frame;
}

void ReceivedFrame::Finish(size_t size) {
  if (size % sizeof(capnp::word) != 0 || size == 0 ||
      size > kMaxMessageBytes) {
    error = size > kMaxMessageBytes ? FrameError::kTooLarge : FrameError::kMalformed;
    fds.clear();
    return;
  }
  capnp::ReaderOptions options;
  options.traversalLimitInWords = kTraversalLimitWords;
  options.nestingLimit = kNestingLimit;
  kj::ArrayPtr<const capnp::word> view(words_.begin(), size / sizeof(capnp::word));
  kj::Maybe<kj::Exception> exception = kj::runCatchingExceptions([&] {
    // The segment table must describe exactly the bytes received.
    if (capnp::expectedSizeInWordsFromPrefix(view) != view.size()) {
      KJ_FAIL_REQUIRE("segment table does not match datagram size");
    }
    reader_ = std::make_unique<capnp::FlatArrayMessageReader>(view, options);
  });
  if (exception != nullptr) {
    error = FrameError::kMalformed;
    fds.clear();
    reader_.reset();
  }
}

ReceivedFrame FrameFromBytes(const void* data, size_t size) {
  ReceivedFrame frame;
  size_t copied = std::min(size, kMaxMessageBytes + 1);
  frame.words_ = kj::heapArray<capnp::word>(copied / sizeof(capnp::word) + 1);
  if (copied > 0) std::memcpy(frame.words_.begin(), data, copied);
  frame.Finish(size);
  return frame;
}

}  // namespace tether::ipc
