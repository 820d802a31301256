// `tether run` end to end on the real kernel, as root: real identity change,
// real Landlock and seccomp, real signals.

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/report_json.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

RunResult Probe(std::vector<std::string> probe_args, std::vector<std::string> flags = {}) {
  RunSpec spec;
  spec.args = {"run"};
  spec.args.insert(spec.args.end(), flags.begin(), flags.end());
  spec.args.push_back("--");
  spec.args.push_back("./sandbox_probe");
  spec.args.insert(spec.args.end(), probe_args.begin(), probe_args.end());
  return RunTether(spec);
}

TEST(RunTest, WorkloadRunsAsNobodyWithoutGroups) {
  RunResult result = Probe({"status"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "Uid:"), "\t65534\t65534\t65534\t65534");
  EXPECT_EQ(FindLine(result.out, "Gid:"), "\t65534\t65534\t65534\t65534");
  EXPECT_EQ(FindLine(result.out, "Groups:").find_first_not_of(" \t"), std::string::npos)
      << "supplementary groups: " << FindLine(result.out, "Groups:");
}

TEST(RunTest, WorkloadHasNoCapabilitiesAtAll) {
  RunResult result = Probe({"status"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* set : {"CapBnd:", "CapEff:", "CapPrm:", "CapInh:", "CapAmb:"}) {
    EXPECT_EQ(FindLine(result.out, set), "\t0000000000000000") << set;
  }
}

TEST(RunTest, WorkloadHasNoNewPrivsAndSeccompFilter) {
  RunResult result = Probe({"status"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "NoNewPrivs:"), "\t1");
  EXPECT_EQ(FindLine(result.out, "Seccomp:"), "\t2");
}

TEST(RunTest, HostPathOutsideThePolicyDoesNotExistInTheView) {
  // World-writable on the host, so only the view can be what says no.
  ScopedTempDir outside_dir("/var/tmp", 0777);
  const std::string& outside = outside_dir.path();
  RunResult result = Probe({"write", outside + "/file"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "write="), "ENOENT");
  EXPECT_EQ(access((outside + "/file").c_str(), F_OK), -1);
}

TEST(RunTest, ReadOnlyFlagBindsAPathThatCannotBeWritten) {
  ScopedTempDir shared_dir("/var/tmp", 0777);
  const std::string& shared = shared_dir.path();
  std::ofstream(shared + "/input") << "data";
  RunSpec spec;
  spec.args = {"run", "--read-only", shared, "--", "./sandbox_probe", "write", shared + "/file"};
  RunResult written = RunTether(spec);
  ASSERT_EQ(written.exit_code, 0) << written.err;
  EXPECT_EQ(FindLine(written.out, "write="), "EROFS");
  EXPECT_EQ(access((shared + "/file").c_str(), F_OK), -1);
  spec.args = {"run", "--read-only", shared, "--", "./sandbox_probe", "read", shared + "/input"};
  RunResult read = RunTether(spec);
  ASSERT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(FindLine(read.out, "read="), "ok");
}

TEST(RunTest, WriteInsideTmpSucceedsInAPrivateTmpfs) {
  ScopedTempDir host_dir("/tmp", 0777);
  std::string name = "tether-private-" + std::to_string(getpid());
  RunResult result = Probe({"write", "/tmp/" + name});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "write="), "ok");
  EXPECT_EQ(access(("/tmp/" + name).c_str(), F_OK), -1) << "the host's /tmp got the file";
}

// What the workload filter denies, tried from inside a real sandbox: each
// probe command prints `<command>=<errno name>`.
class WorkloadDeniesTest : public ::testing::TestWithParam<const char*> {};

TEST_P(WorkloadDeniesTest, CallFailsWithEperm) {
  std::string command = GetParam();
  RunResult result = Probe({command});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, command + "="), "EPERM");
}

