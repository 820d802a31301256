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
#include <map>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/status.h"
#include "broker/exit_codes.h"
#include "broker/home_directory_cache.h"
#include "broker/report/ocsf_events.h"
#include "broker/report/output_file.h"
#include "ipc/fd_passing.h"
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
  UniqueFd listener(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener.valid()) return ErrnoStatus(errno, "socket(AF_UNIX, SOCK_SEQPACKET)");
  // The mode is decided at bind time by the umask: owner-only, or 0666 when
  // other uids are allowed (SO_PEERCRED still decides who is served). A
  // chmod(path) afterwards would follow whatever the path then names.
  bool others = std::any_of(options.allowed_uids.begin(), options.allowed_uids.end(),
                            [](uint32_t uid) { return uid != getuid(); });
  mode_t old_umask = umask(others ? 0111 : 0177);
  int bound = bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address));
  int bind_errno = errno;
  umask(old_umask);
  if (bound != 0) {
    return ErrnoStatus(bind_errno, absl::StrCat("bind(", options.socket_path, ")"));
  }
  // From here every early return removes the socket it made.
  absl::Cleanup unbind = [&options] { unlink(options.socket_path.c_str()); };
  if (listen(listener.get(), 128) != 0) return ErrnoStatus(errno, "listen");
  std::move(unbind).Cancel();
  return listener;
}

// What the server tells a worker along with the connection's fd.
struct Handover {
  pid_t pid;  // the peer's pid in the broker's pid namespace (0: not visible)
  uid_t uid;
  gid_t gid;
};

// A worker's one-byte word to the server: the handshake is over and the
// workload runs (the worker now only holds its network until it exits).
constexpr char kWorkloadRunning = 'R';

// A pool worker: warms its network, waits for the one connection the
// server hands it, serves that stub, and holds its network until the
// workload exits.
[[noreturn]] void Work(const ServeOptions& options, int control, int report_dir) {
  RunSession session(options.run);
  session.WarmUp();
  Handover handover = {};
  ipc::Datagram received = ipc::ReceiveWithFds(control, &handover, sizeof(handover));
  if (received.size != sizeof(handover) || received.fds.size() != 1) {
    _exit(0);  // the server drained or went away before handing a stub over
  }
  UniqueFd connection = std::move(received.fds[0]);
  if (report_dir >= 0) session.SetReportDirectory(report_dir, *options.report_dir);
  int status = session.Serve(std::move(connection), handover.pid, handover.uid, handover.gid);
  Log(absl::StrCat("stub pid ", handover.pid, " uid ", handover.uid,
                   status == 0 ? ": workload running" : ": refused"));
  if (status != 0) _exit(status);  // a refused stub's network goes with the worker
  (void)!write(control, &kWorkloadRunning, 1);
  session.HoldUntilWorkloadExits();
  _exit(0);
}

// What the server takes from its signalfd: SIGTERM and SIGINT drain it.
sigset_t ServerSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int signo : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&signals, signo);
  return signals;
}

class Server {
 public:
  Server(const ServeOptions& options, UniqueFd listener, UniqueFd report_dir,
         std::optional<OcsfEventLog> events)
      : options_(options),
        listener_(std::move(listener)),
        report_dir_(std::move(report_dir)),
        events_(std::move(events)) {
    if (events_.has_value()) options_.run.events_fd = events_->fd();
  }

  int Loop();

 private:
  struct Worker {
    UniqueFd control;      // the server's end of its socketpair
    bool busy = false;     // holds a stub (handshake or running workload)
    bool pending = false;  // its stub's handshake is under way
    bool retired = false;  // told to exit without a stub; not yet reaped
    uid_t uid = 0;
  };

  pid_t Spawn(int also_close = -1);
  void RefreshHomeDirectories();
  void RetireIdleWorkers();
  void TopUpPool();
  void AcceptAll();
  void Admit(UniqueFd connection);
  void Refuse(const std::string& why, const struct ucred& peer, int errno_value);
  pid_t IdleWorker() const;
  void HandshakeOver(pid_t pid);
  void Reap();
  void Drain();
  int Idle() const;
  int Live() const;
  int PendingTotal() const;

  ServeOptions options_;
  UniqueFd listener_;
  UniqueFd report_dir_;
  std::optional<OcsfEventLog> events_;
  UniqueFd signal_fd_;
  std::map<pid_t, Worker> workers_;
  std::map<uid_t, int> pending_by_uid_;
  // Refusals are logged and become events at a bounded rate per uid, so
  // that a uid looping connect/close cannot fill the disk.
  struct RefusalBudget {
    absl::Time window_start;
    int in_window = 0;
    int suppressed = 0;
  };
  std::map<uid_t, RefusalBudget> refusals_;
  bool draining_ = false;
  HomeDirectoryCache homes_;
};

int Server::Idle() const {
  return static_cast<int>(std::count_if(workers_.begin(), workers_.end(), [](const auto& entry) {
    return !entry.second.busy && !entry.second.retired;
  }));
}

