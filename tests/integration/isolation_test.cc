// Two tenants on one host: tenant A holds files in /tmp and /dev/shm, SysV
// IPC objects and a unix socket, tenant B (the same uid, 65534) attacks them
// and everything the host has of the same kinds, from its own sandbox, while
// A is running. Every attacked object is first shown reachable from outside
// a sandbox, so that only the sandbox can be what stops B:
//
//   - the host twin H is `tenant_probe hold` run unsandboxed as uid 65534;
//     an unsandboxed uid-65534 process runs the very same attack on H's
//     objects, on the host daemon's socket under /run and on A's process,
//     and succeeds;
//   - A's SysV objects are attacked the same way by an unsandboxed uid-65534
//     process that joined A's IPC namespace (setns), and succeeds;
//   - A's files and socket are reached by root through /proc/<A>/root, and
//     are owned by uid 65534 with mode 0600, which B's uid passes.

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/sandbox_fixture.h"

namespace tether::testing {
namespace {

constexpr uid_t kNobody = 65534;

std::string TenantProbe() { return Binaries().Bin("tenant_probe"); }

// Appends what `fd` gives to *text until a line starts with `prefix`, EOF,
// or the deadline.
void ReadUntilLine(int fd, const std::string& prefix, int seconds, std::string* text) {
  ReadUntil(fd, seconds, text, [&](const std::string& read) {
    return read.rfind("\n" + prefix) != std::string::npos || read.rfind(prefix, 0) == 0;
  });
}

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  return argv;
}

// In a forked child: joins the IPC namespace `ipc_ns_fd` when >= 0, then
// becomes uid/gid 65534 without groups when `as_nobody`. _exits on failure.
void BecomeOutsider(int ipc_ns_fd, bool as_nobody) {
  if (ipc_ns_fd >= 0 && setns(ipc_ns_fd, CLONE_NEWIPC) != 0) _exit(90);
  if (as_nobody && (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
                    setresuid(kNobody, kNobody, kNobody) != 0)) {
    _exit(91);
  }
}

// Runs tenant_probe ARGS outside any sandbox and returns its stdout.
std::string RunOutside(std::vector<std::string> args, bool as_nobody, int ipc_ns_fd = -1) {
  args.insert(args.begin(), TenantProbe());
  std::vector<char*> argv = Argv(args);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return "<pipe failed>";
  pid_t child = fork();
  if (child == 0) {
    dup2(out[1], 1);
    if (chdir("/") != 0) _exit(92);
    BecomeOutsider(ipc_ns_fd, as_nobody);
    execv(argv[0], argv.data());
    _exit(93);
  }
  close(out[1]);
  std::string text;
  ReadUntilLine(out[0], "<never>", 30, &text);
  close(out[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    text += "exit_status=" + std::to_string(status) + "\n";
  }
  return text;
}

// The host pid of the process running `tenant_probe hold NAME ...`.
pid_t FindHolder(const std::string& name) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::string pid = entry.path().filename();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::vector<std::string> args = CmdlineOf(pid);
      if (args.size() >= 3 && args[1] == "hold" && args[2] == name) return std::stoi(pid);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return 0;
}

std::string Hostname() {
  struct utsname names;
  return uname(&names) == 0 ? names.nodename : "<uname failed>";
}

struct Holder {
  std::string name;
  key_t key = 0;
  pid_t pid = 0;  // as the host sees it
  std::string out;
  std::string Value(const std::string& key) const { return FindLine(out, key + "="); }
  std::string TmpFile() const { return "/tmp/" + name; }
  std::string ShmFile() const { return "/dev/shm/" + name; }
  std::string Socket() const { return "/tmp/" + name + ".sock"; }
};

// Everything the tests look at, set up once: the holders, the daemon, the
// outside controls and tenant B's runs.
struct World {
  std::string error;  // empty when the set-up worked
  Holder a;           // tenant A, sandboxed
  Holder h;           // the host twin, unsandboxed uid 65534
  std::string daemon_dir;
  std::string daemon_socket;
  int daemon_fd = -1;

