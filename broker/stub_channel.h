#ifndef TETHER_BROKER_STUB_CHANNEL_H_
#define TETHER_BROKER_STUB_CHANNEL_H_

#include <signal.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "ipc/messages.h"
#include "ipc/unique_fd.h"

namespace tether::broker {

// Signals the broker forwards to the workload instead of dying of them.
inline constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// The broker's end of the socket to one stub: every message in and out,
// bounded by the handshake deadline and interruptible by a forwarded
// signal. Everything the stub sends is decoded and validated (ipc/) before
// anyone sees it.
class StubChannel {
 public:
  StubChannel() = default;
  StubChannel(const StubChannel&) = delete;
  StubChannel& operator=(const StubChannel&) = delete;

  void Attach(UniqueFd socket) { socket_ = std::move(socket); }
  void SetDeadline(absl::Time deadline) { deadline_ = deadline; }
  absl::Time deadline() const { return deadline_; }

  // `tether run`: blocks the forwarded signals and reads them from a
  // signalfd, so that one during set-up ends it cleanly (Receive says so).
  absl::Status CatchForwardedSignals();

  // The next message, whatever its kind; `expecting` names it in errors.
  absl::StatusOr<ipc::StubMessage> Receive(absl::string_view expecting);
  // The next message, which must be of `kind`.
  absl::StatusOr<ipc::StubMessage> Expect(ipc::StubMessage::Kind kind, absl::string_view expecting);
  absl::Status Send(const ipc::BrokerMessage& message, const std::vector<int>& fds = {});
  // After Go: reads what the stub said last. EOF (its socket is
  // close-on-exec, so exec closed it) or anything else is 0; ExecFailed
  // gives the errno of the failed exec.
  int ReceiveExecOutcome();

  int socket() const { return socket_.get(); }
  int signal_fd() const { return signal_fd_.get(); }
  void Close() { socket_.reset(); }
  // The forwarded signal that ended set-up, or 0.
  int interrupted_by() const { return interrupted_by_; }

 private:
  UniqueFd socket_;
  UniqueFd signal_fd_;
  absl::Time deadline_ = absl::InfiniteFuture();
  int interrupted_by_ = 0;
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_STUB_CHANNEL_H_
