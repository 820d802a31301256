// Resource limits on the real kernel (a cgroup v1 host: memory, pids and
// cpu are v1 controllers here; the unified tree holds the sandbox for
// CLONE_INTO_CGROUP and kill): each limit is attacked by a workload that
// tries to exceed it, the report and the events name the limit that ended
// a run, and no cgroup outlives its run, even when the broker is SIGKILLed.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/report_json.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

using std::chrono::steady_clock;

// The sandbox cgroups on the host, in any hierarchy, that brokers with
// these pids made (tether-<pid namespace>-<pid>-<start time>-<n>): other
// tests run brokers at the same time.
std::vector<std::string> SandboxCgroupsOf(const std::vector<pid_t>& brokers) {
  std::vector<std::string> found;
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(
           "/sys/fs/cgroup", std::filesystem::directory_options::skip_permission_denied, error);
       it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (error) break;
    std::string name = it->path().filename();
    if (!it->is_directory(error) || name.rfind("tether-", 0) != 0) continue;
    it.disable_recursion_pending();
    size_t pid_start = name.find('-', 7) + 1;
    std::string pid = name.substr(pid_start, name.find('-', pid_start) - pid_start);
    for (pid_t broker : brokers) {
      if (pid == std::to_string(broker)) found.push_back(it->path());
    }
  }
  return found;
}

class ResourcesTest : public ::testing::Test {
 protected:
  // Whatever a test did, its brokers leave no cgroup.
  void TearDown() override { EXPECT_EQ(SandboxCgroupsOf(brokers_), std::vector<std::string>()); }

  RunResult Run(std::vector<std::string> args) {
    RunSpec spec;
    spec.args = {"run", "--report", report_path(), "--events", events_path()};
    spec.args.insert(spec.args.end(), args.begin(), args.end());
    RunResult run = RunTether(spec);
    brokers_.push_back(run.pid);
    return run;
  }
  std::string report_path() const { return dir_.path() + "/report.json"; }
  std::string events_path() const { return dir_.path() + "/events.jsonl"; }
  PostureReport Report() const { return ParseReport(ReadFile(report_path())); }

  ScopedTempDir dir_;
  std::vector<pid_t> brokers_;
};

TEST_F(ResourcesTest, MemoryLimitEndsAnAllocationBeyondItWith137NamingTheLimit) {
  RunResult run = Run({"--memory", "64M", "--", "/usr/bin/python3", "-c", "x=bytearray(256<<20)"});
  EXPECT_EQ(run.exit_code, 137) << run.err;
  EXPECT_NE(run.err.find("memory limit 64M"), std::string::npos) << run.err;
  PostureReport report = Report();
  const PostureReport::Limit* memory = report.FindLimit("memory");
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(memory->value, "64M");
  EXPECT_EQ(memory->state, "enforced") << memory->reason;
  EXPECT_EQ(memory->version, "v1");  // this host's memory controller
  EXPECT_EQ(memory->setting, "memory.limit_in_bytes=67108864");
  // No swap to spill into beyond the limit.
  const PostureReport::Limit* swap = report.FindLimit("swap");
  ASSERT_NE(swap, nullptr);
  EXPECT_EQ(swap->setting, "memory.memsw.limit_in_bytes=67108864");
  ASSERT_TRUE(report.exit.has_value());
  EXPECT_EQ(report.exit->status, 137);
  EXPECT_EQ(report.exit->cause, "memory_limit");
  EXPECT_NE(report.exit->detail.find("64M"), std::string::npos);
  std::vector<OcsfEvent> events = ParseEvents(ReadFile(events_path()));
  const OcsfEvent* limit = FindEvent(events, 5002, "Limit Reached");
  ASSERT_NE(limit, nullptr);
  EXPECT_EQ(limit->unmapped.mechanism, "resource_limits");
  EXPECT_NE(limit->message.find("memory limit 64M"), std::string::npos);
}

