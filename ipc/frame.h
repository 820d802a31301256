#ifndef TETHER_IPC_FRAME_H_
#define TETHER_IPC_FRAME_H_

// Framing for the handshake socket: one Cap'n Proto message per
// SOCK_SEQPACKET datagram, with its fds as SCM_RIGHTS. Kept free of abseil so
// that the static stub links it without extra weight.

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>

#include <memory>
#include <vector>

#include "ipc/unique_fd.h"

namespace tether::ipc {

enum class FrameError {
  kNone = 0,
  kClosed,      // orderly EOF: the peer closed or exec'd
  kSystem,      // sendmsg/recvmsg failed; see errno_value
  kTooLarge,    // datagram exceeded kMaxMessageBytes (MSG_TRUNC)
  kTooManyFds,  // more fds than kMaxFdsPerMessage, or MSG_CTRUNC
  kMalformed,   // not a valid Cap'n Proto message or not word aligned
};

const char* FrameErrorName(FrameError error);

struct SendResult {
  FrameError error = FrameError::kNone;
  int errno_value = 0;
  bool ok() const { return error == FrameError::kNone; }
};

// A received message. Owns its bytes and its fds; the reader enforces the
// traversal and nesting limits on every access.
class ReceivedFrame {
 public:
  FrameError error = FrameError::kNone;
  int errno_value = 0;
  std::vector<UniqueFd> fds;

  bool ok() const { return error == FrameError::kNone; }
  template <typename Root>
  typename Root::Reader Get() {
    return reader_->getRoot<Root>();
  }

 private:
  friend ReceivedFrame ReceiveFrame(int socket_fd);
  friend ReceivedFrame FrameFromBytes(const void* data, size_t size);
  // Checks alignment and the segment table of the first `size` bytes of
  // words_ and makes the bounded reader.
  void Finish(size_t size);
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

// Sends `message` with `fds` attached in one datagram. Retries EINTR.
SendResult SendFrame(int socket_fd, capnp::MessageBuilder& message,
                     const std::vector<int>& fds = {});

// `message` as the bytes of one datagram, for SendFrames.
kj::Array<capnp::word> EncodeFrame(capnp::MessageBuilder& message);

// Sends `frames` in order, one datagram each and without fds, in as few
// system calls as the socket takes them (sendmmsg): a peer that waits for
// them is woken once, not once a frame. A single frame goes out with
// sendmsg. Retries EINTR.
SendResult SendFrames(int socket_fd, const std::vector<kj::Array<capnp::word>>& frames);

// Treats `size` bytes as one received datagram without fds: the same checks
// as ReceiveFrame, for fuzzing and tests.
ReceivedFrame FrameFromBytes(const void* data, size_t size);

// Receives one datagram. Received fds are close-on-exec. Retries EINTR.
// Every fd that arrived is closed again unless the frame is ok.
ReceivedFrame ReceiveFrame(int socket_fd);

}  // namespace tether::ipc

#endif  // TETHER_IPC_FRAME_H_
