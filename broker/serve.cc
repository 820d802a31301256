#include "broker/serve.h"

#include <errno.h>
#include <fcntl.h>
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

// A pool worker: warms its network, takes the first allowed stub, tells the
// server (so that it starts a replacement), and serves it.
[[noreturn]] void Work(const ServeOptions& options, int listener, int taken_pipe) {
  int status;
  {
    RunSession session(options.run);
    session.WarmUp();
    std::optional<OcsfEventLog> events;
    if (options.run.events_path.has_value()) {
      absl::StatusOr<OcsfEventLog> opened = OcsfEventLog::Open(*options.run.events_path);
      if (opened.ok()) events.emplace(std::move(*opened));
    }
    UniqueFd connection;
    struct ucred peer = {};
    while (true) {
      connection.reset(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection.valid()) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        _exit(kExitSetupFailed);  // the listener is gone: the server drains
      }
      socklen_t size = sizeof(peer);
      if (getsockopt(connection.get(), SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0) {
        connection.reset();
        continue;
      }
      if (std::find(options.allowed_uids.begin(), options.allowed_uids.end(), peer.uid) !=
          options.allowed_uids.end()) {
        break;
      }
      std::string message = absl::StrCat("refused a stub from uid ", peer.uid, " pid ",
                                         peer.pid, ": not in --allow-uid");
      Log(message);
      if (events.has_value()) {
        events->DetectionFinding("sidecar connection from a uid not allowed", message,
                                 "sidecar", EACCES, {});
      }
      connection.reset();  // hang up now, not at the next accept
    }
    close(listener);
    pid_t self = getpid();
    (void)!write(taken_pipe, &self, sizeof(self));
    close(taken_pipe);
    if (options.report_dir.has_value()) {
      session.SetReportPath(absl::StrCat(*options.report_dir, "/", peer.pid, ".json"));
    }
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
  int taken[2];
  if (pipe2(taken, O_CLOEXEC) != 0) {
    Log(absl::StrCat("pipe2: ", strerror(errno)));
    return kExitSetupFailed;
  }
  UniqueFd taken_read(taken[0]);
  UniqueFd taken_write(taken[1]);
  std::set<pid_t> idle;
  std::set<pid_t> busy;
  std::set<pid_t> alive;  // a worker may exit before its "taken" is read
  auto spawn = [&] {
    pid_t worker = fork();
    if (worker == 0) {
      signal_fd.reset();
      taken_read.reset();
      sigset_t empty;
      sigemptyset(&empty);
      sigprocmask(SIG_SETMASK, &empty, nullptr);
      Work(options, listener->get(), taken_write.get());
    }
    if (worker > 0) {
      idle.insert(worker);
      alive.insert(worker);
    }
  };
  int pool = std::max(1, options.pool);
  for (int i = 0; i < pool; ++i) spawn();
  bool draining = false;
  while (!draining || !busy.empty()) {
    struct pollfd fds[2] = {{signal_fd.get(), POLLIN, 0}, {taken_read.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      Log(absl::StrCat("poll: ", strerror(errno)));
      break;
    }
    if (fds[1].revents & POLLIN) {
      pid_t worker;
      if (read(taken_read.get(), &worker, sizeof(worker)) == sizeof(worker)) {
        // Replaced once: here, or already when it was reaped while idle.
        bool was_idle = idle.erase(worker) > 0;
        if (alive.count(worker)) busy.insert(worker);
        if (was_idle && !draining) spawn();
      }
    }
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(signal_fd.get(), &info, sizeof(info)) == sizeof(info)) {
        if (info.ssi_signo == SIGCHLD || draining) continue;
        Log("draining: no new stubs; handshakes under way finish");
        draining = true;
        listener->reset();
        unlink(options.socket_path.c_str());
        // Idle workers hold only warm networks, which go with them.
        for (pid_t worker : idle) kill(worker, SIGTERM);
      }
      pid_t done;
      while ((done = waitpid(-1, nullptr, WNOHANG)) > 0) {
        alive.erase(done);
        busy.erase(done);
        // A worker that died while waiting is replaced, keeping the pool full.
        if (idle.erase(done) && !draining) spawn();
      }
    }
  }
  if (!draining) unlink(options.socket_path.c_str());
  Log("stopped");
  return 0;
}

}  // namespace tether::broker