TEST_F(ResourcesTest, AllocationWithinTheMemoryLimitRuns) {
  RunResult run = Run({"--memory", "256M", "--", "/usr/bin/python3", "-c", "x=bytearray(32<<20)"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  ASSERT_TRUE(Report().exit.has_value());
  EXPECT_EQ(Report().exit->cause, "exited");
}

// The sandbox's init and the fork loop are two of the processes.
TEST_F(ResourcesTest, ForkLoopStopsAtThePidsLimit) {
  const struct {
    std::vector<std::string> flags;
    size_t limit;
  } kCases[] = {{{"--pids", "32"}, 32}, {{}, 4096}};
  for (const auto& test : kCases) {
    std::vector<std::string> args = test.flags;
    args.insert(args.end(), {"--", "./resource_probe", "fork-loop"});
    RunResult run = Run(args);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(FindLine(run.out, "forked "), std::to_string(test.limit - 2)) << run.out;
    EXPECT_EQ(FindLine(run.out, "errno "), "EAGAIN");
    PostureReport report = Report();
    const PostureReport::Limit* pids = report.FindLimit("pids");
    ASSERT_NE(pids, nullptr);
    EXPECT_EQ(pids->value, std::to_string(test.limit));
    EXPECT_EQ(pids->asked, !test.flags.empty());
    EXPECT_EQ(pids->state, "enforced") << pids->reason;
  }
}

TEST_F(ResourcesTest, CpuLimitHoldsABusyLoopToItsShare) {
  RunResult run = Run({"--cpus", "0.2", "--", "./resource_probe", "spin", "1500"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  int cpu_ms = std::stoi(FindLine(run.out, "cpu_ms "));
  // 20% of 1.5 s is 300 ms; the first period may run whole.
  EXPECT_LT(cpu_ms, 550) << run.out;
  EXPECT_GT(cpu_ms, 100) << run.out;
  PostureReport report = Report();
  const PostureReport::Limit* cpu = report.FindLimit("cpu");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->setting, "cpu.cfs_period_us=100000, cpu.cfs_quota_us=20000");
  EXPECT_EQ(cpu->state, "enforced");
}

TEST_F(ResourcesTest, TimeoutEndsTheWorkloadWith124AfterTermThenKill) {
  const struct {
    const char* script;
    double at_least_s;
    double at_most_s;
  } kCases[] = {
      {"exec sleep 10", 0.9, 2.5},                  // dies of SIGTERM
      {"trap '' TERM; sleep 10 & wait", 2.9, 4.5},  // only SIGKILL, after the grace
  };
  for (const auto& test : kCases) {
    auto start = steady_clock::now();
    RunResult run = Run({"--timeout", "1s", "--", "/bin/sh", "-c", test.script});
    double elapsed = std::chrono::duration<double>(steady_clock::now() - start).count();
    EXPECT_EQ(run.exit_code, 124) << test.script << ": " << run.err;
    EXPECT_GE(elapsed, test.at_least_s) << test.script;
    EXPECT_LE(elapsed, test.at_most_s) << test.script;
    PostureReport report = Report();
    ASSERT_TRUE(report.exit.has_value());
    EXPECT_EQ(report.exit->cause, "timeout");
    EXPECT_NE(report.timeout.find("1s"), std::string::npos) << report.timeout;
    EXPECT_NE(FindEvent(ParseEvents(ReadFile(events_path())), 5002, "Limit Reached"), nullptr);
  }
}

TEST_F(ResourcesTest, WorkloadWithinItsTimeoutKeepsItsOwnStatus) {
  RunResult run = Run({"--timeout", "30s", "--", "/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(run.exit_code, 3) << run.err;
}

TEST_F(ResourcesTest, BadLimitsAreRefusedNamingTheFlagOrThePolicyKey) {
  const struct {
    std::vector<std::string> flags;
    const char* message;
  } kFlags[] = {
      {{"--memory", "1m"}, "--memory: '1m' is less than 4m"},
      {{"--memory", "lots"}, "--memory: 'lots' is not a size"},
      {{"--pids", "0"}, "--pids: '0' is not a number of processes"},
      {{"--cpus", "-1"}, "--cpus: '-1' is not a number of CPUs"},
      {{"--timeout", "soon"}, "--timeout: 'soon' is not a duration"},
      {{"--memory-swap", "x"}, "--memory-swap: 'x' is not a size"},
      {{"--pids", "5", "--pids", "6"}, "--pids given twice"},
  };
  for (const auto& test : kFlags) {
    std::vector<std::string> args = test.flags;
    args.insert(args.end(), {"--", "/bin/true"});
    RunResult run = Run(args);
    EXPECT_EQ(run.exit_code, 64) << test.message;
    EXPECT_NE(run.err.find(test.message), std::string::npos) << run.err;
  }
  const struct {
    const char* json;
    const char* message;
  } kPolicies[] = {
      {R"({"resources": {"memory": "2k"}})", "$.resources.memory: '2k'"},
      {R"({"resources": {"pids": -1}})", "$.resources.pids: expected a whole number"},
      {R"({"resources": {"cpus": 2}})", "$.resources.cpus: expected a string"},
      {R"({"resources": {"timeout": "-5s"}})", "$.resources.timeout: '-5s'"},
      {R"({"resources": {"cpu": "1"}})", "$.resources.cpu: unknown key"},
  };
  for (const auto& test : kPolicies) {
    std::string path = dir_.path() + "/policy.json";
    { std::ofstream(path) << test.json; }
    RunResult run = Run({"--policy", path, "--", "/bin/true"});
    EXPECT_EQ(run.exit_code, 2) << test.json;
    EXPECT_NE(run.err.find(test.message), std::string::npos) << run.err;
  }
}

TEST_F(ResourcesTest, PolicyResourcesApplyAndFlagsWinOverThem) {
  std::string path = dir_.path() + "/policy.json";
  { std::ofstream(path) << R"({"resources": {"memory": "128m", "pids": 64, "timeout": "1m"}})"; }
  RunResult run = Run({"--policy", path, "--pids", "48", "--", "/bin/true"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  PostureReport report = Report();
  ASSERT_NE(report.FindLimit("memory"), nullptr);
  EXPECT_EQ(report.FindLimit("memory")->value, "128M");
  EXPECT_EQ(report.FindLimit("pids")->value, "48");
  EXPECT_NE(report.timeout.find("1m"), std::string::npos);
}

// The broker SIGKILLed while its workload runs cannot remove its cgroups;
// the next broker does (RemoveStaleCgroups), and nothing of either run is
// left.
TEST_F(ResourcesTest, HundredRunsAndKilledBrokersLeaveNoCgroup) {
  for (int i = 0; i < 100; ++i) {
    std::vector<std::string> args;
    if (i % 2 == 0) args = {"--memory", "64m", "--pids", "16", "--cpus", "0.5"};
    args.insert(args.end(), {"--", "/bin/true"});
    RunResult run = Run(args);
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }
  EXPECT_EQ(SandboxCgroupsOf(brokers_), std::vector<std::string>());
  for (int i = 0; i < 3; ++i) {
    RunSpec spec;
    spec.args = {"run", "--memory", "64m", "--", "/bin/sh", "-c", "echo started; sleep 30"};
    spec.while_running = [](pid_t broker, int out_fd, int) {
      std::string text;
      ReadUntil(out_fd, 10, &text,
                [](const std::string& t) { return t.find("started") != std::string::npos; });
      kill(broker, SIGKILL);
    };
    RunResult killed = RunTether(spec);
    EXPECT_EQ(killed.exit_code, 128 + SIGKILL);
    brokers_.push_back(killed.pid);
  }
  // Their workloads died with them (the stub's parent-death signal); their
  // directories stay until a broker starts.
  RunResult next = Run({"--", "/bin/true"});
  ASSERT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(SandboxCgroupsOf(brokers_), std::vector<std::string>());
}

}  // namespace
}  // namespace tether::testing