INSTANTIATE_TEST_SUITE_P(Calls, WorkloadDeniesTest, ::testing::Values("mount", "unshare", "ptrace"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

// A step the stub cannot perform names its mechanism, step, syscall and
// errno: nobody cannot enter a 0700 directory of root's.
TEST(RunTest, FailedStepNamesItsMechanismAndSyscall) {
  ScopedTempDir private_dir("/tmp", 0700);
  RunSpec spec;
  spec.cwd = private_dir.path();
  spec.args = {"run", "--", Binaries().Bin("sandbox_probe"), "exit", "0"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_NE(result.err.find("sandbox set-up failed: working_directory: step "), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("change_directory failed: chdir: Permission denied (errno 13)"),
            std::string::npos)
      << result.err;
}

TEST(RunTest, NoBrokerFdLeaksIntoWorkload) {
  RunSpec spec;
  spec.args = {"run", "--", "./sandbox_probe", "fds"};
  // An fd the broker inherited without close-on-exec must not pass through.
  spec.before_exec = [] {
    int fd = open("/dev/null", O_RDONLY);
    dup2(fd, 9);
  };
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> fds;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("fd=", 0) == 0) fds.push_back(line.substr(3, line.find(' ') - 3));
  }
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"})) << result.out;
}

TEST(RunTest, ExitStatusIsTheWorkloads) {
  EXPECT_EQ(Probe({"exit", "3"}).exit_code, 3);
  EXPECT_EQ(Probe({"exit", "0"}).exit_code, 0);
}

TEST(RunTest, WorkloadKilledBySignalExitsWith128PlusSignal) {
  EXPECT_EQ(Probe({"kill-self", "9"}).exit_code, 128 + SIGKILL);
}

TEST(RunTest, MissingProgramExits127) {
  RunSpec spec;
  spec.args = {"run", "--", "./no-such-program"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 127);
  EXPECT_NE(result.err.find("No such file"), std::string::npos) << result.err;
}

TEST(RunTest, NonExecutableProgramExits126) {
  ScopedTempDir dir_dir("/tmp", 0777);
  const std::string& dir = dir_dir.path();
  std::ofstream(dir + "/not-executable") << "#!/bin/sh\n";
  chmod((dir + "/not-executable").c_str(), 0644);
  RunSpec spec;
  spec.args = {"run", "--read-only", dir, "--", dir + "/not-executable"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 126) << result.err;
}

TEST(RunTest, StdinPassesThrough) {
  RunSpec spec;
  spec.args = {"run", "--", "./sandbox_probe", "stdin"};
  spec.stdin_text = "hello";
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "stdin="), "hello");
}

class SignalForwardingTest : public ::testing::TestWithParam<int> {};

TEST_P(SignalForwardingTest, BrokerForwardsSignalToWorkload) {
  int signo = GetParam();
  RunSpec spec;
  spec.args = {"run", "--", "./sandbox_probe", "wait-signal"};
  std::string early;
  spec.while_running = [&](pid_t tether, int out_fd, int) {
    char buffer[64];
    ssize_t n = read(out_fd, buffer, sizeof(buffer));  // "ready"
    if (n > 0) early.assign(buffer, n);
    kill(tether, signo);
  };
  RunResult result = RunTether(spec);
  EXPECT_EQ(early, "ready\n");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "signal="), std::to_string(signo));
}

INSTANTIATE_TEST_SUITE_P(ForwardedSignals, SignalForwardingTest,
                         ::testing::Values(SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2));

TEST(RunTest, WorkloadDiesWhenBrokerDies) {
  RunSpec spec;
  spec.args = {"run", "--", "./sandbox_probe", "sleep"};
  std::vector<pid_t> sandbox;  // the stub as init and the workload, host pids
  spec.while_running = [&](pid_t tether, int out_fd, int) {
    char buffer[64] = {};
    if (read(out_fd, buffer, sizeof(buffer) - 1) > 0) sandbox = Descendants(tether);
    kill(tether, SIGKILL);
  };
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 128 + SIGKILL);
  ASSERT_EQ(sandbox.size(), 2u);
  for (pid_t pid : sandbox) {
    EXPECT_TRUE(ProcessGone(pid)) << "sandbox process " << pid << " outlived the broker";
  }
}

TEST(RunTest, EnvironmentReachesWorkloadOnlyThroughAllowList) {
  RunSpec spec;
  spec.args = {"run", "--", "./sandbox_probe", "env"};
  spec.before_exec = [] {
    setenv("TETHER_TEST_SECRET", "hunter2", 1);
    setenv("LANG", "C.UTF-8", 1);
  };
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out.find("TETHER_TEST_SECRET"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("env=LANG=C.UTF-8"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("env=PATH="), std::string::npos) << result.out;
}

TEST(RunTest, AllowEnvFlagPassesANamedVariable) {
  RunSpec spec;
  spec.args = {"run", "--allow-env", "TETHER_TEST_SECRET", "--", "./sandbox_probe", "env"};
  spec.before_exec = [] { setenv("TETHER_TEST_SECRET", "hunter2", 1); };
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("env=TETHER_TEST_SECRET=hunter2"), std::string::npos);
}

