#include "broker/serve.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "broker/exit_codes.h"
#include "broker/ocsf_events.h"
#include "ipc/unique_fd.h"

namespace tether::broker {
namespace {

void Log(const std::string& line) { std::fprintf(stderr, "tether serve: %s\n", line.c_str()); }

absl::StatusOr<UniqueFd> Listen(const ServeOptions& options) {
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  if (options.socket_path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--socket ", options.socket_path, " is too long for a unix socket"));
  }
  std::memcpy(address.sun_path, options.socket_path.c_str(), options.socket_path.size() + 1);
  struct stat st;
  if (lstat(options.socket_path.c_str(), &st) == 0) {
    // Only a stale socket is replaced; anything else is somebody's file.
    if (!S_ISSOCK(st.st_mode)) {
      return absl::AlreadyExistsError(
          absl::StrCat(options.socket_path, " exists and is not a socket"));
    }
    unlink(options.socket_path.c_str());
  }
  UniqueFd listener(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!listener.valid()) return absl::ErrnoToStatus(errno, "socket(AF_UNIX, SOCK_SEQPACKET)");
  // Created owner-only; opened to others only when other uids are allowed,
  // and even then SO_PEERCRED decides who is served.
  mode_t old_umask = umask(0177);
  int bound = bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address));
  int bind_errno = errno;
  umask(old_umask);
  if (bound != 0) {
    return absl::ErrnoToStatus(bind_errno, absl::StrCat("bind(", options.socket_path, ")"));
  }
  bool others = std::any_of(options.allowed_uids.begin(), options.allowed_uids.end(),
                            [](uint32_t uid) { return uid != getuid(); });
  if (others && chmod(options.socket_path.c_str(), 0666) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod(", options.socket_path, ")"));
  }
  if (listen(listener.get(), 64) != 0) return absl::ErrnoToStatus(errno, "listen");
  return listener;
}

// Runs in the forked handler: one stub, one session.
[[noreturn]] void Handle(const ServeOptions& options, UniqueFd connection,
                         const struct ucred& peer) {
  int status;
  {
    RunOptions run = options.run;
    if (options.report_dir.has_value()) {
      run.report_path = absl::StrCat(*options.report_dir, "/", peer.pid, ".json");
    }
    RunSession session(std::move(run));
    status = session.Serve(std::move(connection), peer.pid, peer.uid, peer.gid);
    Log(absl::StrCat("stub pid ", peer.pid, " uid ", peer.uid,
                     status == 0 ? ": workload running" : ": refused"));
    if (status == 0) {
      // The handshake is over, so the server may drain; a keeper holds the
      // network until the workload exits and owns it from now on.
      if (fork() == 0) {
        session.HoldNetworkUntilWorkloadExits();
        _exit(0);
      }
      _exit(0);
    }
  }  // a refused stub's network is deleted here
  _exit(status);
}

}  // namespace

absl::StatusOr<std::vector<uint32_t>> ParseUidList(absl::string_view text) {
  std::vector<uint32_t> uids;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    uint32_t uid;
    if (!absl::SimpleAtoi(part, &uid)) {
      return absl::InvalidArgumentError(absl::StrCat("--allow-uid: '", part, "' is not a uid"));
    }
    uids.push_back(uid);
  }
  return uids;
}

int ServeForever(const ServeOptions& given) {
  // Probes and the seccomp program once, inherited by every handler.
  ServeOptions options = given;
  absl::Status prepared = PrepareOnce(&options.run);
  if (!prepared.ok()) {
    Log(std::string(prepared.message()));
    return kExitSetupFailed;
  }
  sigset_t signals;
  sigemptyset(&signals);
  for (int signo : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&signals, signo);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  UniqueFd signal_fd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  absl::StatusOr<UniqueFd> listener = Listen(options);
  if (!listener.ok()) {
    Log(std::string(listener.status().message()));
    return kExitSetupFailed;
  }
  Log(absl::StrCat("listening on ", options.socket_path));
  std::optional<OcsfEventLog> events;
  if (options.run.events_path.has_value()) {
    absl::StatusOr<OcsfEventLog> opened = OcsfEventLog::Open(*options.run.events_path);
    if (opened.ok()) events.emplace(std::move(*opened));
  }
  std::set<pid_t> handlers;
  bool draining = false;
  while (!draining || !handlers.empty()) {
    struct pollfd fds[2] = {{signal_fd.get(), POLLIN, 0},
                            {draining ? -1 : listener->get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      Log(absl::StrCat("poll: ", strerror(errno)));
      break;
    }
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(signal_fd.get(), &info, sizeof(info)) == sizeof(info)) {
        if (info.ssi_signo == SIGCHLD) continue;
        if (!draining) Log("draining: no new stubs; handshakes under way finish");
        draining = true;
        listener->reset();
        unlink(options.socket_path.c_str());
      }
      pid_t done;
      while ((done = waitpid(-1, nullptr, WNOHANG)) > 0) handlers.erase(done);
    }
    if (!draining && (fds[1].revents & POLLIN)) {
      UniqueFd connection(accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection.valid()) continue;
      struct ucred peer = {};
      socklen_t size = sizeof(peer);
      if (getsockopt(connection.get(), SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0) continue;
      if (std::find(options.allowed_uids.begin(), options.allowed_uids.end(), peer.uid) ==
          options.allowed_uids.end()) {
        std::string message = absl::StrCat("refused a stub from uid ", peer.uid, " pid ",
                                           peer.pid, ": not in --allow-uid");
        Log(message);
        if (events.has_value()) {
          events->DetectionFinding("sidecar connection from a uid not allowed", message,
                                   "sidecar", EACCES, {});
        }
        continue;
      }
      pid_t handler = fork();
      if (handler == 0) {
        listener->reset();
        signal_fd.reset();
        sigset_t empty;
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, nullptr);
        Handle(options, std::move(connection), peer);
      }
      if (handler > 0) handlers.insert(handler);
    }
  }
  if (!draining) unlink(options.socket_path.c_str());
  Log("stopped");
  return 0;
}

}  // namespace tether::broker