int Server::Live() const {
  return static_cast<int>(std::count_if(workers_.begin(), workers_.end(),
                                        [](const auto& entry) { return entry.second.busy; }));
}

int Server::PendingTotal() const {
  int total = 0;
  for (const auto& [uid, count] : pending_by_uid_) total += count;
  return total;
}

// Looked up here, for every worker forked, rather than by each worker
// (which would load the name service's modules per launch). A waiting
// worker was forked with the list as it was: when the list changes, the
// waiting workers go and fresh ones take their place.
void Server::RefreshHomeDirectories() {
  if (!homes_.Refresh(HomeDirectoryCache::MonotonicNow())) return;
  options_.run.home_directories = homes_.homes();
  RetireIdleWorkers();
}

// Idle workers hold only a warm network, which goes with them.
void Server::RetireIdleWorkers() {
  for (auto& [pid, worker] : workers_) {
    if (worker.busy || worker.retired) continue;
    kill(pid, SIGTERM);
    worker.retired = true;
  }
}

pid_t Server::Spawn(int also_close) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    Log(absl::StrCat("socketpair: ", strerror(errno)));
    return -1;
  }
  UniqueFd server_end(pair[0]);
  UniqueFd worker_end(pair[1]);
  pid_t pid = fork();
  if (pid < 0) {
    Log(absl::StrCat("fork: ", strerror(errno)));
    return -1;
  }
  if (pid == 0) {
    // The worker keeps only its own channel, the report directory and the
    // event log: never the listener, another worker's channel, or a
    // connection the server is about to hand to some worker.
    if (also_close >= 0) close(also_close);
    signal_fd_.reset();
    listener_.reset();
    server_end.reset();
    for (auto& [other, worker] : workers_) worker.control.reset();
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    Work(options_, worker_end.get(), report_dir_.get());
  }
  workers_[pid].control = std::move(server_end);
  return pid;
}

pid_t Server::IdleWorker() const {
  for (const auto& [pid, worker] : workers_) {
    if (!worker.busy && !worker.retired) return pid;
  }
  return -1;
}

void Server::TopUpPool() {
  if (draining_) return;
  // Once per top-up, not per worker: the workers forked here share a list.
  RefreshHomeDirectories();
  int pool = std::max(1, options_.pool);
  while (!draining_ && Idle() < pool && Spawn() > 0) {
  }
}

void Server::Refuse(const std::string& why, const struct ucred& peer, int errno_value) {
  constexpr int kRefusalsReportedPerSecond = 10;
  if (refusals_.size() > 4096) refusals_.clear();  // bounded, whatever the uids
  RefusalBudget& budget = refusals_[peer.uid];
  absl::Time now = absl::Now();
  if (now - budget.window_start >= absl::Seconds(1)) {
    budget.window_start = now;
    budget.in_window = 0;
  }
  if (budget.in_window >= kRefusalsReportedPerSecond) {
    ++budget.suppressed;
    return;
  }
  ++budget.in_window;
  std::string message = absl::StrCat(
      "refused a stub from uid ", peer.uid, " pid ", peer.pid, ": ", why,
      budget.suppressed > 0 ? absl::StrCat(" (and ", budget.suppressed,
                                           " more of this uid before, not reported one by one)")
                            : "");
  budget.suppressed = 0;
  Log(message);
  if (events_.has_value()) {
    events_->DetectionFinding("sidecar connection refused", message, Mechanism::kSidecar,
                              errno_value, {});
  }
}

void Server::Admit(UniqueFd connection) {
  struct ucred peer = {};
  socklen_t size = sizeof(peer);
  if (getsockopt(connection.get(), SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0) return;
  if (std::find(options_.allowed_uids.begin(), options_.allowed_uids.end(), peer.uid) ==
      options_.allowed_uids.end()) {
    return Refuse("not in --allow-uid", peer, EACCES);
  }
  if (Live() >= options_.max_sessions) {
    return Refuse(absl::StrCat("--max-sessions ", options_.max_sessions, " reached"), peer, EAGAIN);
  }
  if (pending_by_uid_[peer.uid] >= options_.max_pending_per_uid) {
    return Refuse(absl::StrCat("--max-pending-per-uid ", options_.max_pending_per_uid,
                               " handshakes of this uid already under way"),
                  peer, EAGAIN);
  }
  RefreshHomeDirectories();  // before a waiting worker is picked
  Handover handover = {peer.pid, peer.uid, peer.gid};
  int fd = connection.get();
  // A warm worker if there is one; else a fresh one, which warms first.
  for (int attempt = 0; attempt < 3; ++attempt) {
    pid_t pid = IdleWorker();
    if (pid < 0) pid = Spawn(fd);
    if (pid < 0) break;
    Worker& worker = workers_[pid];
    if (ipc::SendWithFds(worker.control.get(), &handover, sizeof(handover), &fd, 1) < 0) {
      // It died while idle; SIGCHLD reaps it. Try another.
      worker.retired = true;
      kill(pid, SIGKILL);
      continue;
    }
    worker.busy = true;
    worker.pending = true;
    worker.uid = peer.uid;
    ++pending_by_uid_[peer.uid];
    return;
  }
  Refuse("no worker could take it", peer, EAGAIN);
}

void Server::AcceptAll() {
  // A bounded batch, so that a flood cannot starve the workers' words and
  // SIGCHLD; the rest wait in the backlog for the next turn.
  for (int batch = 0; batch < 64 && listener_.valid(); ++batch) {
    UniqueFd connection(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!connection.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) Log(absl::StrCat("accept: ", strerror(errno)));
      return;
    }
    Admit(std::move(connection));  // a refused connection is closed here, at once
  }
}

