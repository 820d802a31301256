// Sidecar mode on the real kernel: `tether serve` in its own mount
// namespace, stubs started by a separate process tree in another mount
// namespace and as another uid, sharing only the socket directory.

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include "ipc/fd_passing.h"
#include "tests/integration/sandbox_fixture.h"
#include "tests/support/report_json.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

// A private mount namespace with something mounted that the other side
// does not see, so the two sides really differ.
void EnterOwnMountNamespace(const std::string& marker_dir) {
  if (unshare(CLONE_NEWNS) != 0 ||
      mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      mount("tmpfs", marker_dir.c_str(), "tmpfs", 0, nullptr) != 0) {
    _exit(210);
  }
}

struct sockaddr_un UnixAddress(const std::string& path) {
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  return address;
}

// A client's SEQPACKET connection to `path`, or -1.
int ConnectTo(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  struct sockaddr_un address = UnixAddress(path);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return -1;
  return fd;
}

void BecomeUid(uid_t uid) {
  for (int cap = 0; cap < 64; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;
    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  if (setgroups(0, nullptr) != 0 || setresgid(uid, uid, uid) != 0 ||
      setresuid(uid, uid, uid) != 0) {
    _exit(211);
  }
}

class ServeTest : public ::testing::Test {
 protected:
  virtual bool WithToken() const { return false; }
  // Ten stubs of one uid at once in some tests: more handshakes under way
  // than the default per-uid cap (ServeLimitsTest tests that cap).
  virtual std::vector<std::string> ServerFlags() const {
    return {"--allow-uid", "1000", "--network", "host", "--max-pending-per-uid", "16"};
  }
  // A fault environment the server runs in (faultenv MODE --), or none.
  virtual std::vector<std::string> Wrapper() const { return {}; }
  // Runs in the server's own mount namespace before its exec.
  virtual void PrepareServerMounts() const {}

  void SetUp() override {
    dir_ = "/tmp/tether-serve-" + std::to_string(getpid());
    std::filesystem::create_directories(dir_ + "/reports");
    std::filesystem::create_directories(dir_ + "/broker-only");
    std::filesystem::create_directories(dir_ + "/stub-only");
    chmod(dir_.c_str(), 0755);
    socket_ = dir_ + "/broker.sock";
    std::vector<std::string> args = {"--socket",
                                     socket_,
                                     "--report-dir",
                                     dir_ + "/reports",
                                     "--events",
                                     dir_ + "/events.json",
                                     "--handshake-timeout",
                                     "3"};
    std::vector<std::string> flags = ServerFlags();
    args.insert(args.end(), flags.begin(), flags.end());
    if (WithToken()) {
      std::ofstream(dir_ + "/token") << "s3cret\n";
      args.insert(args.end(), {"--token-file", dir_ + "/token"});
    }
    server_ = StartServe(
        args, socket_, dir_ + "/serve.log",
        [this] {
          EnterOwnMountNamespace(dir_ + "/broker-only");
          PrepareServerMounts();
        },
        Wrapper());
    ASSERT_TRUE(std::filesystem::exists(socket_)) << ReadFile(dir_ + "/serve.log");
  }

  void TearDown() override {
    StopServe(server_);
    std::filesystem::remove_all(dir_);
  }

  // A stub started by its own process tree: own mount namespace, `uid`.
  RunResult Stub(uid_t uid, std::vector<std::string> command, const std::string& token_file = "") {
    RunSpec spec;
    spec.before_exec = [this, uid] {
      EnterOwnMountNamespace(dir_ + "/stub-only");
      BecomeUid(uid);
    };
    return RunStub(spec, command, token_file);
  }

  // A raw client as uid 1000 that does `misbehave` on a connected socket
  // and reports whether the broker then hung up (EOF) within `seconds`.
  pid_t Hostile(const std::function<void(int)>& misbehave) {
    pid_t pid = fork();
    if (pid == 0) {
      BecomeUid(1000);
      int fd = ConnectTo(socket_);
      if (fd < 0) _exit(1);
      int size = 32 << 20;
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
      misbehave(fd);
      char byte;
      _exit(read(fd, &byte, 1) <= 0 ? 0 : 2);  // the broker hung up
    }
    return pid;
  }

  RunResult RunStub(RunSpec& spec, const std::vector<std::string>& command,
                    const std::string& token_file = "") {
    spec.command = {Binaries().Bin("tether-stub"), "--connect", socket_};
    if (!token_file.empty()) spec.command.insert(spec.command.end(), {"--token-file", token_file});
    spec.command.push_back("--");
    spec.command.insert(spec.command.end(), command.begin(), command.end());
    return RunTether(spec);
  }

  // The server's children: its workers (idle, in a handshake, or holding a
  // running workload).
  int Workers() const {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::string stat = ReadFile(entry.path().string() + "/stat");
      size_t paren = stat.rfind(')');
      if (paren == std::string::npos) continue;
      std::istringstream fields(stat.substr(paren + 2));
      std::string state;
      pid_t parent = 0;
      fields >> state >> parent;
      count += parent == server_ && state != "Z";
    }
    return count;
  }

  std::string dir_;
  ScopedTempDir outside_scope_{"/var/tmp", 0777};
  const std::string& outside_ = outside_scope_.path();
  std::string socket_;
  pid_t server_ = -1;
};