TEST(RunTest, StubLyingAboutItsUidEndsInSetupFailure) {
  RunSpec spec;
  spec.args = {"run", "--stub", Binaries().Bin("lying_stub"), "--", "./sandbox_probe", "status"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.out, "") << "the workload must not have run";
  EXPECT_NE(result.err.find("claims uids 65534/65534/65534 but /proc says 0/0/0"),
            std::string::npos)
      << result.err;
}

// The broker builds the policy's Landlock ruleset for its own ABI while
// the stub starts; a stub whose Hello names an older ABI gets one made for
// that ABI instead (a right it does not know would fail its restriction
// on an older kernel), and the run goes on, Landlock degraded.
TEST(RunTest, StubWithAnOlderLandlockAbiGetsARulesetForThatAbi) {
  RunSpec spec;
  // Best effort: strict refuses an ABI without the rights of ABI 6.
  std::string stub = Binaries().Bin("old_landlock_stub");
  spec.args = {"run", "--best-effort",   "landlock", "--stub", stub,
               "--",  "./sandbox_probe", "status"};
  RunResult result = RunTether(spec);
  EXPECT_NE(result.err.find("lying_stub: ruleset handles refer: no"), std::string::npos)
      << result.err;
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("Uid:\t65534"), std::string::npos) << result.out;
}

TEST(RunTest, StubKilledMidHandshakeExits125AndLeavesNothing) {
  RunSpec spec;
  spec.args = {"run", "--stub", Binaries().Bin("stalling_stub"), "--", "./sandbox_probe", "status"};
  pid_t stub = 0;
  std::string early_err;
  spec.while_running = [&](pid_t tether, int, int err_fd) {
    char buffer[128] = {};
    // The stub says its pid in its own namespace (1); the host's is that
    // of tether's descendant that is pid 1 of a namespace of its own.
    if (read(err_fd, buffer, sizeof(buffer) - 1) > 0) {
      early_err = buffer;
      for (pid_t pid : Descendants(tether)) {
        std::string nspid =
            FindLine(ReadFile("/proc/" + std::to_string(pid) + "/status"), "NSpid:");
        if (nspid.size() > 2 && nspid.substr(nspid.size() - 2) == "\t1") stub = pid;
      }
    }
    if (stub > 0) kill(stub, SIGKILL);
  };
  auto start = std::chrono::steady_clock::now();
  RunResult result = RunTether(spec);
  ASSERT_GT(stub, 0) << early_err;
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_NE(result.err.find("closed the connection"), std::string::npos) << result.err;
  EXPECT_TRUE(ProcessGone(stub));
}

// tmpfs inodes cost kernel memory its size does not count: they are
// bounded with it (one per page), so empty files cannot fill the host.
TEST(RunTest, PrivateTmpfsBoundsItsInodesWithItsSize) {
  ScopedTempDir dir_dir("/tmp", 0777);
  std::string policy = dir_dir.path() + "/policy.json";
  std::ofstream(policy) << R"({"filesystem": {"tmpfs_size": "64k"}})";
  RunSpec spec;
  spec.args = {"run",
               "--policy",
               policy,
               "--",
               "/bin/sh",
               "-c",
               "i=0; while [ $i -lt 1000 ]; do true > /tmp/f$i 2>/dev/null || break; "
               "i=$((i+1)); done; echo files=$i; df -i /tmp | tail -1"};
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  int files = std::atoi(FindLine(result.out, "files=").c_str());
  EXPECT_GT(files, 0) << result.out;
  EXPECT_LT(files, 100) << "far more empty files than 64k of pages: " << result.out;
}

// The uid's process limit leaves the init no workload to fork: the run
// says why instead of ending with a bare 125.
TEST(RunTest, WorkloadThatCannotBeForkedIsReportedWithItsErrno) {
  ScopedTempDir dir_dir("/tmp", 0777);
  std::string policy = dir_dir.path() + "/policy.json";
  std::ofstream(policy)
      << R"({"process": {"rlimits": [{"name": "nproc", "soft": "1", "hard": "1"}]}})";
  RunSpec spec;
  spec.args = {"run", "--policy", policy, "--", "/bin/true"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 126) << result.err;
  EXPECT_NE(result.err.find("Resource temporarily unavailable"), std::string::npos) << result.err;
}

