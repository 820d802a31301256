// Each fault environment really denies what it claims, with the real kernel
// and real programs: util-linux unshare, id, cat, and this binary itself
// re-executed as a probe for the raw clone and clone3 system calls.

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr char kProbeFlag[] = "--faultenv-probe=";

// Prints "created" (exit 0) when the kernel let the probe create a child,
// otherwise the errno name (exit 1).
int RunProbe(const std::string& probe) {
  long pid = -1;
  if (probe == "clone3") {
    uint64_t args[8] = {};  // struct clone_args, CLONE_ARGS_SIZE_VER0
    args[0] = CLONE_NEWPID;
    args[4] = SIGCHLD;
    pid = syscall(SYS_clone3, args, sizeof(args));
  } else {
    unsigned long flags = probe == "clone-newpid"  ? CLONE_NEWPID
                          : probe == "clone-newns" ? CLONE_NEWNS
                                                   : 0;
    pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  }
  if (pid == 0) _exit(0);
  if (pid < 0) {
    int error = errno;
    std::printf("%s\n", error == EPERM    ? "EPERM"
                        : error == ENOSYS ? "ENOSYS"
                                          : std::to_string(error).c_str());
    return 1;
  }
  int status = 0;
  waitpid(static_cast<pid_t>(pid), &status, 0);
  std::printf("created\n");
  return 0;
}

// Before gtest's main: re-executed with kProbeFlag, this binary is the probe.
const bool kIsProbe = [] {
  std::string cmdline;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[512];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) cmdline.append(buffer, n);
  close(fd);
  size_t second = cmdline.find('\0');
  if (second == std::string::npos) return false;
  std::string arg = cmdline.substr(second + 1, cmdline.find('\0', second + 1) - second - 1);
  if (arg.rfind(kProbeFlag, 0) != 0) return false;
  int code = RunProbe(arg.substr(sizeof(kProbeFlag) - 1));
  std::fflush(stdout);
  _exit(code);
}();

std::string Faultenv() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/" +
         (workspace != nullptr ? workspace : "tether") + "/tests/faultenv/faultenv";
}

std::string Self() {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  return n > 0 ? std::string(path, n) : std::string();
}

