// Nothing a workload starts outlives its run: when the workload's main
// process exits, or when the broker is SIGKILLed, every process of the
// sandbox is gone from the host, whatever it did to get away (background
// job, new session, double fork, ignoring polite signals). Exit statuses and
// signals pass through the sandbox's init.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

using std::chrono::steady_clock;

// A sleep duration no other process on the host has on its command line:
// BASE.<test pid><counter> seconds.
std::string UniqueSeconds(int base) {
  static std::atomic<int> counter{0};
  char text[64];
  std::snprintf(text, sizeof(text), "%d.%d%03d", base, getpid(), counter++ % 1000);
  return text;
}

// Host pids (any namespace: the host's /proc shows them all) running
// `sleep SECONDS`. Zombies have an empty command line and do not count.
std::vector<pid_t> Sleepers(const std::string& seconds) {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::vector<std::string> args = CmdlineOf(pid);
    if (args.size() == 2 && std::filesystem::path(args[0]).filename() == "sleep" &&
        args[1] == seconds) {
      found.push_back(std::stoi(pid));
    }
  }
  return found;
}

// Polls until no `sleep SECONDS` is left, for up to `limit`; returns those
// still there, after SIGKILLing them so that a failure leaves nothing behind.
std::vector<pid_t> SleepersLeftAfter(const std::string& seconds, std::chrono::milliseconds limit) {
  auto deadline = steady_clock::now() + limit;
  std::vector<pid_t> left = Sleepers(seconds);
  while (!left.empty() && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    left = Sleepers(seconds);
  }
  for (pid_t pid : left) kill(pid, SIGKILL);
  return left;
}