TEST_F(ServeTest, StubInAnotherMountNamespaceAndUidRunsWithTheFullPosture) {
  RunResult result = Stub(1000, {"./sandbox_probe", "posture", outside_ + "/file"});
  ASSERT_EQ(result.exit_code, 0) << result.err << ReadFile(dir_ + "/serve.log");
  ExpectFullPosture(result.out, 1000);
}

TEST_F(ServeTest, ReportMarksWhatTheBrokerVerifiedFromProc) {
  RunResult result = Stub(1000, {"./sandbox_probe", "exit", "0"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string text;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/reports")) {
    text = ReadFile(entry.path());
  }
  PostureReport report = ParseReport(text);
  EXPECT_EQ(report.outcome, "running") << text;
  bool resuid_skipped = false;
  for (const MechanismRecord& record : report.mechanisms) {
    resuid_skipped |= record.action == "set_resuid" && record.state == "skipped";
  }
  EXPECT_TRUE(resuid_skipped) << text;
  const MechanismRecord* no_new_privs = report.Find("no_new_privs", "set_no_new_privs");
  ASSERT_NE(no_new_privs, nullptr) << text;
  EXPECT_EQ(no_new_privs->state, "enforced") << text;
  EXPECT_EQ(no_new_privs->reason, "set no_new_privs") << text;
  EXPECT_EQ(no_new_privs->errno_value, 0) << "errno must be null: " << text;
  EXPECT_EQ(no_new_privs->evidence, "verified") << text;
  const MechanismRecord* death_signal = report.Find("parent_death_signal", "not_planned");
  ASSERT_NE(death_signal, nullptr) << text;
  EXPECT_EQ(death_signal->state, "not_requested") << text;
}

// The server sees a copy of /etc/passwd that the test can change while it
// serves.
class ServeUserDatabaseTest : public ServeTest {
 protected:
  std::vector<std::string> ServerFlags() const override {
    return {"--allow-uid", "1000", "--network", "host", "--pool", "2"};
  }
  void PrepareServerMounts() const override {
    std::filesystem::copy_file("/etc/passwd", dir_ + "/passwd",
                               std::filesystem::copy_options::overwrite_existing);
    if (mount((dir_ + "/passwd").c_str(), "/etc/passwd", nullptr, MS_BIND, nullptr) != 0) {
      _exit(212);
    }
  }

  // Whether a workload of uid 1000 whose working directory is `directory`
  // created a file there (refused or denied: it did not).
  bool CanWriteIn(const std::string& directory) {
    RunSpec spec;
    spec.cwd = directory;
    spec.before_exec = [this] {
      EnterOwnMountNamespace(dir_ + "/stub-only");
      BecomeUid(1000);
    };
    RunResult result = RunStub(spec, {"/bin/sh", "-c", "echo x > written"});
    bool written = std::filesystem::exists(directory + "/written");
    std::filesystem::remove(directory + "/written");
    EXPECT_EQ(result.exit_code == 0, written) << result.err << ReadFile(dir_ + "/serve.log");
    return written;
  }
};

// The home directories are looked up by the server, not by each worker: a
// user added while it serves must still have their home kept read-only,
// from the next launch on (the workers that waited with the old list go).
TEST_F(ServeUserDatabaseTest, AHomeAddedWhileServingIsKeptReadOnly) {
  std::string home = dir_ + "/newhome";
  std::filesystem::create_directory(home);
  ASSERT_EQ(chown(home.c_str(), 1000, 1000), 0);
  ASSERT_TRUE(CanWriteIn(home)) << "not a home yet: the working directory is writable";
  // In place (the bind mount holds the file's inode), as a new user's line.
  std::ofstream(dir_ + "/passwd", std::ios::app) << "newuser:x:1234:1234::" << home << ":/bin/sh\n";
  EXPECT_FALSE(CanWriteIn(home)) << "the new user's home was writable to a workload";
  // Under /tmp, which the baseline keeps writable, the home cannot be made
  // read-only without a view: strict Landlock refuses the stub instead.
  EXPECT_NE(ReadFile(dir_ + "/serve.log").find(home + " is a home directory"), std::string::npos)
      << ReadFile(dir_ + "/serve.log");
}

TEST_F(ServeTest, StubFromAUidNotAllowedIsRefused) {
  RunResult result = Stub(2000, {"./sandbox_probe", "exit", "0"});
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.out, "");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(ReadFile(dir_ + "/serve.log").find("refused a stub from uid 2000"), std::string::npos);
}