  std::thread a_thread;
  std::promise<void> a_ready;
  std::promise<void> release_a;
  RunResult a_result;

  std::string outside_host;    // uid 65534, host namespaces
  std::string outside_a_ipc;   // uid 65534, in A's IPC namespace
  std::string outside_a_root;  // root, A's files through /proc/<A>/root
  RunResult b_attack;
  RunResult b_ps;
  RunResult b_hostname;
  std::string host_hostname;
  std::string host_init;
};

World* world = nullptr;

enum class Object {
  kATmpFile,
  kAShmFile,
  kAFileThroughProcRoot,
  kASocket,
  kAShmKey,
  kAShmId,
  kAMsgKey,
  kAProcess,
  kAProcEntry,
  kHTmpFile,
  kHShmFile,
  kHSocket,
  kRunDaemonSocket,
  kHShmKey,
  kHShmId,
  kHMsgKey,
  kHProcess,
  kHProcEntry,
  kTestProcEntry,
};

// Where the outside control that proves an object reachable runs.
enum class Vantage { kNobodyOnHost, kNobodyInAIpcNamespace, kRootThroughProcRoot };

Vantage VantageOf(Object object) {
  switch (object) {
    case Object::kATmpFile:
    case Object::kAShmFile:
    case Object::kAFileThroughProcRoot:
    case Object::kASocket: return Vantage::kRootThroughProcRoot;
    case Object::kAShmKey:
    case Object::kAShmId:
    case Object::kAMsgKey: return Vantage::kNobodyInAIpcNamespace;
    default: return Vantage::kNobodyOnHost;
  }
}

// The attack's argument as tenant B gives it.
std::string SandboxArg(const World& w, Object object) {
  std::string a_root = "/proc/" + std::to_string(w.a.pid) + "/root";
  switch (object) {
    case Object::kATmpFile: return w.a.TmpFile();
    case Object::kAShmFile: return w.a.ShmFile();
    case Object::kAFileThroughProcRoot: return a_root + w.a.TmpFile();
    case Object::kASocket: return w.a.Socket();
    case Object::kAShmKey:
    case Object::kAMsgKey: return std::to_string(w.a.key);
    case Object::kAShmId: return w.a.Value("shm_id");
    case Object::kAProcess: return std::to_string(w.a.pid);
    case Object::kAProcEntry: return "/proc/" + std::to_string(w.a.pid);
    case Object::kHTmpFile: return w.h.TmpFile();
    case Object::kHShmFile: return w.h.ShmFile();
    case Object::kHSocket: return w.h.Socket();
    case Object::kRunDaemonSocket: return w.daemon_socket;
    case Object::kHShmKey:
    case Object::kHMsgKey: return std::to_string(w.h.key);
    case Object::kHShmId: return w.h.Value("shm_id");
    case Object::kHProcess: return std::to_string(w.h.pid);
    case Object::kHProcEntry: return "/proc/" + std::to_string(w.h.pid);
    case Object::kTestProcEntry: return "/proc/" + std::to_string(getpid());
  }
  return "";
}

// The same object as the outside control reaches it.
std::string OutsideArg(const World& w, Object object) {
  std::string arg = SandboxArg(w, object);
  if (VantageOf(object) == Vantage::kRootThroughProcRoot && arg.rfind("/proc/", 0) != 0) {
    return "/proc/" + std::to_string(w.a.pid) + "/root" + arg;
  }
  return arg;
}

const std::string& OutsideOutput(const World& w, Object object) {
  switch (VantageOf(object)) {
    case Vantage::kNobodyOnHost: return w.outside_host;
    case Vantage::kNobodyInAIpcNamespace: return w.outside_a_ipc;
    case Vantage::kRootThroughProcRoot: return w.outside_a_root;
  }
  return w.outside_host;
}

struct AttackCase {
  const char* name;
  const char* kind;  // tenant_probe attack KIND
  Object object;
  const char* blocked_with;  // the errno tenant B must get
};

// Test names and failure messages show the case by its name.
void PrintTo(const AttackCase& value, std::ostream* os) { *os << value.name; }

const AttackCase kAttacks[] = {
    {"TenantTmpFileRead", "read", Object::kATmpFile, "ENOENT"},
    {"TenantTmpFileAppend", "append", Object::kATmpFile, "ENOENT"},
    {"TenantDevShmFileRead", "read", Object::kAShmFile, "ENOENT"},
    {"TenantDevShmFileAppend", "append", Object::kAShmFile, "ENOENT"},
    {"TenantFileThroughProcPidRoot", "read", Object::kAFileThroughProcRoot, "ENOENT"},
    {"TenantUnixSocket", "connect", Object::kASocket, "ENOENT"},
    {"TenantSysvShmByKey", "shmget", Object::kAShmKey, "ENOENT"},
    {"TenantSysvShmById", "shmat", Object::kAShmId, "EINVAL"},
    {"TenantSysvMsgQueueByKey", "msgget", Object::kAMsgKey, "ENOENT"},
    {"TenantProcessSignal", "kill", Object::kAProcess, "ESRCH"},
    {"TenantProcessInProc", "stat", Object::kAProcEntry, "ENOENT"},
    {"HostTmpFileRead", "read", Object::kHTmpFile, "ENOENT"},
    {"HostTmpFileAppend", "append", Object::kHTmpFile, "ENOENT"},
    {"HostDevShmFileRead", "read", Object::kHShmFile, "ENOENT"},
    {"HostDevShmFileAppend", "append", Object::kHShmFile, "ENOENT"},
    {"HostUnixSocketInTmp", "connect", Object::kHSocket, "ENOENT"},
    {"HostDaemonSocketUnderRun", "connect", Object::kRunDaemonSocket, "ENOENT"},
    {"HostSysvShmByKey", "shmget", Object::kHShmKey, "ENOENT"},
    {"HostSysvShmById", "shmat", Object::kHShmId, "EINVAL"},
    {"HostSysvMsgQueueByKey", "msgget", Object::kHMsgKey, "ENOENT"},
    {"HostProcessSignal", "kill", Object::kHProcess, "ESRCH"},
    {"HostProcessInProc", "stat", Object::kHProcEntry, "ENOENT"},
    {"TestProcessInProc", "stat", Object::kTestProcEntry, "ENOENT"},
};

std::string Spec(const AttackCase& attack, const std::string& arg) {
  return std::string(attack.kind) + "=" + arg;
}

std::string Key(const AttackCase& attack, const std::string& arg) {
  return std::string(attack.kind) + ":" + arg + "=";
}

// A daemon of the host's, as root: a unix socket anyone may connect to
// (0777) in a directory under /run that anyone may enter (0755).
void StartDaemon(World* w) {
  w->daemon_dir = "/run/tether-isolation-" + std::to_string(getpid());
  std::filesystem::remove_all(w->daemon_dir);
  if (mkdir(w->daemon_dir.c_str(), 0755) != 0 || chmod(w->daemon_dir.c_str(), 0755) != 0) {
    w->error += "mkdir " + w->daemon_dir + " failed; ";
    return;
  }
  w->daemon_socket = w->daemon_dir + "/daemon.sock";
  w->daemon_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", w->daemon_socket.c_str());
  if (bind(w->daemon_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      chmod(w->daemon_socket.c_str(), 0777) != 0 || listen(w->daemon_fd, 64) != 0) {
    w->error += "the daemon socket " + w->daemon_socket + " could not listen; ";
  }
}

// The host twin: `tenant_probe hold` as uid 65534, outside any sandbox.
void StartHostTwin(World* w) {
  std::vector<std::string> args = {TenantProbe(), "hold", w->h.name, std::to_string(w->h.key)};
  std::vector<char*> argv = Argv(args);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    w->error += "pipe failed; ";
    return;
  }
  pid_t child = fork();
  if (child == 0) {
    dup2(out[1], 1);
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    if (chdir("/") != 0) _exit(92);
    BecomeOutsider(-1, true);
    execv(argv[0], argv.data());
    _exit(93);
  }
  close(out[1]);
  w->h.pid = child;
  ReadUntilLine(out[0], "ready=", 10, &w->h.out);
  close(out[0]);  // the holder flushes only up to ready=, then waits
  if (w->h.Value("ready") != "1") w->error += "the host twin is not ready: " + w->h.out + "; ";
}

// Tenant A: `tether run -- tenant_probe hold`, held until TearDown.
void StartTenantA(World* w) {
  std::future<void> is_ready = w->a_ready.get_future();
  std::shared_future<void> released = w->release_a.get_future().share();
  w->a_thread = std::thread([w, released] {
    RunSpec spec;
    spec.args = {"run", "--", TenantProbe(), "hold", w->a.name, std::to_string(w->a.key)};
    spec.timeout_seconds = 30;
    bool signalled = false;
    spec.while_running = [&](pid_t tether, int out_fd, int) {
      ReadUntilLine(out_fd, "ready=", 30, &w->a.out);
      signalled = true;
      w->a_ready.set_value();
      released.wait_for(std::chrono::minutes(10));
      kill(tether, SIGTERM);
    };
    w->a_result = RunTether(spec);
    if (!signalled) w->a_ready.set_value();
  });
  is_ready.wait();
  if (w->a.Value("ready") != "1") {
    w->release_a.set_value();
    w->a_thread.join();
    w->error += "tenant A is not ready: out: " + w->a.out + w->a_result.out +
                " err: " + w->a_result.err + "; ";
    return;
  }
  w->a.pid = FindHolder(w->a.name);
  if (w->a.pid == 0) w->error += "tenant A's holder is not in the host's /proc; ";
}

RunResult RunTenantB(const std::vector<std::string>& probe_args) {
  RunSpec spec;
  spec.args = {"run", "--", TenantProbe()};
  spec.args.insert(spec.args.end(), probe_args.begin(), probe_args.end());
  return RunTether(spec);
}

void RemoveHostLeftovers(const Holder& holder) {
  for (const std::string& path : {holder.TmpFile(), holder.ShmFile(), holder.Socket()}) {
    unlink(path.c_str());
  }
  int shm = shmget(holder.key, 0, 0);
  if (shm >= 0) shmctl(shm, IPC_RMID, nullptr);
  int msg = msgget(holder.key, 0);
  if (msg >= 0) msgctl(msg, IPC_RMID, nullptr);
}

class TenantsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    world = new World;
    World& w = *world;
    std::string suffix = std::to_string(getpid());
    key_t base = 0x54e00000 + (getpid() % 0x10000) * 4;
    w.a.name = "tether-tenant-a-" + suffix;
    w.a.key = base + 1;
    w.h.name = "tether-tenant-h-" + suffix;
    w.h.key = base + 2;
    for (const Holder* holder : {&w.a, &w.h}) RemoveHostLeftovers(*holder);
    w.host_hostname = Hostname();
    std::vector<std::string> init = CmdlineOf("1");
    w.host_init = init.empty() ? "" : init[0];