// A new uts namespace starts with the host's NIS domain name: replaced.
TEST(RunTest, HostDomainNameDoesNotReachTheSandbox) {
  RunSpec spec;
  spec.args = {"run", "--", "/bin/cat", "/proc/sys/kernel/domainname"};
  spec.before_exec = [] {
    if (unshare(CLONE_NEWUTS) != 0 || setdomainname("corp-nis.example", 16) != 0) _exit(210);
  };
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "(none)\n");
}

// Every listed path needs a mount point in the root: hundreds of them fit.
TEST(RunTest, HundredsOfListedPathsFitInTheView) {
  ScopedTempDir many("/var/tmp", 0755);
  RunSpec spec;
  spec.args = {"run"};
  for (int i = 0; i < 300; ++i) {
    std::string dir = many.path() + "/d" + std::to_string(i);
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
    spec.args.push_back("--read-only");
    spec.args.push_back(dir);
  }
  spec.args.insert(spec.args.end(), {"--", "/bin/sh", "-c", "ls " + many.path() + " | wc -l"});
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "300\n");
}

TEST(RunTest, MissingCommandIsAUsageError) {
  RunSpec spec;
  spec.args = {"run"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 64);
  EXPECT_NE(result.err.find("no command given"), std::string::npos) << result.err;
}

TEST(RunTest, UnknownFlagIsAUsageError) {
  RunSpec spec;
  spec.args = {"run", "--bogus", "--", "true"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 64);
  EXPECT_NE(result.err.find("unknown flag --bogus"), std::string::npos) << result.err;
}

TEST(RunTest, ReportMarksProcCheckedMechanismsVerified) {
  ScopedTempDir dir_dir("/tmp", 0777);
  const std::string& dir = dir_dir.path();
  RunResult result = Probe({"exit", "0"}, {"--report", dir + "/report.json"});
  std::string text = ReadFile(dir + "/report.json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  PostureReport report = ParseReport(text);
  EXPECT_EQ(report.outcome, "running") << text;
  const MechanismRecord* bounding = report.Find("bounding_set", "clear_bounding_set");
  ASSERT_NE(bounding, nullptr) << text;
  EXPECT_EQ(bounding->state, "enforced") << text;
  const MechanismRecord* resuid = report.FindAction("set_resuid");
  ASSERT_NE(resuid, nullptr) << text;
  EXPECT_EQ(resuid->state, "enforced") << text;
  EXPECT_EQ(resuid->reason, "change uid to 65534") << text;
  EXPECT_EQ(resuid->errno_value, 0) << "errno must be null: " << text;
  EXPECT_EQ(resuid->evidence, "verified") << text;
  EXPECT_NE(report.Find("landlock"), nullptr) << text;
  bool stub_attested = false;
  for (const MechanismRecord& record : report.mechanisms) {
    stub_attested |= record.evidence == "stub-attested";
  }
  EXPECT_TRUE(stub_attested) << text;
  EXPECT_EQ(report.CountState("degraded"), 0u) << text;
}

TEST(RunTest, RefusedRunStillWritesTheReport) {
  ScopedTempDir dir_dir("/tmp", 0777);
  const std::string& dir = dir_dir.path();
  RunSpec spec;
  spec.args = {"run",
               "--report",
               dir + "/report.json",
               "--stub",
               Binaries().Bin("lying_stub"),
               "--",
               "./sandbox_probe",
               "exit",
               "0"};
  RunResult result = RunTether(spec);
  std::string text = ReadFile(dir + "/report.json");
  EXPECT_EQ(result.exit_code, 125);
  PostureReport report = ParseReport(text);
  EXPECT_EQ(report.outcome, "refused") << text;
  EXPECT_NE(report.error.find("claims uids"), std::string::npos) << text;
}

// Kills the process on any identity-changing system call: if the stub made
// one, the run would die instead of succeeding.
void InstallKillOnSetidFilter() {
  constexpr int kDenied[] = {SYS_setresuid, SYS_setresgid, SYS_setuid,   SYS_setgid,  SYS_setreuid,
                             SYS_setregid,  SYS_setgroups, SYS_setfsuid, SYS_setfsgid};
  std::vector<sock_filter> program = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
  };
  for (int nr : kDenied) {
    program.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1));
    program.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  }
  program.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  struct sock_fprog prog = {static_cast<unsigned short>(program.size()), program.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    _exit(203);
  }
}