// Polls until a `sleep SECONDS` runs, for up to `limit`.
bool SleeperAppears(const std::string& seconds, std::chrono::milliseconds limit) {
  auto deadline = steady_clock::now() + limit;
  while (steady_clock::now() < deadline) {
    if (!Sleepers(seconds).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Reads `fd` until `word` appears, EOF, or the deadline.
bool AwaitOutput(int fd, const std::string& word, int seconds, std::string* text) {
  return ReadUntil(fd, seconds, text,
                   [&](const std::string& read) { return read.find(word) != std::string::npos; });
}

std::string ToString(const std::vector<pid_t>& pids) {
  std::string text;
  for (pid_t pid : pids) text += std::to_string(pid) + " ";
  return text;
}

// How a workload tries to leave something behind; %s is the sleep's
// argument. Its output goes to /dev/null so that it does not hold the run's
// pipes open.
struct Escape {
  const char* name;
  const char* spawn;
};

// Test names and failure messages show the case by its name.
void PrintTo(const Escape& value, std::ostream* os) { *os << value.name; }

const Escape kEscapes[] = {
    {"BackgroundJob", "sleep %s </dev/null >/dev/null 2>&1 &"},
    {"NewSession", "setsid -f sleep %s </dev/null >/dev/null 2>&1"},
    {"DoubleFork", "( sleep %s </dev/null >/dev/null 2>&1 & )"},
    {"Nohup", "nohup sleep %s </dev/null >/dev/null 2>&1 &"},
    {"IgnoresTermHupAndInt",
     "( trap '' TERM HUP INT; exec sleep %s ) </dev/null >/dev/null 2>&1 &"},
};

enum class Ending { kWorkloadExits, kBrokerSigkilled };

void PrintTo(Ending ending, std::ostream* os) {
  *os << (ending == Ending::kWorkloadExits ? "WorkloadExits" : "BrokerSigkilled");
}

class OrphanTest : public ::testing::TestWithParam<std::tuple<Escape, Ending>> {};

// The workload leaves `sleep 45.<unique>` behind, says `started`, then waits
// for a file `go` in its working directory and exits 0. The test sees the
// orphan running on the host first, then either creates `go` or SIGKILLs
// the broker; either way no `sleep 45.<unique>` may be left on the host.
TEST_P(OrphanTest, NothingTheWorkloadStartedOutlivesTheRun) {
  const Escape& escape = std::get<0>(GetParam());
  const Ending ending = std::get<1>(GetParam());
  ScopedTempDir cwd("/tmp", 0777);
  const std::string orphan = UniqueSeconds(45);
  char spawn[256];
  std::snprintf(spawn, sizeof(spawn), escape.spawn, orphan.c_str());
  const std::string script =
      std::string(spawn) + "\necho started\nwhile [ ! -e go ]; do sleep 0.05; done\nexit 0\n";

  RunSpec spec;
  spec.cwd = cwd.path();
  spec.args = {"run", "--", "/bin/sh", "-c", script};
  spec.timeout_seconds = 30;
  std::string early;
  bool started = false, orphan_ran = false;
  steady_clock::time_point ended;
  spec.while_running = [&](pid_t tether, int out_fd, int) {
    started = AwaitOutput(out_fd, "started\n", 20, &early);
    orphan_ran = started && SleeperAppears(orphan, std::chrono::seconds(10));
    ended = steady_clock::now();
    if (ending == Ending::kBrokerSigkilled) {
      kill(tether, SIGKILL);
    } else {
      std::ofstream(cwd.Child("go")) << "go\n";
    }
  };
  RunResult result = RunTether(spec);
  auto took = steady_clock::now() - ended;
  std::vector<pid_t> left = SleepersLeftAfter(orphan, std::chrono::seconds(5));

  ASSERT_TRUE(started) << "out: " << early << result.out << "\nerr: " << result.err;
  ASSERT_TRUE(orphan_ran) << "precondition: `sleep " << orphan << "` never ran on the host";
  EXPECT_EQ(result.exit_code, ending == Ending::kBrokerSigkilled ? 128 + SIGKILL : 0) << result.err;
  EXPECT_LT(took, std::chrono::seconds(10)) << "the run waited for its orphan";
  EXPECT_TRUE(left.empty()) << "`sleep " << orphan << "` outlived the run: pids " << ToString(left);
}

INSTANTIATE_TEST_SUITE_P(Escapes, OrphanTest,
                         ::testing::Combine(::testing::ValuesIn(kEscapes),
                                            ::testing::Values(Ending::kWorkloadExits,
                                                              Ending::kBrokerSigkilled)),
                         [](const ::testing::TestParamInfo<std::tuple<Escape, Ending>>& info) {
                           return std::string(std::get<0>(info.param).name) +
                                  (std::get<1>(info.param) == Ending::kWorkloadExits
                                       ? "_WorkloadExits"
                                       : "_BrokerSigkilled");
                         });

// SIGTERM to the broker reaches the workload (a process of the sandbox that
// is not its init, so the default action applies) and the run ends 143.
TEST(LifetimeTest, SigtermToTheBrokerEndsTheRunWith143WithinSeconds) {
  const std::string seconds = UniqueSeconds(100);
  RunSpec spec;
  spec.args = {"run", "--", "/bin/sleep", seconds};
  spec.timeout_seconds = 30;
  bool ran = false;
  steady_clock::time_point signalled;
  spec.while_running = [&](pid_t tether, int, int) {
    ran = SleeperAppears(seconds, std::chrono::seconds(20));
    signalled = steady_clock::now();
    kill(tether, SIGTERM);
  };
  RunResult result = RunTether(spec);
  auto took = steady_clock::now() - signalled;
  std::vector<pid_t> left = SleepersLeftAfter(seconds, std::chrono::seconds(5));
  ASSERT_TRUE(ran) << "precondition: `sleep " << seconds << "` never ran\n" << result.err;
  EXPECT_EQ(result.exit_code, 128 + SIGTERM) << result.err;
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_TRUE(left.empty()) << "pids " << ToString(left);
}

struct StatusCase {
  const char* name;
  const char* script;
  int exit_code;
};

// Test names and failure messages show the case by its name.
void PrintTo(const StatusCase& value, std::ostream* os) { *os << value.name; }

class ExitStatusTest : public ::testing::TestWithParam<StatusCase> {};

TEST_P(ExitStatusTest, RunEndsWithTheWorkloadsStatus) {
  const StatusCase& status = GetParam();
  RunSpec spec;
  spec.args = {"run", "--", "/bin/sh", "-c", status.script};
  spec.timeout_seconds = 30;
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, status.exit_code) << result.err;
}

INSTANTIATE_TEST_SUITE_P(Statuses, ExitStatusTest,
                         ::testing::Values(StatusCase{"ExitZero", "exit 0", 0},
                                           StatusCase{"ExitSeven", "exit 7", 7},
                                           StatusCase{"Exit255", "exit 255", 255},
                                           // With an orphan still running.
                                           StatusCase{"ExitSevenWithABackgroundJob",
                                                      "sleep 5 </dev/null >/dev/null 2>&1 & "
                                                      "exit 7",
                                                      7},
                                           StatusCase{"KilledBySigkill", "kill -KILL $$", 137},
                                           StatusCase{"KilledBySigterm", "kill -TERM $$", 143},
                                           StatusCase{"KilledBySigsegv", "kill -SEGV $$", 139},
                                           StatusCase{"KilledBySighup", "kill -HUP $$", 129}),
                         [](const ::testing::TestParamInfo<StatusCase>& info) {
                           return std::string(info.param.name);
                         });

// A workload that stops itself would keep a forwarded SIGTERM pending
// forever: the init continues it, and the run ends with 143.
TEST(LifetimeTest, SigtermEndsAStoppedWorkload) {
  RunSpec spec;
  spec.args = {"run", "--", "/bin/sh", "-c", "echo stopping; kill -STOP $$; echo resumed"};
  spec.while_running = [](pid_t tether, int out_fd, int) {
    char buffer[64];
    (void)!read(out_fd, buffer, sizeof(buffer));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(tether, SIGTERM);
  };
  spec.timeout_seconds = 20;
  auto start = std::chrono::steady_clock::now();
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 143) << result.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// Whoever starts tether may leave SIGCHLD ignored; the kernel would then
// reap the workload (and the init) unseen, and the run would never end.
TEST(LifetimeTest, InheritedIgnoredSigchldStillEndsWithTheWorkloadsStatus) {
  RunSpec spec;
  spec.args = {"run", "--", "/bin/sh", "-c", "exit 3"};
  spec.before_exec = [] { signal(SIGCHLD, SIG_IGN); };
  spec.timeout_seconds = 20;
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 3) << result.err;
}

// Dispositions a caller ignored (nohup, a shell's background job) pass
// through exec; the workload starts with every one at its default, whether
// it runs under the stub as pid 1 or, where the host denies a pid
// namespace, is exec'd by the stub in its place.
struct IgnoredSignalsCase {
  const char* name;
  bool host_denies_pid_namespace;
};

class IgnoredSignalsTest : public ::testing::TestWithParam<IgnoredSignalsCase> {
 protected:
  // The workload's /proc/self/status, tether started after `before_exec`
  // (which sets up the caller's signals), and the mask of standard signals
  // (1 to 31) on its line `field`. 32 and 33 are glibc's own (thread
  // cancellation, setuid across threads): its signal() refuses to change
  // them, every glibc program sets its own, and the test runner's
  // environment may hand them on ignored.
  uint64_t StandardSignalsOfWorkload(const char* field, std::function<void()> before_exec) {
    RunSpec spec;
    spec.args = {"run"};
    if (GetParam().host_denies_pid_namespace) {
      spec.wrapper = {Binaries().Bin("faultenv"), "no-pidns", "--"};
      spec.args.insert(spec.args.end(), {"--best-effort", "pid_namespace"});
    }
    for (const char* arg : {"--", "/bin/sh", "-c", "exec cat /proc/self/status"}) {
      spec.args.push_back(arg);
    }
    spec.before_exec = std::move(before_exec);
    spec.timeout_seconds = 20;
    RunResult result = RunTether(spec);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    std::string mask = FindLine(result.out, std::string(field) + ":\t");
    EXPECT_FALSE(mask.empty()) << result.out;
    return mask.empty() ? ~0ull : std::stoull(mask, nullptr, 16) & 0x7fffffffull;
  }
};

TEST_P(IgnoredSignalsTest, WorkloadStartsWithNoSignalIgnored) {
  EXPECT_EQ(StandardSignalsOfWorkload(
                "SigIgn",
                [] {
                  for (int signo : {SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGUSR1, SIGTERM, SIGCHLD}) {
                    signal(signo, SIG_IGN);
                  }
                }),
            0u);
}

// The stub as pid 1 blocks every signal and starts the workload in its
// own memory; the workload must not keep that mask (a blocked SIGTERM
// would outlive every stop request), nor a mask its caller had.
TEST_P(IgnoredSignalsTest, WorkloadStartsWithNoSignalBlocked) {
  EXPECT_EQ(StandardSignalsOfWorkload("SigBlk",
                                      [] {
                                        sigset_t blocked;
                                        sigemptyset(&blocked);
                                        for (int signo : {SIGHUP, SIGINT, SIGTERM, SIGUSR1}) {
                                          sigaddset(&blocked, signo);
                                        }
                                        sigprocmask(SIG_BLOCK, &blocked, nullptr);
                                      }),
            0u);
}

INSTANTIATE_TEST_SUITE_P(
    BothWaysTheWorkloadStarts, IgnoredSignalsTest,
    ::testing::Values(IgnoredSignalsCase{"UnderTheStubAsPid1", false},
                      IgnoredSignalsCase{"ExecdByTheStubWithoutAPidNamespace", true}),
    [](const ::testing::TestParamInfo<IgnoredSignalsCase>& info) { return info.param.name; });

}  // namespace
}  // namespace tether::testing