    StartDaemon(&w);
    StartHostTwin(&w);
    StartTenantA(&w);
    if (!w.error.empty()) return;

    std::vector<std::string> host_attack = {"attack"}, a_ipc_attack = {"attack"},
                             a_root_attack = {"attack"}, b_attack = {"attack"};
    for (const AttackCase& attack : kAttacks) {
      std::string outside = Spec(attack, OutsideArg(w, attack.object));
      switch (VantageOf(attack.object)) {
        case Vantage::kNobodyOnHost: host_attack.push_back(outside); break;
        case Vantage::kNobodyInAIpcNamespace: a_ipc_attack.push_back(outside); break;
        case Vantage::kRootThroughProcRoot: a_root_attack.push_back(outside); break;
      }
      b_attack.push_back(Spec(attack, SandboxArg(w, attack.object)));
    }
    for (const std::string& path : {w.a.TmpFile(), w.a.ShmFile()}) {
      a_root_attack.push_back("stat=/proc/" + std::to_string(w.a.pid) + "/root" + path);
    }
    host_attack.push_back("count=/proc/sysvipc/shm");
    host_attack.push_back("count=/proc/sysvipc/msg");
    b_attack.push_back("count=/proc/sysvipc/shm");
    b_attack.push_back("count=/proc/sysvipc/msg");

