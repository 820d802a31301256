#include "ipc/frame.h"

#include <errno.h>
#include <kj/exception.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "ipc/fd_passing.h"
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

namespace {

// One datagram with sendmsg, its failure or short send as a SendResult.
SendResult SendDatagram(int socket_fd, kj::ArrayPtr<const kj::byte> bytes,
                        const std::vector<int>& fds) {
  SendResult result;
  const ssize_t sent = SendWithFds(socket_fd, bytes.begin(), bytes.size(), fds.data(), fds.size());
  if (sent < 0) {
    result.error = errno == EPIPE ? FrameError::kClosed : FrameError::kSystem;
    result.errno_value = errno;
  } else if (static_cast<size_t>(sent) != bytes.size()) {
    result.error = FrameError::kSystem;
    result.errno_value = EMSGSIZE;
  }
  return result;
}

}  // namespace

SendResult SendFrame(int socket_fd, capnp::MessageBuilder& message, const std::vector<int>& fds) {
  SendResult result;
  if (fds.size() > kMaxFdsPerMessage) {
    result.error = FrameError::kTooManyFds;
    return result;
  }
  kj::Array<capnp::word> words = EncodeFrame(message);
  kj::ArrayPtr<const kj::byte> bytes = words.asBytes();
  if (bytes.size() > kMaxMessageBytes) {
    result.error = FrameError::kTooLarge;
    return result;
  }
  return SendDatagram(socket_fd, bytes, fds);
}

kj::Array<capnp::word> EncodeFrame(capnp::MessageBuilder& message) {
  return capnp::messageToFlatArray(message);
}

SendResult SendFrames(int socket_fd, const std::vector<kj::Array<capnp::word>>& frames) {
  SendResult result;
  std::vector<struct iovec> parts(frames.size());
  std::vector<struct mmsghdr> datagrams(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    kj::ArrayPtr<const kj::byte> bytes = frames[i].asBytes();
    if (bytes.size() > kMaxMessageBytes) {
      result.error = FrameError::kTooLarge;
      return result;
    }
    parts[i] = {const_cast<kj::byte*>(bytes.begin()), bytes.size()};
    datagrams[i] = {};
    datagrams[i].msg_hdr.msg_iov = &parts[i];
    datagrams[i].msg_hdr.msg_iovlen = 1;
  }
  if (frames.size() == 1) {
    // One datagram is a sendmsg: the only call a stub makes for it after
    // the workload filter, which a policy may have made deny sendmmsg.
    return SendDatagram(socket_fd, frames[0].asBytes(), {});
  }
  for (size_t next = 0; next < datagrams.size();) {
    int sent = sendmmsg(socket_fd, &datagrams[next], datagrams.size() - next, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) {
      result.error = sent < 0 && errno == EPIPE ? FrameError::kClosed : FrameError::kSystem;
      result.errno_value = sent < 0 ? errno : EIO;
      return result;
    }
    for (int i = 0; i < sent; ++i) {
      if (datagrams[next + i].msg_len != parts[next + i].iov_len) {
        result.error = FrameError::kSystem;
        result.errno_value = EMSGSIZE;
        return result;
      }
    }
    next += sent;
  }
  return result;
}

ReceivedFrame ReceiveFrame(int socket_fd) {
  ReceivedFrame frame;
  // One word more than the limit so that an oversized datagram is detected
  // by MSG_TRUNC rather than silently cut to a valid-looking prefix.
  frame.words_ = kj::heapArray<capnp::word>(kMaxMessageBytes / sizeof(capnp::word) + 1);
  Datagram datagram =
      ReceiveWithFds(socket_fd, frame.words_.begin(), frame.words_.size() * sizeof(capnp::word));
  if (datagram.size < 0) {
    frame.error = (datagram.errno_value == ECONNRESET) ? FrameError::kClosed : FrameError::kSystem;
    frame.errno_value = datagram.errno_value;
    return frame;
  }
  frame.fds = std::move(datagram.fds);
  const size_t received = static_cast<size_t>(datagram.size);
  auto fail = [&frame](FrameError error) {
    frame.error = error;
    frame.fds.clear();
    frame.reader_.reset();
    return std::move(frame);
  };
  if (received == 0 && frame.fds.empty()) return fail(FrameError::kClosed);
  if (datagram.msg_flags & MSG_TRUNC) return fail(FrameError::kTooLarge);
  if ((datagram.msg_flags & MSG_CTRUNC) || frame.fds.size() > kMaxFdsPerMessage) {
    return fail(FrameError::kTooManyFds);
  }
  frame.Finish(received);
  return frame;
}

void ReceivedFrame::Finish(size_t size) {
  if (size % sizeof(capnp::word) != 0 || size == 0 || size > kMaxMessageBytes) {
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