struct Outcome {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

// faultenv MODE -- COMMAND, with stdout and stderr captured.
Outcome RunInFaultenv(const std::string& mode, const std::vector<std::string>& command) {
  std::vector<std::string> args = {Faultenv(), mode, "--"};
  args.insert(args.end(), command.begin(), command.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, STDIN_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  Outcome run;
  struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&run.out, &run.err};
  int open_fds = 2;
  while (open_fds > 0 && poll(fds, 2, -1) >= 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, n);
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  return run;
}

struct Case {
  const char* name;
  const char* mode;
  std::vector<std::string> command;  // "$SELF" is this binary
  int exit_code;                     // 1 from unshare or the probe: denied
  const char* output_contains;       // stdout or stderr; nullptr: anything
};

class FaultenvTest : public ::testing::TestWithParam<Case> {};

TEST_P(FaultenvTest, CommandSeesTheDeniedMechanism) {
  // Tagged requires-root: without root this would prove nothing, so it fails.
  ASSERT_EQ(geteuid(), 0u) << "needs real root";
  std::vector<std::string> command = GetParam().command;
  for (std::string& arg : command) {
    if (arg == "$SELF") arg = Self();
  }
  Outcome run = RunInFaultenv(GetParam().mode, command);
  EXPECT_EQ(run.exit_code, GetParam().exit_code)
      << "stdout: " << run.out << "\nstderr: " << run.err;
  if (GetParam().output_contains != nullptr) {
    EXPECT_NE((run.out + run.err).find(GetParam().output_contains), std::string::npos)
        << "stdout: " << run.out << "\nstderr: " << run.err;
  }
}

const char* const kUnshare = "/usr/bin/unshare";
const char* const kTrue = "/bin/true";

INSTANTIATE_TEST_SUITE_P(
    Modes, FaultenvTest,
    ::testing::Values(
        Case{"HardenedDeniesNetworkNamespace", "hardened", {kUnshare, "--net", kTrue}, 1, nullptr},
        Case{"HardenedAllowsPidNamespace",
             "hardened",
             {kUnshare, "--pid", "--fork", kTrue},
             0,
             nullptr},
        Case{"NoPidnsDeniesUnsharePid",
             "no-pidns",
             {kUnshare, "--pid", "--fork", kTrue},
             1,
             nullptr},
        Case{"NoPidnsDeniesCloneNewpid",
             "no-pidns",
             {"$SELF", "--faultenv-probe=clone-newpid"},
             1,
             "EPERM"},
        Case{"NoPidnsAnswersClone3WithEnosys",
             "no-pidns",
             {"$SELF", "--faultenv-probe=clone3"},
             1,
             "ENOSYS"},
        Case{"NoPidnsAllowsPlainClone",
             "no-pidns",
             {"$SELF", "--faultenv-probe=clone"},
             0,
             "created"},
        Case{"NoPidnsAllowsMountNamespace", "no-pidns", {kUnshare, "--mount", kTrue}, 0, nullptr},
        Case{"NoMountnsDeniesUnshareMount", "no-mountns", {kUnshare, "--mount", kTrue}, 1, nullptr},
        Case{"NoMountnsDeniesCloneNewns",
             "no-mountns",
             {"$SELF", "--faultenv-probe=clone-newns"},
             1,
             "EPERM"},
        Case{"NoMountnsAnswersClone3WithEnosys",
             "no-mountns",
             {"$SELF", "--faultenv-probe=clone3"},
             1,
             "ENOSYS"},
        Case{"NoMountnsAllowsPidNamespace",
             "no-mountns",
             {kUnshare, "--pid", "--fork", kTrue},
             0,
             nullptr},
        Case{"NoIpcUtsCgroupnsDeniesUnshareIpc",
             "no-ipc-uts-cgroupns",
             {kUnshare, "--ipc", kTrue},
             1,
             nullptr},
        Case{"NoIpcUtsCgroupnsDeniesUnshareUts",
             "no-ipc-uts-cgroupns",
             {kUnshare, "--uts", kTrue},
             1,
             nullptr},
        Case{"NoIpcUtsCgroupnsDeniesUnshareCgroup",
             "no-ipc-uts-cgroupns",
             {kUnshare, "--cgroup", kTrue},
             1,
             nullptr},
        Case{"NoIpcUtsCgroupnsAllowsMountAndPid",
             "no-ipc-uts-cgroupns",
             {kUnshare, "--mount", "--pid", "--fork", kTrue},
             0,
             nullptr},
        Case{"MaskedProcRefusesFreshProcMount",
             "masked-proc",
             {kUnshare, "--pid", "--fork", "--mount-proc", kTrue},
             1,
             "mount /proc failed: Operation not permitted"},
        Case{"MaskedProcAllowsPidNamespace",
             "masked-proc",
             {kUnshare, "--pid", "--fork", kTrue},
             0,
             nullptr},
        Case{"MaskedProcAllowsMountNamespace",
             "masked-proc",
             {kUnshare, "--mount", kTrue},
             0,
             nullptr},
        Case{"MaskedProcRunsAsRoot", "masked-proc", {"/usr/bin/id", "-u"}, 0, "0\n"},
        Case{"MaskedProcMapsEveryId",
             "masked-proc",
             {"/bin/cat", "/proc/self/uid_map", "/proc/self/gid_map", "/proc/self/setgroups"},
             0,
             "4294967295\n         0          0 4294967295\nallow"},
        Case{"MaskedProcInstallsNoSeccompFilter",
             "masked-proc",
             {"/bin/grep", "^Seccomp:", "/proc/self/status"},
             0,
             "Seccomp:\t0"},
        Case{"MaskedProcLeavesNoNewPrivsUnset",
             "masked-proc",
             {"/bin/grep", "^NoNewPrivs:", "/proc/self/status"},
             0,
             "NoNewPrivs:\t0"},
        Case{"NoUsernsDeniesUnshareUser",
             "no-userns",
             {kUnshare, "--user", kTrue},
             1,
             "Operation not permitted"},
        Case{"NoUsernsRunsAsUid1000", "no-userns", {"/usr/bin/id", "-u"}, 0, "1000\n"},
        Case{"NoUsernsDeniesUnsharePidWithoutCapabilities",
             "no-userns",
             {kUnshare, "--pid", "--fork", kTrue},
             1,
             nullptr},
        Case{"MaxUserns0RefusesUserNamespaceWithEnospc",
             "max-userns-0",
             {kUnshare, "--user", kTrue},
             1,
             "No space left on device"},
        Case{"MaxUserns0RunsAsUid1000", "max-userns-0", {"/usr/bin/id", "-u"}, 0, "1000\n"},
        Case{"MaxUserns0SetsTheLimitInItsOwnUserNamespace",
             "max-userns-0",
             {"/bin/cat", "/proc/sys/user/max_user_namespaces", "/proc/self/uid_map"},
             0,
             "0\n         0          0 4294967295"}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

}  // namespace