    // Tenant B first: the outside controls append to the files too.
    w.b_attack = RunTenantB(b_attack);
    w.b_ps = RunTenantB({"ps"});
    w.b_hostname = RunTenantB({"hostname"});

    w.outside_host = RunOutside(host_attack, true);
    int a_ipc =
        open(("/proc/" + std::to_string(w.a.pid) + "/ns/ipc").c_str(), O_RDONLY | O_CLOEXEC);
    if (a_ipc < 0) w.error += "cannot open tenant A's IPC namespace; ";
    w.outside_a_ipc = RunOutside(a_ipc_attack, true, a_ipc);
    if (a_ipc >= 0) close(a_ipc);
    w.outside_a_root = RunOutside(a_root_attack, false);
  }

  void TearDown() override {
    World& w = *world;
    if (w.a_thread.joinable()) {
      w.release_a.set_value();
      w.a_thread.join();
    }
    if (w.h.pid > 0) {
      kill(w.h.pid, SIGTERM);
      waitpid(w.h.pid, nullptr, 0);
    }
    if (w.daemon_fd >= 0) close(w.daemon_fd);
    if (!w.daemon_dir.empty()) std::filesystem::remove_all(w.daemon_dir);
    // Without isolation A's objects were the host's.
    for (const Holder* holder : {&w.a, &w.h}) RemoveHostLeftovers(*holder);
    delete world;
    world = nullptr;
  }
};