void Server::HandshakeOver(pid_t pid) {
  auto found = workers_.find(pid);
  if (found == workers_.end() || !found->second.pending) return;
  found->second.pending = false;
  --pending_by_uid_[found->second.uid];
}

void Server::Reap() {
  pid_t done;
  while ((done = waitpid(-1, nullptr, WNOHANG)) > 0) {
    HandshakeOver(done);
    workers_.erase(done);
  }
  // A worker that died while waiting is replaced, keeping the pool full.
  TopUpPool();
}

void Server::Drain() {
  Log("draining: no new stubs; handshakes under way finish");
  draining_ = true;
  listener_.reset();
  unlink(options_.socket_path.c_str());
  RetireIdleWorkers();
}

int Server::Loop() {
  sigset_t signals = ServerSignals();  // blocked since before the socket existed
  signal_fd_.reset(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_.valid()) {
    Log(absl::StrCat("signalfd: ", strerror(errno)));
    return kExitSetupFailed;
  }
  Log(absl::StrCat("listening on ", options_.socket_path));
  TopUpPool();
  while (!draining_ || PendingTotal() > 0) {
    std::vector<struct pollfd> fds = {{signal_fd_.get(), POLLIN, 0},
                                      {listener_.valid() ? listener_.get() : -1, POLLIN, 0}};
    std::vector<pid_t> pending;
    for (const auto& [pid, worker] : workers_) {
      if (!worker.pending) continue;
      fds.push_back({worker.control.get(), POLLIN, 0});
      pending.push_back(pid);
    }
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      Log(absl::StrCat("poll: ", strerror(errno)));
      break;
    }
    bool handshakes_over = false;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (fds[i + 2].revents == 0) continue;
      char word = 0;
      // The word, or EOF: the worker exited, which SIGCHLD also says.
      if (read(fds[i + 2].fd, &word, 1) == 1 && word == kWorkloadRunning) {
        HandshakeOver(pending[i]);
        handshakes_over = true;
      }
    }
    // Replacements are forked now, not at admission: their fork and
    // warm-up would compete with the handshake for the CPU (about 2 ms
    // more a launch, launches 20 ms apart), and not only once a worker
    // exits, which a long workload would put off.
    if (handshakes_over) TopUpPool();
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo info;
      bool stop = false;
      while (read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
        if (info.ssi_signo != SIGCHLD) stop = true;
      }
      if (stop && !draining_) Drain();
      Reap();
    }
    if (fds[1].revents & POLLIN) AcceptAll();
  }
  if (!draining_) unlink(options_.socket_path.c_str());
  Log("stopped");
  return 0;
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
  ServeOptions options = given;
  UniqueFd report_dir;
  if (options.report_dir.has_value()) {
    absl::StatusOr<UniqueFd> opened = OpenPrivateDirectory(*options.report_dir);
    if (!opened.ok()) {
      Log(absl::StrCat("--report-dir: ", opened.status().message()));
      return kExitUsage;
    }
    report_dir = std::move(*opened);
  }
  std::optional<OcsfEventLog> events;
  if (options.run.events_path.has_value()) {
    absl::StatusOr<OcsfEventLog> opened = OcsfEventLog::Open(*options.run.events_path);
    if (!opened.ok()) {
      Log(absl::StrCat("--events: ", opened.status().message()));
      return kExitUsage;
    }
    events.emplace(std::move(*opened));
  }
  // Probes, the seccomp programs and the broker's namespaces once,
  // inherited by every worker.
  options.run.broker_namespace_inodes = NamespaceInodesOf("self");
  absl::Status prepared = PrepareOnce(&options.run);
  if (!prepared.ok()) {
    Log(std::string(prepared.message()));
    return kExitSetupFailed;
  }
  // Blocked before the socket exists: a SIGTERM sent as soon as it appears
  // waits for the loop's signalfd and drains the server, instead of
  // killing it with its socket left behind.
  sigset_t signals = ServerSignals();
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  absl::StatusOr<UniqueFd> listener = Listen(options);
  if (!listener.ok()) {
    Log(std::string(listener.status().message()));
    return kExitSetupFailed;
  }
  Server server(options, std::move(*listener), std::move(report_dir), std::move(events));
  return server.Loop();
}

}  // namespace tether::broker