TEST_F(ServeTest, GarbageFromOneClientDoesNotDisturbTheNext) {
  pid_t garbage = fork();
  if (garbage == 0) {
    BecomeUid(1000);
    int fd = ConnectTo(socket_);
    if (fd < 0) _exit(1);
    char junk[4096];
    std::memset(junk, 0xa5, sizeof(junk));
    (void)!write(fd, junk, sizeof(junk));
    char byte;
    _exit(read(fd, &byte, 1) == 0 ? 0 : 2);  // the broker hangs up
  }
  int status = 0;
  waitpid(garbage, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  RunResult honest = Stub(1000, {"./sandbox_probe", "exit", "0"});
  EXPECT_EQ(honest.exit_code, 0) << honest.err;
}

TEST_F(ServeTest, HostileClientsAreDroppedWhileTenHonestStubsSucceed) {
  std::vector<pid_t> hostile = {
      // 16 MiB in datagrams, the first far over the message limit.
      Hostile([](int fd) {
        std::vector<char> big(16 << 20, 'x');
        if (send(fd, big.data(), big.size(), 0) < 0) {
          for (int i = 0; i < 128; ++i) (void)!send(fd, big.data(), 128 << 10, 0);
        }
      }),
      // 1000 fds, in as many messages as SCM_RIGHTS allows.
      Hostile([](int fd) {
        std::vector<int> fds(250, STDERR_FILENO);
        for (int sent = 0; sent < 1000; sent += 250) {
          const char byte = 0;
          if (ipc::SendWithFds(fd, &byte, 1, fds.data(), fds.size()) < 0) break;
        }
      }),
      // Nothing at all: dropped at the handshake deadline (3 s here).
      Hostile([](int) {}),
  };
  std::vector<std::thread> honest;
  std::vector<RunResult> results(10);
  for (int i = 0; i < 10; ++i) {
    honest.emplace_back([this, i, &results] {
      results[i] = Stub(1000, {"./sandbox_probe", "exit", std::to_string(i)});
    });
  }
  for (std::thread& thread : honest) thread.join();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(results[i].exit_code, i) << results[i].err;
  for (pid_t pid : hostile) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "a hostile client was not hung up on (status " << status << ")";
  }
  std::string events = ReadFile(dir_ + "/events.json");
  bool dropped = false;
  for (const OcsfEvent& event : ParseEvents(events)) {
    dropped |= event.class_uid == 2004 && event.finding_info.title == "sidecar stub dropped";
  }
  EXPECT_TRUE(dropped) << events;
}

