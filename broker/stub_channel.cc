#include "broker/stub_channel.h"

#include <capnp/message.h>
#include <errno.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/poll_timeout.h"
#include "base/status.h"
#include "ipc/frame.h"

namespace tether::broker {

absl::Status StubChannel::CatchForwardedSignals() {
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int signo : kForwardedSignals) sigaddset(&forwarded, signo);
  if (sigprocmask(SIG_BLOCK, &forwarded, nullptr) != 0) return ErrnoStatus(errno, "sigprocmask");
  signal_fd_.reset(signalfd(-1, &forwarded, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_.valid()) return ErrnoStatus(errno, "signalfd");
  return absl::OkStatus();
}

absl::StatusOr<ipc::StubMessage> StubChannel::Receive(absl::string_view expecting) {
  while (true) {
    if (absl::Now() >= deadline_) {
      return absl::DeadlineExceededError(
          absl::StrCat("the stub sent no ", expecting, " before the handshake deadline"));
    }
    struct pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {signal_fd_.get(), POLLIN, 0}};
    int ready = poll(fds, 2, PollTimeout(deadline_));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return ErrnoStatus(errno, "poll");
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
        interrupted_by_ = static_cast<int>(info.ssi_signo);
        return absl::CancelledError(absl::StrCat("interrupted by signal ", interrupted_by_, " (",
                                                 strsignal(interrupted_by_), ") during set-up"));
      }
    }
    if (fds[0].revents == 0) continue;
    ipc::ReceivedFrame frame = ipc::ReceiveFrame(socket_.get());
    if (frame.error == ipc::FrameError::kClosed) {
      return absl::AbortedError(absl::StrCat(
          "the stub closed the connection (it died or exited) while the broker waited for ",
          expecting));
    }
    ipc::StubMessage message;
    std::string error;
    if (!ipc::Decode(frame, &message, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid message from the stub while waiting for ", expecting, ": ", error,
                       frame.error == ipc::FrameError::kSystem
                           ? absl::StrCat(" (recvmsg: ", strerror(frame.errno_value), ")")
                           : ""));
    }
    return message;
  }
}

absl::StatusOr<ipc::StubMessage> StubChannel::Expect(ipc::StubMessage::Kind kind,
                                                     absl::string_view expecting) {
  ASSIGN_OR_RETURN(ipc::StubMessage message, Receive(expecting));
  if (message.kind != kind) {
    return absl::InvalidArgumentError(absl::StrCat("protocol violation: expected ", expecting,
                                                   ", got ",
                                                   ipc::StubMessageKindName(message.kind)));
  }
  return message;
}

int StubChannel::ReceiveExecOutcome() {
  ipc::ReceivedFrame frame = ipc::ReceiveFrame(socket_.get());
  ipc::StubMessage message;
  std::string error;
  if (frame.ok() && ipc::Decode(frame, &message, &error) &&
      message.kind == ipc::StubMessage::Kind::kExecFailed) {
    return message.exec_errno;
  }
  return 0;
}

absl::Status StubChannel::Send(const ipc::BrokerMessage& message, const std::vector<int>& fds) {
  capnp::MallocMessageBuilder builder;
  ipc::Encode(message, builder);
  ipc::SendResult sent = ipc::SendFrame(socket_.get(), builder, fds);
  if (sent.error == ipc::FrameError::kClosed) {
    return absl::AbortedError(
        "the stub closed the connection (it died or exited) before the broker's message "
        "reached it");
  }
  if (!sent.ok()) {
    return absl::AbortedError(
        absl::StrCat("cannot send to the stub: ", ipc::FrameErrorName(sent.error), ": ",
                     strerror(sent.errno_value)));
  }
  return absl::OkStatus();
}

}  // namespace tether::broker