[[maybe_unused]] ::testing::Environment* const tenants =
    ::testing::AddGlobalTestEnvironment(new TenantsEnvironment);

class CrossSandboxAttackTest : public ::testing::TestWithParam<AttackCase> {};

TEST_P(CrossSandboxAttackTest, ReachableFromOutsideButNotFromAnotherSandbox) {
  const World& w = *world;
  ASSERT_EQ(w.error, "");
  const AttackCase& attack = GetParam();
  const std::string outside_key = Key(attack, OutsideArg(w, attack.object));
  const std::string& outside = OutsideOutput(w, attack.object);
  // The object exists and the attack works where nothing isolates it.
  ASSERT_EQ(FindLine(outside, outside_key), "ok")
      << "precondition: outside a sandbox, " << outside_key << "\n"
      << outside;
  ASSERT_EQ(w.b_attack.exit_code, 0) << w.b_attack.err;
  ASSERT_EQ(FindLine(w.b_attack.out, "done="), "1") << w.b_attack.out << w.b_attack.err;
  const std::string sandbox_key = Key(attack, SandboxArg(w, attack.object));
  EXPECT_EQ(FindLine(w.b_attack.out, sandbox_key), attack.blocked_with)
      << "tenant B's " << sandbox_key;
}

INSTANTIATE_TEST_SUITE_P(Objects, CrossSandboxAttackTest, ::testing::ValuesIn(kAttacks),
                         [](const ::testing::TestParamInfo<AttackCase>& info) {
                           return std::string(info.param.name);
                         });

// What makes the attacks above meaningful: the same uid on both sides, and
// files whose mode lets that uid in, holding what tenant A wrote.
TEST(IsolationTest, TenantsShareAUidThatTheFileModesWouldLetIn) {
  const World& w = *world;
  ASSERT_EQ(w.error, "");
  EXPECT_EQ(FindLine(w.b_attack.out, "uid="), std::to_string(kNobody)) << w.b_attack.out;
  const std::string a_root = "/proc/" + std::to_string(w.a.pid) + "/root";
  for (const std::string& path : {w.a.TmpFile(), w.a.ShmFile()}) {
    EXPECT_EQ(FindLine(w.outside_a_root, "owner:" + a_root + path + "="), "65534 600")
        << w.outside_a_root;
    // (+tampered when an attack got through.)
    EXPECT_EQ(
        FindLine(w.outside_a_root, "data:" + a_root + path + "=").rfind("secret-" + w.a.name, 0),
        0u)
        << w.outside_a_root;
  }
  EXPECT_EQ(FindLine(w.outside_a_ipc, "shm_data:" + w.a.Value("shm_id") + "="),
            "secret-" + w.a.name)
      << w.outside_a_ipc;
  EXPECT_EQ(FindLine(w.outside_host, "shm_data:" + w.h.Value("shm_id") + "="), "secret-" + w.h.name)
      << w.outside_host;
}