TEST_F(ServeTest, ReportNamesCarryAPartTheClientCannotPredict) {
  RunResult result = Stub(1000, {"./sandbox_probe", "exit", "0"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/reports")) {
    names.push_back(entry.path().filename());
  }
  ASSERT_EQ(names.size(), 1u);
  EXPECT_TRUE(std::regex_match(names[0], std::regex("[0-9]+-[0-9a-f]{16}\\.json"))) << names[0];
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/reports/" + names[0]).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600);
}

// The old deployment put reports in the socket directory, which clients
// share: a client planted <its pid>.json -> /etc/anything and the root broker
// wrote through it. A directory another uid can write is now refused.
TEST_F(ServeTest, ReportDirectoryOthersCanWriteRefusesToStart) {
  ScopedTempDir shared;
  for (auto [mode, owner] : {std::pair<mode_t, uid_t>{01777, 0}, {0770, 0}, {0755, 1000}}) {
    ASSERT_EQ(chmod(shared.path().c_str(), mode), 0);
    ASSERT_EQ(chown(shared.path().c_str(), owner, 0), 0);
    RunSpec spec;
    spec.args = {"serve", "--socket", shared.Child("other.sock"), "--report-dir", shared.path()};
    spec.timeout_seconds = 10;
    RunResult result = RunTether(spec);
    EXPECT_EQ(result.exit_code, 64) << result.err;
    EXPECT_NE(result.err.find("--report-dir: " + shared.path()), std::string::npos) << result.err;
    EXPECT_FALSE(std::filesystem::exists(shared.Child("other.sock")));
  }
}

// An impostor (any uid that could replace the socket) listens where the
// stub expects the broker: the stub must send it nothing, the token least.
TEST_F(ServeTest, StubSendsNothingToAServerOfAnotherUid) {
  ScopedTempDir shared;
  ASSERT_EQ(chmod(shared.path().c_str(), 0777), 0);
  std::string impostor_socket = shared.Child("broker.sock");
  std::string token = shared.Child("token");
  std::ofstream(token) << "s3cret\n";
  ASSERT_EQ(chmod(token.c_str(), 0644), 0);
  int listening[2], received[2];
  ASSERT_EQ(pipe(listening), 0);
  ASSERT_EQ(pipe(received), 0);
  pid_t impostor = fork();
  if (impostor == 0) {
    BecomeUid(1000);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un address = UnixAddress(impostor_socket);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(fd, 1) != 0) {
      _exit(1);
    }
    (void)!write(listening[1], "L", 1);
    int connection = accept(fd, nullptr, nullptr);
    char buffer[65536];
    int got = static_cast<int>(recv(connection, buffer, sizeof(buffer), 0));
    (void)!write(received[1], &got, sizeof(got));
    _exit(0);
  }
  close(listening[1]);
  close(received[1]);
  char ready;
  ASSERT_EQ(read(listening[0], &ready, 1), 1);
  RunSpec spec;
  spec.before_exec = [] { BecomeUid(1000); };
  spec.command = {Binaries().Bin("tether-stub"),
                  "--connect",
                  impostor_socket,
                  "--token-file",
                  token,
                  "--",
                  "./sandbox_probe",
                  "exit",
                  "0"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_NE(result.err.find("served by uid 1000, not by the broker's uid 0"), std::string::npos)
      << result.err;
  int got = -2;
  ASSERT_EQ(read(received[0], &got, sizeof(got)), static_cast<ssize_t>(sizeof(got)));
  EXPECT_EQ(got, 0) << "the impostor received " << got << " bytes";
  waitpid(impostor, nullptr, 0);
  close(listening[0]);
  close(received[0]);
}

TEST_F(ServeTest, StubAcceptsTheBrokerUidItIsTold) {
  RunSpec spec;
  spec.before_exec = [this] {
    EnterOwnMountNamespace(dir_ + "/stub-only");
    BecomeUid(1000);
  };
  spec.command = {Binaries().Bin("tether-stub"),
                  "--connect",
                  socket_,
                  "--broker-uid",
                  "0",
                  "--",
                  "./sandbox_probe",
                  "exit",
                  "3"};
  EXPECT_EQ(RunTether(spec).exit_code, 3);
  spec.command[4] = "1000";
  RunResult refused = RunTether(spec);
  EXPECT_EQ(refused.exit_code, 125);
  EXPECT_NE(refused.err.find("served by uid 0, not by the broker's uid 1000"), std::string::npos)
      << refused.err;
}

// A stub in the broker's own pid namespace claims another pid, hoping to be
// served as "not visible" and skip the checks against its /proc.
TEST_F(ServeTest, StubThatLiesAboutItsPidIsRefused) {
  RunSpec spec;
  spec.before_exec = [this] {
    EnterOwnMountNamespace(dir_ + "/stub-only");
    BecomeUid(1000);
  };
  spec.command = {
      Binaries().Bin("lying_stub"), "--connect", socket_, "--", "./sandbox_probe", "exit", "0"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.out, "");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(ReadFile(dir_ + "/serve.log").find("lied in its Hello: it claims pid"),
            std::string::npos)
      << ReadFile(dir_ + "/serve.log");
}

// Signals the server's /proc/<pid>/status says it blocks (SigBlk).
uint64_t BlockedSignals(pid_t pid) {
  std::istringstream status(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("SigBlk:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

TEST_F(ServeTest, SigtermDrainsAndRemovesTheSocket) {
  // Once its socket exists (the fixture waited for it), a SIGTERM can only
  // drain the server: it is blocked, waiting for the loop's signalfd.
  EXPECT_NE(BlockedSignals(server_) & (1ull << (SIGTERM - 1)), 0u);
  kill(server_, SIGTERM);
  int status = 0;
  waitpid(server_, &status, 0);
  server_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_FALSE(std::filesystem::exists(socket_));
}

}  // namespace
}  // namespace tether::testing

namespace tether::testing {
namespace {

class ServeWithTokenTest : public ServeTest {
 protected:
  bool WithToken() const override { return true; }
};

TEST_F(ServeWithTokenTest, StubWithTheRightTokenRuns) {
  std::ofstream(dir_ + "/stub-token") << "s3cret\n";
  chmod((dir_ + "/stub-token").c_str(), 0644);
  RunResult result = Stub(1000, {"./sandbox_probe", "exit", "0"}, dir_ + "/stub-token");
  EXPECT_EQ(result.exit_code, 0) << result.err;
}

TEST_F(ServeWithTokenTest, StubWithAWrongTokenIsRefused) {
  std::ofstream(dir_ + "/stub-token") << "guess\n";
  chmod((dir_ + "/stub-token").c_str(), 0644);
  RunResult result = Stub(1000, {"./sandbox_probe", "exit", "0"}, dir_ + "/stub-token");
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.out, "");
}

TEST_F(ServeWithTokenTest, StubWithoutATokenIsRefused) {
  RunResult result = Stub(1000, {"./sandbox_probe", "exit", "0"});
  EXPECT_EQ(result.exit_code, 125);
}

}  // namespace
}  // namespace tether::testing

namespace tether::testing {
namespace {

// A root stub (as a container entrypoint would start) and the default
// isolated network: the namespace reaches the stub as an fd and it joins.
class ServeIsolatedTest : public ServeTest {
 protected:
  std::vector<std::string> ServerFlags() const override { return {"--allow-uid", "0"}; }

  RunResult RootStub(std::vector<std::string> command, bool own_pid_namespace) {
    RunSpec spec;
    spec.before_exec = [this, own_pid_namespace] {
      EnterOwnMountNamespace(dir_ + "/stub-only");
      if (own_pid_namespace) {
        // The stub becomes pid 1 of a new pid namespace: the broker cannot
        // match it with what it sees in /proc.
        if (unshare(CLONE_NEWPID) != 0) _exit(213);
        pid_t child = fork();
        if (child > 0) {
          int status = 0;
          waitpid(child, &status, 0);
          _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
      }
    };
    return RunStub(spec, command);
  }

  std::string OnlyReport() {
    std::string report;
    for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/reports")) {
      report = ReadFile(entry.path());
    }
    return report;
  }
};

// The warm pool: before any stub connects, the server's waiting workers
// (its children) each hold a ready network, loopback only.
TEST_F(ServeIsolatedTest, WaitingWorkersHoldWarmNetworksBeforeAnyStubConnects) {
  // A worker holds its network as an fd on a network namespace that is not
  // the server's.
  auto warm = [this] {
    std::string own;
    char link[64] = {};
    std::string server_ns = "/proc/" + std::to_string(server_) + "/ns/net";
    if (readlink(server_ns.c_str(), link, sizeof(link) - 1) > 0) own = link;
    int count = 0;
    std::istringstream children(ReadFile("/proc/" + std::to_string(server_) + "/task/" +
                                         std::to_string(server_) + "/children"));
    for (pid_t worker; children >> worker;) {
      std::string fds = "/proc/" + std::to_string(worker) + "/fd";
      bool holds = false;
      std::error_code error;
      for (const auto& entry : std::filesystem::directory_iterator(fds, error)) {
        char target[64] = {};
        if (readlink(entry.path().c_str(), target, sizeof(target) - 1) <= 0) continue;
        holds |= std::string(target).rfind("net:[", 0) == 0 && target != own;
      }
      count += holds;
    }
    return count;
  };
  int seen = 0;
  for (int i = 0; i < 100 && (seen = warm()) < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(seen, 4) << "the default pool is 4 workers, each with its network";
}

// A worker that took a stub is replaced once its handshake is over, not
// once its workload ends (the worker holds the workload's network until
// then): the next launch finds the pool full again. Before, the
// replacement waited for that worker's exit, and a long workload left the
// pool one short throughout.
TEST_F(ServeIsolatedTest, PoolIsRefilledWhileAnAdmittedWorkloadStillRuns) {
  RunSpec spec;
  spec.before_exec = [this] { EnterOwnMountNamespace(dir_ + "/stub-only"); };
  int workers_while_running = -1;
  bool running = false;
  spec.while_running = [&](pid_t stub, int, int) {
    // The stub becomes the sleeping workload once its handshake is over.
    for (int i = 0; i < 500 && !running; ++i) {
      std::vector<std::string> cmdline = CmdlineOf(std::to_string(stub));
      running = !cmdline.empty() && cmdline[0] == "./sandbox_probe";
      if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (int i = 0; i < 300 && workers_while_running != 5; ++i) {
      workers_while_running = Workers();
      if (workers_while_running != 5) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(stub, SIGKILL);
  };
  RunStub(spec, {"./sandbox_probe", "sleep"});
  EXPECT_TRUE(running) << "the stub never became the workload";
  EXPECT_EQ(workers_while_running, 5)
      << "the busy worker and the full default pool of 4 beside it\n"
      << ReadFile(dir_ + "/serve.log");
}

TEST_F(ServeIsolatedTest, RootStubJoinsTheBrokersNetworkNamespaceAndDrops) {
  RunResult result = RootStub({"./sandbox_probe", "interfaces"}, false);
  ASSERT_EQ(result.exit_code, 0) << result.err << ReadFile(dir_ + "/serve.log");
  EXPECT_EQ(result.out.find("interface=eth0"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("interface=lo"), std::string::npos) << result.out;
  std::string text = OnlyReport();
  PostureReport report = ParseReport(text);
  bool joined = false;
  for (const MechanismRecord& record : report.mechanisms) {
    joined |= record.action == "join_network_namespace" && record.state == "enforced";
  }
  EXPECT_TRUE(joined) << text;
  EXPECT_EQ(report.target.uid, 65534u) << text;
}

TEST_F(ServeIsolatedTest, StubInAnotherPidNamespaceIsStubAttestedNeverVerified) {
  RunResult result = RootStub({"./sandbox_probe", "exit", "0"}, true);
  ASSERT_EQ(result.exit_code, 0) << result.err << ReadFile(dir_ + "/serve.log");
  std::string text = OnlyReport();
  PostureReport report = ParseReport(text);
  ASSERT_FALSE(report.mechanisms.empty()) << text;
  bool stub_attested = false;
  std::vector<std::string> verified;
  for (const MechanismRecord& record : report.mechanisms) {
    stub_attested |= record.evidence == "stub-attested";
    if (record.evidence == "verified") verified.push_back(record.mechanism);
  }
  EXPECT_TRUE(stub_attested) << text;
  // Only what the broker reads itself is verified: its own filter (the last
  // record), and that the stub is in another pid namespace (the kernel said
  // so when it could not see the stub), a layer of the container's.
  EXPECT_EQ(verified, (std::vector<std::string>{"pid_namespace", "supervisor_seccomp"})) << text;
  const MechanismRecord* pid_layer = report.Find("pid_namespace", "sidecar_layer");
  ASSERT_NE(pid_layer, nullptr) << text;
  EXPECT_EQ(pid_layer->state, "provided_by_container") << text;
  EXPECT_EQ(report.mechanisms.back().mechanism, "supervisor_seccomp") << text;
  EXPECT_EQ(report.mechanisms.back().evidence, "verified") << text;
}

// Nothing tether did not make is reported as enforced. This stub has a
// mount namespace of its own and shares the others with the broker: /proc
// shows both, and the report says which is which. Its root is still the
// host's, so its own mount namespace is no filesystem view.
TEST_F(ServeIsolatedTest, SidecarLayersAreTheContainersOrNoneNeverEnforced) {
  RunResult result = RootStub({"./sandbox_probe", "exit", "0"}, false);
  ASSERT_EQ(result.exit_code, 0) << result.err << ReadFile(dir_ + "/serve.log");
  std::string text = OnlyReport();
  PostureReport report = ParseReport(text);
  const std::pair<const char*, const char*> expected[] = {
      {"pid_namespace", "not_isolated"},    {"mount_namespace", "provided_by_container"},
      {"ipc_namespace", "not_isolated"},    {"uts_namespace", "not_isolated"},
      {"cgroup_namespace", "not_isolated"}, {"filesystem_view", "not_isolated"}};
  for (const auto& [mechanism, state] : expected) {
    const MechanismRecord* layer = report.Find(mechanism, "sidecar_layer");
    ASSERT_NE(layer, nullptr) << mechanism << " in " << text;
    EXPECT_EQ(layer->state, state) << mechanism << " in " << text;
    EXPECT_EQ(layer->evidence, "verified") << mechanism << " in " << text;
  }
}

}  // namespace
}  // namespace tether::testing

namespace tether::testing {
namespace {

// The default caps: 4 handshakes in progress per uid, 64 live sessions.
class ServeLimitsTest : public ServeTest {
 protected:
  std::vector<std::string> ServerFlags() const override {
    return {"--allow-uid", "1000,2000", "--network", "host", "--pool", "2"};
  }
};

// Before: every connection a worker took started a replacement before any
// check, so idle connections multiplied workers and network namespaces.
TEST_F(ServeLimitsTest, HundredIdleConnectionsLeaveTheWorkerCountBounded) {
  constexpr int kConnections = 100;
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  pid_t flooder = fork();
  if (flooder == 0) {
    BecomeUid(1000);
    std::vector<int> fds;
    for (int i = 0; i < kConnections; ++i) {
      int fd = ConnectTo(socket_);
      if (fd < 0) _exit(1);
      fds.push_back(fd);
    }
    // Counts the connections the broker hung up on within two seconds,
    // sending nothing on any of them.
    std::vector<bool> hung_up(fds.size(), false);
    int count = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline && count < kConnections) {
      std::vector<struct pollfd> polled;
      for (size_t i = 0; i < fds.size(); ++i) {
        polled.push_back({hung_up[i] ? -1 : fds[i], POLLIN, 0});
      }
      if (poll(polled.data(), polled.size(), 100) <= 0) continue;
      for (size_t i = 0; i < fds.size(); ++i) {
        if (polled[i].revents != 0 && !hung_up[i]) {
          hung_up[i] = true;
          ++count;
        }
      }
    }
    (void)!write(report[1], &count, sizeof(count));
    pause();  // holds the rest open until killed
    _exit(0);
  }
  close(report[1]);
  int hung_up = -1;
  ASSERT_EQ(read(report[0], &hung_up, sizeof(hung_up)), static_cast<ssize_t>(sizeof(hung_up)));
  close(report[0]);
  int workers = Workers();
  // Another tenant still gets in while the flood holds its four slots.
  RunResult other = Stub(2000, {"./sandbox_probe", "exit", "7"});
  kill(flooder, SIGKILL);
  waitpid(flooder, nullptr, 0);
  EXPECT_GE(hung_up, kConnections - 4) << "connections over the per-uid cap are refused at once";
  EXPECT_LE(workers, 2 + 4) << "the pool of 2 plus at most 4 handshakes of uid 1000";
  EXPECT_EQ(other.exit_code, 7) << other.err << ReadFile(dir_ + "/serve.log");
  std::string events = ReadFile(dir_ + "/events.json");
  bool refused = false;
  bool names_the_cap = false;
  for (const OcsfEvent& event : ParseEvents(events)) {
    refused |= event.class_uid == 2004 && event.finding_info.title == "sidecar connection refused";
    names_the_cap |= event.message.find("--max-pending-per-uid 4") != std::string::npos;
  }
  EXPECT_TRUE(refused) << events;
  EXPECT_TRUE(names_the_cap) << events;
}

TEST_F(ServeLimitsTest, FlagsOutOfRangeAreUsageErrors) {
  for (const char* flag : {"--max-sessions", "--max-pending-per-uid"}) {
    for (const char* value : {"0", "-1", "x", "5000"}) {
      RunSpec spec;
      spec.args = {"serve", "--socket", dir_ + "/unused.sock", flag, value};
      RunResult result = RunTether(spec);
      EXPECT_EQ(result.exit_code, 64) << flag << " " << value;
      EXPECT_NE(result.err.find(flag), std::string::npos) << result.err;
    }
  }
}

}  // namespace
}  // namespace tether::testing

namespace tether::testing {
namespace {

// Resource limits for sidecar stubs. The stub runs in its container's
// cgroup, which tether does not own: asked cgroup limits are refused in
// strict mode and degraded in best effort, the default pids limit is the
// container's. The timeout is the serve worker's clock: it reaches only the
// workload's own process (what that forks is the container's), so it is
// degraded in best effort and refused in strict mode.

// Every report of the server's stubs so far.
std::vector<std::string> Reports(const std::string& directory) {
  std::vector<std::string> reports;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    reports.push_back(ReadFile(entry.path()));
  }
  return reports;
}

// The resource limits of a report as "memory asked degraded", "pids
// default provided_by_container", in order.
std::vector<std::string> LimitLines(const std::string& text) {
  std::vector<std::string> lines;
  Decoded<schema::PostureReport> decoded(text);
  EXPECT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_TRUE(decoded.get().hasResources()) << text;
  for (schema::ResourceLimit::Reader limit : decoded.get().getResources().getLimits()) {
    lines.push_back(Str(limit.getName()) + (limit.getAsked() ? " asked " : " default ") +
                    Str(limit.getState()));
  }
  return lines;
}

// Live processes whose command line is exactly `argv`.
std::vector<pid_t> ProcessesRunning(const std::vector<std::string>& argv) {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (CmdlineOf(name) == argv) found.push_back(std::stoi(name));
  }
  return found;
}

struct TimeoutCase {
  const char* name;
  // The workload; SLEEP stands for a 10 s sleep whose argv is this run's
  // own, so that it can be looked for afterwards.
  std::vector<std::string> command;
  int exit_code;       // the stub's: the workload is the stub's own process
  double min_seconds;  // the timeout, plus the grace before SIGKILL if it ignores SIGTERM
};

class ServeTimeoutTest : public ServeTest, public ::testing::WithParamInterface<TimeoutCase> {
 protected:
  std::vector<std::string> ServerFlags() const override {
    return {"--allow-uid", "1000", "--network",     "host",
            "--timeout",   "1s",   "--best-effort", "resource_limits"};
  }
};

class ServeStrictTimeoutTest : public ServeTest {
 protected:
  std::vector<std::string> ServerFlags() const override {
    return {"--allow-uid", "1000", "--network", "host", "--timeout", "1s"};
  }
};

TEST_F(ServeStrictTimeoutTest, RefusesStubsBecauseItReachesOnlyTheWorkloadsOwnProcess) {
  RunResult result = Stub(1000, {"./sandbox_probe", "exit", "0"});
  EXPECT_EQ(result.exit_code, 125) << result.err;
  std::vector<std::string> reports = Reports(dir_ + "/reports");
  ASSERT_EQ(reports.size(), 1u);
  PostureReport report = ParseReport(reports[0]);
  EXPECT_EQ(report.outcome, "refused");
  EXPECT_NE(report.error.find("resource_limits: sidecar: the timeout reaches only the workload's "
                              "own process"),
            std::string::npos)
      << report.error;
}

// A host that refuses seccomp filters (gVisor's EINVAL) to the server
// itself. Its workers load the supervisor filter before any stub connects:
// the refusal still decides each stub's fate, never silently. The workload
// filter is best effort in both, so that the supervisor's is what decides.
class ServeFilterRefusedTest : public ServeTest, public ::testing::WithParamInterface<bool> {
 protected:
  std::vector<std::string> Wrapper() const override {
    return {Binaries().Bin("faultenv"), "gvisor", "--"};
  }
  std::vector<std::string> ServerFlags() const override {
    return {
        "--allow-uid",   "1000",
        "--network",     "host",
        "--best-effort", GetParam() ? "workload_seccomp,supervisor_seccomp" : "workload_seccomp"};
  }
};

TEST_P(ServeFilterRefusedTest, StrictRefusesEveryStubAndBestEffortReportsTheFilterDegraded) {
  bool best_effort = GetParam();
  for (int stub = 0; stub < 2; ++stub) {
    RunResult result = Stub(1000, {"./sandbox_probe", "exit", "0"});
    EXPECT_EQ(result.exit_code, best_effort ? 0 : 125) << result.err;
  }
  std::vector<std::string> reports = Reports(dir_ + "/reports");
  ASSERT_EQ(reports.size(), 2u) << ReadFile(dir_ + "/serve.log");
  for (const std::string& text : reports) {
    PostureReport report = ParseReport(text);
    if (!best_effort) {
      EXPECT_EQ(report.outcome, "refused") << text;
      EXPECT_NE(report.error.find("supervisor_seccomp: the broker cannot restrict itself"),
                std::string::npos)
          << report.error;
      continue;
    }
    EXPECT_EQ(report.outcome, "running") << text;
    const MechanismRecord* record = report.Find("supervisor_seccomp");
    ASSERT_NE(record, nullptr) << text;
    EXPECT_EQ(record->state, "degraded") << text;
    EXPECT_EQ(record->errno_value, EINVAL) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Enforcement, ServeFilterRefusedTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "best_effort" : "strict";
                         });

TEST_P(ServeTimeoutTest, EndsTheWorkloadProcessAtTheTimeout) {
  // Unique to this run, so that a sleep that escaped is found by its argv.
  std::vector<std::string> sleeper = {"/bin/sleep", "10." + std::to_string(getpid())};
  std::vector<std::string> command = GetParam().command;
  for (std::string& arg : command) {
    if (size_t at = arg.find("SLEEP"); at != std::string::npos) {
      arg.replace(at, 5, sleeper[0] + " " + sleeper[1]);
    }
  }
  RunSpec spec;
  spec.before_exec = [this] {
    EnterOwnMountNamespace(dir_ + "/stub-only");
    BecomeUid(1000);
  };
  bool slept = false;
  spec.while_running = [&](pid_t stub, int, int) {
    for (int i = 0; i < 500 && !slept; ++i) {
      slept = CmdlineOf(std::to_string(stub)) == sleeper;
      if (!slept) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  spec.timeout_seconds = 20;
  auto started = std::chrono::steady_clock::now();
  RunResult result = RunStub(spec, command);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_TRUE(slept) << "the stub never became the sleep: " << result.err;
  EXPECT_EQ(result.exit_code, GetParam().exit_code) << result.err << ReadFile(dir_ + "/serve.log");
  EXPECT_GE(seconds, GetParam().min_seconds);
  EXPECT_LT(seconds, 5) << "the sleep would have lasted 10 s";
  EXPECT_EQ(ProcessesRunning(sleeper), std::vector<pid_t>{});
  std::vector<std::string> reports = Reports(dir_ + "/reports");
  ASSERT_EQ(reports.size(), 1u);
  PostureReport report = ParseReport(reports[0]);
  EXPECT_EQ(report.outcome, "running") << reports[0];
  const MechanismRecord* timeout = report.Find("resource_limits", "timeout");
  ASSERT_NE(timeout, nullptr) << reports[0];
  EXPECT_EQ(timeout->state, "degraded") << reports[0];
  EXPECT_EQ(timeout->reason,
            "best effort: sidecar: the timeout reaches only the workload's own process (ended "
            "after 1s, then SIGTERM and SIGKILL 2s later); what it forks is its container's to end")
      << reports[0];
  EXPECT_EQ(LimitLines(reports[0]), std::vector<std::string>{"pids default provided_by_container"});
}

INSTANTIATE_TEST_SUITE_P(
    Workloads, ServeTimeoutTest,
    ::testing::Values(
        // SIGTERM ends it.
        TimeoutCase{"sleep", {"/bin/sh", "-c", "exec SLEEP"}, 128 + SIGTERM, 1.0},
        // It ignores SIGTERM: SIGKILL once the grace period is over.
        TimeoutCase{"sleep_ignoring_sigterm",
                    {"/bin/sh", "-c", "trap '' TERM; exec SLEEP"},
                    128 + SIGKILL,
                    3.0}),
    [](const ::testing::TestParamInfo<TimeoutCase>& info) { return info.param.name; });

struct SidecarLimitCase {
  const char* name;
  bool best_effort;  // enforcement.resource_limits in the server's policy
  int exit_code;     // each stub's
  // Refused: the report's error and the server's log say it.
  const char* refusal;
  // Runs: exactly the report's resources.limits.
  std::vector<std::string> limits;
};

class ServeMemoryLimitTest : public ServeTest,
                             public ::testing::WithParamInterface<SidecarLimitCase> {
 protected:
  std::vector<std::string> ServerFlags() const override {
    std::vector<std::string> flags = {"--allow-uid", "1000",     "--network",
                                      "host",        "--memory", "64M"};
    if (GetParam().best_effort) {
      // `tether serve` widens enforcement through its policy only.
      std::ofstream(policy_.Child("policy.json"))
          << R"({"enforcement": {"resource_limits": "best_effort"}})";
      flags.insert(flags.end(), {"--policy", policy_.Child("policy.json")});
    }
    return flags;
  }

  ScopedTempDir policy_;
};

TEST_P(ServeMemoryLimitTest, AskedLimitsRefuseEveryStubInStrictModeAndDegradeInBestEffort) {
  for (int stub = 0; stub < 2; ++stub) {
    RunResult result = Stub(1000, {"./sandbox_probe", "exit", "0"});
    EXPECT_EQ(result.exit_code, GetParam().exit_code)
        << "stub " << stub << ": " << result.err << ReadFile(dir_ + "/serve.log");
  }
  std::vector<std::string> reports = Reports(dir_ + "/reports");
  ASSERT_EQ(reports.size(), 2u);
  for (const std::string& text : reports) {
    PostureReport report = ParseReport(text);
    if (GetParam().refusal != nullptr) {
      EXPECT_EQ(report.outcome, "refused") << text;
      EXPECT_NE(report.error.find(GetParam().refusal), std::string::npos) << text;
      continue;
    }
    EXPECT_EQ(report.outcome, "running") << text;
    EXPECT_EQ(LimitLines(text), GetParam().limits) << text;
    const MechanismRecord* memory = report.Find("resource_limits", "memory_limit");
    ASSERT_NE(memory, nullptr) << text;
    EXPECT_EQ(memory->state, "degraded") << text;
    EXPECT_NE(memory->reason.find("best effort: sidecar: the memory limit 64M cannot be applied: "
                                  "the stub runs in its container's cgroup"),
              std::string::npos)
        << text;
    EXPECT_EQ(report.enforcement["resource_limits"].mode, "best_effort") << text;
  }
  if (GetParam().refusal != nullptr) {
    std::string log = ReadFile(dir_ + "/serve.log");
    EXPECT_NE(log.find(GetParam().refusal), std::string::npos) << log;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Enforcement, ServeMemoryLimitTest,
    ::testing::Values(SidecarLimitCase{"strict",
                                       false,
                                       125,
                                       "resource_limits: sidecar: the memory limit 64M cannot be "
                                       "applied: the stub runs in its container's cgroup",
                                       {}},
                      SidecarLimitCase{"best_effort",
                                       true,
                                       0,
                                       nullptr,
                                       {"memory asked degraded", "swap asked degraded",
                                        "pids default provided_by_container"}}),
    [](const ::testing::TestParamInfo<SidecarLimitCase>& info) { return info.param.name; });

}  // namespace
}  // namespace tether::testing