// An entrypoint that already dropped to uid 1000 with an empty bounding set.
void BecomePreDroppedEntrypoint() {
  for (int cap = 0; cap <= 63; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;
    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  if (setgroups(0, nullptr) != 0 || setresgid(1000, 1000, 1000) != 0 ||
      setresuid(1000, 1000, 1000) != 0) {
    _exit(202);
  }
  InstallKillOnSetidFilter();
}

constexpr char kNamespacesAndView[] =
    "pid_namespace,mount_namespace,ipc_namespace,uts_namespace,cgroup_namespace,filesystem_view";

TEST(RunTest, PreDroppedBrokerSkipsPrivilegeDropWithoutAnySetidCall) {
  ScopedTempDir dir_dir("/tmp", 0777);
  const std::string& dir = dir_dir.path();
  RunSpec spec;
  // A uid-1000 broker cannot make namespaces; that is not what this test
  // is about.
  spec.args = {"run",      "--network",          "host", "--best-effort",   kNamespacesAndView,
               "--report", dir + "/report.json", "--",   "./sandbox_probe", "status"};
  spec.before_exec = BecomePreDroppedEntrypoint;
  RunResult result = RunTether(spec);
  std::string text = ReadFile(dir + "/report.json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "Uid:"), "\t1000\t1000\t1000\t1000");
  EXPECT_EQ(FindLine(result.out, "CapBnd:"), "\t0000000000000000");
  PostureReport report = ParseReport(text);
  for (const char* action : {"set_groups", "set_resgid", "set_resuid"}) {
    bool skipped = false;
    for (const MechanismRecord& record : report.mechanisms) {
      skipped |= record.action == action && record.state == "skipped";
    }
    EXPECT_TRUE(skipped) << action << " in " << text;
  }
}

// Where the broker may make a user namespace, --user 2000 is its inside
// id (rootless_test); on a host that refuses one, the stub would have to
// change its uid.
TEST(RunTest, StubAtAnotherNonRootUidIsRefused) {
  RunSpec spec;
  spec.wrapper = {Binaries().Bin("faultenv"), "no-userns", "--"};
  spec.args = {"run",
               "--network",
               "host",
               "--best-effort",
               std::string(kNamespacesAndView) + ",user_namespace",
               "--user",
               "2000",
               "--",
               "./sandbox_probe",
               "status"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("privilege_drop"), std::string::npos) << result.err;
}

TEST(RunTest, PolicyFileAddsAReadWritePath) {
  ScopedTempDir extra_dir("/var/tmp", 0777);
  const std::string& extra = extra_dir.path();
  ScopedTempDir dir_dir("/tmp", 0777);
  const std::string& dir = dir_dir.path();
  std::ofstream(dir + "/policy.json")
      << R"({"filesystem": {"read_write": [")" << extra << R"("]}})";
  RunResult result = Probe({"write", extra + "/file"}, {"--policy", dir + "/policy.json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "write="), "ok");
}

TEST(RunTest, BadPolicyFileExits2NamingThePath) {
  ScopedTempDir dir_dir("/tmp", 0777);
  const std::string& dir = dir_dir.path();
  std::ofstream(dir + "/policy.json") << R"({"filesystem": {"read_only": ["etc"]}})";
  RunResult result = Probe({"exit", "0"}, {"--policy", dir + "/policy.json"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("$.filesystem.read_only[0]"), std::string::npos) << result.err;
}

TEST(RunTest, MissingPolicyFileExits2) {
  RunResult result = Probe({"exit", "0"}, {"--policy", "/nonexistent/policy.json"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("/nonexistent/policy.json"), std::string::npos) << result.err;
}

TEST(RunTest, BrokerRunsUnderItsOwnSeccompFilterWhileTheWorkloadRuns) {
  RunResult result = Probe({"parent-seccomp"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "parent Seccomp:"), "\t2");
}

TEST(RunTest, ReportRecordsTheSupervisorFilterAsVerified) {
  ScopedTempDir dir_dir("/tmp", 0777);
  const std::string& dir = dir_dir.path();
  RunResult result = Probe({"exit", "0"}, {"--report", dir + "/report.json"});
  std::string text = ReadFile(dir + "/report.json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  PostureReport report = ParseReport(text);
  const MechanismRecord* filter = report.Find("supervisor_seccomp", "broker_seccomp_filter");
  ASSERT_NE(filter, nullptr) << text;
  EXPECT_EQ(filter->state, "enforced") << text;
}

}  // namespace
}  // namespace tether::testing