// Not even a listing gives SysV objects away (IPC_PRIVATE ones included).
TEST(IsolationTest, SysvIpcListingsInsideShowNoObject) {
  const World& w = *world;
  ASSERT_EQ(w.error, "");
  for (const char* listing : {"/proc/sysvipc/shm", "/proc/sysvipc/msg"}) {
    const std::string path = listing;
    // A header line plus at least the host twin's object.
    ASSERT_GE(std::atoi(FindLine(w.outside_host, "lines:" + path + "=").c_str()), 2)
        << "precondition: " << path << " outside\n"
        << w.outside_host;
    EXPECT_EQ(FindLine(w.b_attack.out, "lines:" + path + "="), "1") << path << " inside tenant B:\n"
                                                                    << w.b_attack.out;
  }
}

TEST(IsolationTest, ProcListsOnlyTheSandboxsOwnProcesses) {
  const World& w = *world;
  ASSERT_EQ(w.error, "");
  // Outside, the host's /proc has this test, the host twin and tenant A.
  for (pid_t pid : {getpid(), w.h.pid, w.a.pid}) {
    ASSERT_TRUE(std::filesystem::exists("/proc/" + std::to_string(pid))) << pid;
  }
  ASSERT_EQ(w.b_ps.exit_code, 0) << w.b_ps.err;
  std::string self = FindLine(w.b_ps.out, "self=");
  std::set<std::string> pids;
  for (const std::string& line : FindLines(w.b_ps.out, "proc="))
    pids.insert(line.substr(0, line.find(' ')));
  EXPECT_EQ(pids, (std::set<std::string>{"1", self}))
      << "tenant B's /proc must hold its init and itself only:\n"
      << w.b_ps.out;
  EXPECT_EQ(FindLine(w.b_ps.out, "ppid="), "1") << w.b_ps.out;
  for (const std::string& line : FindLines(w.b_ps.out, "cmdline=")) {
    EXPECT_EQ(line.find(w.a.name), std::string::npos) << "tenant A is visible: " << line;
    EXPECT_EQ(line.find(w.h.name), std::string::npos) << "the host twin is visible: " << line;
  }
}

TEST(IsolationTest, ProcOneIsTheSandboxsInitNotTheHosts) {
  const World& w = *world;
  ASSERT_EQ(w.error, "");
  ASSERT_NE(w.host_init, "") << "precondition: the host's /proc/1/cmdline";
  ASSERT_NE(w.host_init, "tether-stub") << "precondition: the host's init is something else";
  ASSERT_EQ(w.b_ps.exit_code, 0) << w.b_ps.err;
  std::string init = FindLine(w.b_ps.out, "init_cmdline=");
  EXPECT_EQ(init.substr(0, init.find(' ')), "tether-stub")
      << "/proc/1 inside is " << init << ", the host's is " << w.host_init;
}

TEST(IsolationTest, HostnameInsideIsTetherAndTheHostsIsUnchanged) {
  const World& w = *world;
  ASSERT_EQ(w.error, "");
  ASSERT_NE(w.host_hostname, "tether") << "precondition: the host has another name";
  ASSERT_EQ(w.b_hostname.exit_code, 0) << w.b_hostname.err;
  EXPECT_EQ(FindLine(w.b_hostname.out, "hostname="), "tether") << w.b_hostname.out;
  EXPECT_EQ(Hostname(), w.host_hostname);
}

}  // namespace
}  // namespace tether::testing
