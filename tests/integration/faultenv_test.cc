// The fault matrix: each hostile host from tests/faultenv, in strict mode
// (fails closed, exit 125, naming the mechanism) and in best effort (runs,
// every mechanism still available is enforced, and the report names exactly
// the degraded ones with their errno and the probe's evidence).

#include <errno.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <system_error>
#include <vector>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/report_json.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

struct Degradation {
  const char* mechanism;
  const char* state;  // "degraded" or "unavailable"
  int errno_value;
  const char* reason = "best effort: ";  // what the reason starts with
};

// A broker that cannot make a cgroup (`error`: mkdir's errno): the default
// pids limit, never asked for, degrades in strict mode too.
Degradation NoDefaultPidsLimit(int error) {
  return {"resource_limits", "degraded", error, "the default pids limit is not enforced: "};
}

struct Fault {
  const char* mode;
  const char* strict_failure;         // nullptr: strict runs too
  std::vector<Degradation> degraded;  // exactly what best effort degrades
  const char* auto_failure;           // with --network auto, otherwise strict
  // A write to a world-writable host directory the policy does not list,
  // under best effort: ENOENT where the filesystem view hides it, EACCES
  // where only Landlock stands (no view).
  const char* outside_write = "ENOENT";
};

// uid 1000 where the host refuses a user namespace (`error`): strict
// refuses naming it; best effort keeps no namespace, no view and no
// cgroup, and Landlock alone keeps the host's files.
Fault NoUserNamespace(const char* mode, int error) {
  return {
      mode,
      "user_namespace: the broker has no CAP_SYS_ADMIN, so its namespaces must be made in a new "
      "user namespace, and the host refuses one",
      {{"user_namespace", "degraded", error},
       NoDefaultPidsLimit(EACCES),
       {"network_namespace", "degraded", 1},
       {"pid_namespace", "degraded", 1},
       {"mount_namespace", "degraded", 1},
       {"ipc_namespace", "degraded", 1},
       {"uts_namespace", "degraded", 1},
       {"cgroup_namespace", "degraded", 1},
       {"filesystem_view", "degraded", 1}},
      "user_namespace: the broker has no CAP_SYS_ADMIN",
      "EACCES"};
}

struct Outcome {
  RunResult result;
  std::string report;
  std::string events;  // OCSF, one JSON object per line
};

// The OCSF Degraded config events, as "mechanism errno" strings.
std::multiset<std::string> DegradedEvents(const std::string& events) {
  std::multiset<std::string> found;
  for (const OcsfEvent& event : ParseEvents(events)) {
    if (event.activity_name != "Degraded") continue;
    found.insert(event.unmapped.mechanism + " " + std::to_string(event.unmapped.errno_value));
  }
  return found;
}

class FaultMatrixTest : public ::testing::TestWithParam<Fault> {
 protected:
  Outcome Run(bool best_effort, const char* network = "isolated") {
    RunSpec spec;
    spec.wrapper = {Binaries().Bin("faultenv"), GetParam().mode, "--"};
    spec.args = {"run",
                 "--network",
                 network,
                 "--report",
                 dir_ + "/report.json",
                 "--events",
                 dir_ + "/events.json",
                 "--",
                 "./sandbox_probe",
                 "posture",
                 outside_ + "/file"};
    spec.before_exec = [best_effort] {
      if (best_effort) setenv("TETHER_BEST_EFFORT", "all", 1);
    };
    Outcome outcome;
    outcome.result = RunTether(spec);
    outcome.report = ReadFile(dir_ + "/report.json");
    outcome.events = ReadFile(dir_ + "/events.json");
    return outcome;
  }

  ScopedTempDir dir_scope_{"/tmp", 0777};
  // World-writable outside every allowed path: only Landlock can refuse.
  ScopedTempDir outside_scope_{"/var/tmp", 0777};
  const std::string& dir_ = dir_scope_.path();
  const std::string& outside_ = outside_scope_.path();
};

bool Has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST_P(FaultMatrixTest, StrictFailsClosedNamingTheMechanismOrRunsWhenNothingIsDenied) {
  Outcome outcome = Run(/*best_effort=*/false);
  if (GetParam().strict_failure == nullptr) {
    EXPECT_EQ(outcome.result.exit_code, 0) << outcome.result.err;
    EXPECT_EQ(FindLine(outcome.result.out, "write="), "ENOENT");
    return;
  }
  EXPECT_EQ(outcome.result.exit_code, 125) << outcome.result.err;
  EXPECT_EQ(outcome.result.out, "") << "the workload must not have run";
  EXPECT_TRUE(Has(outcome.result.err, GetParam().strict_failure)) << outcome.result.err;
  EXPECT_EQ(ParseReport(outcome.report).outcome, "refused") << outcome.report;
}

TEST_P(FaultMatrixTest, BestEffortRunsAndEnforcesEverythingStillAvailable) {
  Outcome outcome = Run(/*best_effort=*/true);
  ASSERT_EQ(outcome.result.exit_code, 0) << outcome.result.err;
  const std::string& out = outcome.result.out;
  std::string mode = GetParam().mode;
  // Identity, capabilities and no_new_privs hold on every one of these hosts.
  bool uid_1000 = mode == "predropped" || mode == "no-userns" || mode == "max-userns-0";
  std::string uid = uid_1000 ? "1000" : "65534";
  EXPECT_EQ(FindLine(out, "Uid:"), "\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid);
  EXPECT_EQ(FindLine(out, "CapEff:"), "\t0000000000000000");
  EXPECT_EQ(FindLine(out, "NoNewPrivs:"), "\t1");
  // A filter is always in place: ours, or on gVisor-like hosts the host's.
  EXPECT_EQ(FindLine(out, "Seccomp:"), "\t2");
  bool bounding_degraded = mode == "rootless" || mode == "apparmor";
  EXPECT_EQ(FindLine(out, "CapBnd:") == "\t0000000000000000", !bounding_degraded) << out;
  EXPECT_EQ(FindLine(out, "write="), GetParam().outside_write);
  EXPECT_FALSE(std::filesystem::exists(outside_ + "/file"));
  // The report names exactly the degraded mechanism, with its errno.
  const std::string& text = outcome.report;
  PostureReport report = ParseReport(text);
  EXPECT_EQ(report.outcome, "running") << text;
  for (const Degradation& expected : GetParam().degraded) {
    // A mechanism with many records (the view's mounts): the one not enforced.
    const MechanismRecord* record = nullptr;
    for (const MechanismRecord& candidate : report.mechanisms) {
      if (candidate.mechanism == expected.mechanism && candidate.state == expected.state) {
        record = &candidate;
      }
    }
    ASSERT_NE(record, nullptr) << expected.mechanism << " in " << text;
    EXPECT_EQ(record->state, expected.state) << text;
    EXPECT_EQ(record->errno_value, expected.errno_value) << text;
    EXPECT_EQ(record->reason.rfind(expected.reason, 0), 0u) << record->reason;
  }
  // Nothing else is degraded or unavailable.
  EXPECT_EQ(report.CountState("degraded") + report.CountState("unavailable"),
            GetParam().degraded.size())
      << text;
  // The OCSF events name exactly the same mechanisms, with their errno.
  std::multiset<std::string> expected_events;
  for (const Degradation& expected : GetParam().degraded) {
    expected_events.insert(std::string(expected.mechanism) + " " +
                           std::to_string(expected.errno_value));
  }
  EXPECT_EQ(DegradedEvents(outcome.events), expected_events) << outcome.events;
  bool from_env = false;
  for (const auto& [mechanism, setting] : report.enforcement) {
    from_env |= setting.source == "env:TETHER_BEST_EFFORT";
  }
  EXPECT_TRUE(from_env) << text;
}

TEST_P(FaultMatrixTest, AutoNetworkFallsBackToTheHostNetworkAndStaysStrictOtherwise) {
  Outcome outcome = Run(/*best_effort=*/false, "auto");
  if (GetParam().auto_failure != nullptr) {
    EXPECT_EQ(outcome.result.exit_code, 125) << outcome.result.err;
    EXPECT_EQ(outcome.result.out, "");
    EXPECT_TRUE(Has(outcome.result.err, GetParam().auto_failure)) << outcome.result.err;
    return;
  }
  ASSERT_EQ(outcome.result.exit_code, 0) << outcome.result.err;
  EXPECT_EQ(FindLine(outcome.result.out, "write="), "ENOENT");
  EXPECT_EQ(FindLine(outcome.result.out, "NoNewPrivs:"), "\t1");
  bool netns_denied = std::string(GetParam().mode) == "hardened";
  PostureReport report = ParseReport(outcome.report);
  const MechanismRecord* record = report.Find("network_namespace");
  ASSERT_NE(record, nullptr) << outcome.report;
  if (netns_denied) {
    EXPECT_EQ(record->state, "degraded") << outcome.report;
    EXPECT_TRUE(Has(record->reason, "auto: fell back to the host network")) << record->reason;
    EXPECT_EQ(record->errno_value, 1) << outcome.report;
  } else {
    // The stub is cloned into the namespace: its join step is already
    // satisfied, and the broker still checks it.
    EXPECT_EQ(record->state, "skipped") << outcome.report;
    EXPECT_EQ(record->evidence, "verified") << outcome.report;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Hosts, FaultMatrixTest,
    ::testing::Values(Fault{"rootless",
                            "bounding_set: the bounding set is not empty and cannot be cleared",
                            {{"bounding_set", "degraded", 1}},
                            "bounding_set: the bounding set is not empty and cannot be cleared"},
                      Fault{"apparmor",
                            "bounding_set: the bounding set is not empty and cannot be cleared",
                            {{"bounding_set", "degraded", 1}},
                            "bounding_set: the bounding set is not empty and cannot be cleared"},
                      Fault{"gvisor",
                            "network_namespace: network mode isolated, but the broker cannot make",
                            {{"network_namespace", "degraded", 1},
                             {"workload_seccomp", "degraded", 22},
                             {"supervisor_seccomp", "degraded", 22}},
                            "workload_seccomp: the host refuses the filter"},
                      Fault{"hardened",
                            "network_namespace: network mode isolated, but the broker cannot make",
                            {{"network_namespace", "degraded", 1}},
                            nullptr},
                      // uid 1000 where user namespaces are allowed: every
                      // namespace, made inside one of the sandbox's own; but
                      // no cgroup: no default pids limit.
                      Fault{"predropped", nullptr, {NoDefaultPidsLimit(EACCES)}, nullptr},
                      // A runtime's seccomp profile denies user namespaces.
                      NoUserNamespace("no-userns", EPERM),
                      // user.max_user_namespaces is 0: ENOSPC.
                      NoUserNamespace("max-userns-0", ENOSPC),
                      Fault{"no-pidns",
                            "pid_namespace: the host denies a new pid namespace",
                            {{"pid_namespace", "degraded", 1}},
                            "pid_namespace: the host denies a new pid namespace"},
                      Fault{
                          "no-mountns",
                          "mount_namespace: the host denies a new mnt namespace",
                          {{"mount_namespace", "degraded", 1}, {"filesystem_view", "degraded", 1}},
                          "mount_namespace: the host denies a new mnt namespace",
                          "EACCES"},
                      Fault{"no-ipc-uts-cgroupns",
                            "ipc_namespace: the host denies a new ipc namespace",
                            {{"ipc_namespace", "degraded", 1},
                             {"uts_namespace", "degraded", 1},
                             {"cgroup_namespace", "degraded", 1}},
                            "ipc_namespace: the host denies a new ipc namespace"},
                      // Docker/Kubernetes: masked paths in /proc make the
                      // kernel refuse a fresh procfs; best effort binds the
                      // host's read-only.
                      Fault{"masked-proc",
                            "filesystem_view: the host refuses a fresh /proc",
                            {{"filesystem_view", "degraded", 1}},
                            "filesystem_view: the host refuses a fresh /proc"},
                      // The view still hides the host's files.
                      Fault{"no-landlock",
                            "landlock: the kernel does not offer Landlock",
                            {{"landlock", "unavailable", 38}},
                            "landlock: the kernel does not offer Landlock"},
                      Fault{"nnp", nullptr, {}, nullptr},
                      // No cgroup limit is asked for: strict runs too.
                      Fault{"ro-cgroup", nullptr, {NoDefaultPidsLimit(EROFS)}, nullptr}),
    [](const ::testing::TestParamInfo<Fault>& info) {
      std::string name = info.param.mode;
      for (char& c : name) c = c == '-' ? '_' : c;
      return name;
    });

// A refused user namespace is refused for its cause, and the refusal says
// how to allow it or to run without namespaces; best effort names the
// same cause in the report.
struct UserNamespaceCause {
  const char* mode;
  const char* cause;
  const char* remedy;
};

class UserNamespaceCauseTest : public ::testing::TestWithParam<UserNamespaceCause> {};

TEST_P(UserNamespaceCauseTest, StrictNamesTheCauseAndBestEffortReportsIt) {
  ScopedTempDir dir("/tmp", 0777);
  RunSpec spec;
  spec.wrapper = {Binaries().Bin("faultenv"), GetParam().mode, "--"};
  spec.args = {"run", "--", "./sandbox_probe", "exit", "0"};
  RunResult strict = RunTether(spec);
  EXPECT_EQ(strict.exit_code, 125) << strict.err;
  EXPECT_TRUE(Has(strict.err, GetParam().cause)) << strict.err;
  EXPECT_TRUE(Has(strict.err, GetParam().remedy)) << strict.err;
  EXPECT_TRUE(Has(strict.err, "--best-effort user_namespace,pid_namespace")) << strict.err;

  spec.args = {"run", "--report", dir.Child("report.json"), "--best-effort",
               "all", "--",       "./sandbox_probe",        "exit",
               "0"};
  RunResult best_effort = RunTether(spec);
  ASSERT_EQ(best_effort.exit_code, 0) << best_effort.err;
  std::string text = ReadFile(dir.Child("report.json"));
  PostureReport report = ParseReport(text);
  const MechanismRecord* record = report.Find("user_namespace");
  ASSERT_NE(record, nullptr) << text;
  EXPECT_EQ(record->state, "degraded") << text;
  EXPECT_TRUE(Has(record->reason, GetParam().cause)) << record->reason;

  spec.args = {"probe"};
  RunResult probe = RunTether(spec);
  EXPECT_TRUE(Has(probe.out, GetParam().cause)) << probe.out;
  EXPECT_TRUE(Has(probe.out, GetParam().remedy)) << probe.out;
}

INSTANTIATE_TEST_SUITE_P(
    Causes, UserNamespaceCauseTest,
    ::testing::Values(UserNamespaceCause{"no-userns",
                                         "though the sysctls allow it: a seccomp profile of the "
                                         "runtime (or a security module) denies it",
                                         "allow unshare and clone with CLONE_NEWUSER"},
                      UserNamespaceCause{"max-userns-0",
                                         "No space left on device (errno 28): "
                                         "user.max_user_namespaces is 0",
                                         "sysctl -w user.max_user_namespaces="}),
    [](const ::testing::TestParamInfo<UserNamespaceCause>& info) {
      std::string name = info.param.mode;
      for (char& c : name) c = c == '-' ? '_' : c;
      return name;
    });

// An allow-list asks for a proxy in the sandbox's network; where `auto`
// falls back to the host's network there is none, and the report and the
// events say the list is not enforced (never a silent "everything").
TEST(FaultenvEgressTest, AutoFallbackLeavesTheAllowListUnenforcedAndSaysSo) {
  ScopedTempDir dir("/tmp", 0777);
  RunSpec spec;
  spec.wrapper = {Binaries().Bin("faultenv"), "hardened", "--"};
  spec.args = {"run",
               "--network",
               "auto",
               "--allow-net",
               "127.0.0.1:9",
               "--report",
               dir.Child("report.json"),
               "--events",
               dir.Child("events.json"),
               "--",
               "./sandbox_probe",
               "exit",
               "0"};
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string text = ReadFile(dir.Child("report.json"));
  PostureReport report = ParseReport(text);
  const MechanismRecord* record = report.Find("egress_proxy");
  ASSERT_NE(record, nullptr) << text;
  EXPECT_EQ(record->state, "degraded") << text;
  EXPECT_TRUE(Has(record->reason, "the allow-list is not enforced")) << record->reason;
  const MechanismRecord* network = report.Find("network_namespace");
  ASSERT_NE(network, nullptr) << text;
  EXPECT_EQ(network->state, "degraded") << text;
  EXPECT_EQ(DegradedEvents(ReadFile(dir.Child("events.json"))).count("egress_proxy 0"), 1u)
      << ReadFile(dir.Child("events.json"));
}

// ---------------------------------------------------------------------------
// A host whose cgroup tree is read-only, as in many containers (faultenv
// ro-cgroup): the broker can make no sandbox cgroup at all. Limits asked for
// refuse the run in strict mode and are reported degraded in best effort;
// the default pids limit, never asked for, only ever degrades; the timeout
// needs no cgroup.

// Every directory under /sys/fs/cgroup that the broker `broker` made for a
// sandbox (tether-<pid namespace>-<pid>-<start time>-<n>), in any hierarchy.
std::vector<std::string> SandboxCgroupsOf(pid_t broker) {
  std::regex own("tether-[0-9]+-" + std::to_string(broker) + "-[0-9]+-[0-9]+");
  std::vector<std::string> found;
  std::error_code error;
  for (std::filesystem::recursive_directory_iterator
           it("/sys/fs/cgroup", std::filesystem::directory_options::skip_permission_denied, error),
       end;
       !error && it != end; it.increment(error)) {
    if (it->is_directory(error) && std::regex_match(it->path().filename().string(), own)) {
      found.push_back(it->path());
    }
  }
  if (error) ADD_FAILURE() << "walking /sys/fs/cgroup: " << error.message();
  return found;
}

// Where this host mounts cgroup hierarchies (v1 and v2) under /sys/fs/cgroup.
std::vector<std::string> CgroupMounts() {
  std::vector<std::string> found;
  std::istringstream mountinfo(ReadFile("/proc/self/mountinfo"));
  for (std::string line; std::getline(mountinfo, line);) {
    std::smatch match;
    if (std::regex_search(line, match,
                          std::regex("^\\S+ \\S+ \\S+ \\S+ (/sys/fs/cgroup\\S*) .* - cgroup2? "))) {
      found.push_back(match[1]);
    }
  }
  return found;
}

// The kernel itself refuses: a new directory in every hierarchy, v1 or v2,
// and a write to a cgroup file give EROFS inside, while the host's own
// tree stays writable.
TEST(ReadOnlyCgroupHostTest, EveryCgroupHierarchyRefusesMkdirWithErofsInsideOnly) {
  std::vector<std::string> mounts = CgroupMounts();
  ASSERT_FALSE(mounts.empty()) << ReadFile("/proc/self/mountinfo");
  std::string probe = "tether-faultenv-probe-" + std::to_string(getpid());
  RunSpec spec;
  spec.wrapper = {Binaries().Bin("faultenv"), "ro-cgroup", "--"};
  // $0: the directory asked for in each hierarchy ($@); mkdir says why not.
  spec.command = {"/bin/sh", "-c",
                  "for d in \"$@\"; do mkdir \"$d/$0\" 2>&1 && echo \"made $d\"; done;"
                  "true >> \"$1/cgroup.procs\" || echo write refused",
                  probe};
  spec.command.insert(spec.command.end(), mounts.begin(), mounts.end());
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_FALSE(Has(result.out, "made ")) << result.out;
  for (const std::string& mount : mounts) {
    bool refused = false;
    std::istringstream lines(result.out);
    for (std::string line; std::getline(lines, line);) {
      refused |= Has(line, mount + "/" + probe) && Has(line, "Read-only file system");
    }
    EXPECT_TRUE(refused) << mount << " in " << result.out;
  }
  EXPECT_TRUE(Has(result.out, "write refused")) << result.out;
  EXPECT_TRUE(Has(result.err, "Read-only file system")) << result.err;
  // Only faultenv's copies of the mounts were made read-only.
  std::string outside = mounts.front() + "/" + probe;
  ASSERT_EQ(mkdir(outside.c_str(), 0755), 0) << outside << ": " << std::strerror(errno);
  EXPECT_EQ(rmdir(outside.c_str()), 0) << outside << ": " << std::strerror(errno);
}

// One resource limit as the report gives it: "memory asked degraded",
// "pids default enforced".
std::string LimitLine(schema::ResourceLimit::Reader limit) {
  return Str(limit.getName()) + (limit.getAsked() ? " asked " : " default ") +
         Str(limit.getState());
}

struct ReadOnlyCgroupCase {
  const char* name;
  std::vector<std::string> flags;    // after `tether run`
  std::vector<std::string> command;  // the workload
  int exit_code;
  // Refused: what stderr and the report's error say (each part); the
  // workload never runs. Empty: it runs.
  std::vector<std::string> refusal;
  // Runs: exactly the report's resources.limits, in order, and how the
  // workload ended (exit.cause).
  std::vector<std::string> limits;
  const char* exit_cause = nullptr;
};

class ReadOnlyCgroupTest : public ::testing::TestWithParam<ReadOnlyCgroupCase> {
 protected:
  RunResult Run() {
    RunSpec spec;
    spec.wrapper = {Binaries().Bin("faultenv"), "ro-cgroup", "--"};
    spec.args = {"run", "--report", dir_.Child("report.json"), "--events",
                 dir_.Child("events.json")};
    spec.args.insert(spec.args.end(), GetParam().flags.begin(), GetParam().flags.end());
    spec.args.push_back("--");
    spec.args.insert(spec.args.end(), GetParam().command.begin(), GetParam().command.end());
    return RunTether(spec);
  }

  ScopedTempDir dir_{"/tmp", 0777};
};

TEST_P(ReadOnlyCgroupTest, RefusesAskedLimitsInStrictModeAndReportsEveryLimitItCannotApply) {
  const ReadOnlyCgroupCase& test = GetParam();
  auto started = std::chrono::steady_clock::now();
  RunResult result = Run();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(result.exit_code, test.exit_code) << result.err;
  std::string text = ReadFile(dir_.Child("report.json"));
  PostureReport report = ParseReport(text);
  if (!test.refusal.empty()) {
    EXPECT_EQ(result.out, "") << "the workload must not have run";
    EXPECT_EQ(report.outcome, "refused") << text;
    for (const std::string& part : test.refusal) {
      EXPECT_TRUE(Has(result.err, part)) << part << " in " << result.err;
      EXPECT_TRUE(Has(report.error, part)) << part << " in " << text;
    }
    // Strict says how to run anyway.
    EXPECT_TRUE(Has(result.err, "--best-effort resource_limits")) << result.err;
    return;
  }
  EXPECT_EQ(report.outcome, "running") << text;
  Decoded<schema::PostureReport> decoded(text);
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  ASSERT_TRUE(decoded.get().hasResources()) << text;
  auto resources = decoded.get().getResources();
  EXPECT_EQ(Strings(resources.getCgroups()), std::vector<std::string>{})
      << "no sandbox cgroup can exist on this host: " << text;
  std::vector<std::string> limits;
  for (schema::ResourceLimit::Reader limit : resources.getLimits()) {
    limits.push_back(LimitLine(limit));
    // Each names the directory it could not make and the kernel's reason.
    std::string reason = Str(limit.getReason());
    EXPECT_TRUE(Has(reason, "/sys/fs/cgroup/")) << reason;
    EXPECT_TRUE(Has(reason, "Read-only file system")) << reason;
    EXPECT_TRUE(Has(reason, limit.getAsked() ? "best effort: the "
                                             : "the default pids limit is "
                                               "not enforced"))
        << reason;
  }
  EXPECT_EQ(limits, test.limits) << text;
  // Each limit is also a resource_limits record with the errno: EROFS.
  for (const MechanismRecord& record : report.mechanisms) {
    if (record.mechanism != "resource_limits" || record.action == "timeout") continue;
    EXPECT_EQ(record.state, "degraded") << text;
    EXPECT_EQ(record.errno_value, EROFS) << text;
  }
  ASSERT_TRUE(decoded.get().hasExit()) << text;
  EXPECT_EQ(Str(decoded.get().getExit().getCause()), test.exit_cause) << text;
  EXPECT_EQ(decoded.get().getExit().getStatus(), test.exit_code) << text;
  // The rest of the sandbox is whole.
  if (test.command[1] == "status") {
    EXPECT_EQ(FindLine(result.out, "NoNewPrivs:"), "\t1") << result.out;
    EXPECT_EQ(FindLine(result.out, "CapEff:"), "\t0000000000000000") << result.out;
  }
  if (std::string(test.exit_cause) == "timeout") {
    EXPECT_LT(seconds, 5) << "the timeout is the broker's clock, not a cgroup's";
  }
}

TEST_P(ReadOnlyCgroupTest, LeavesNoSandboxCgroupUnderSysFsCgroup) {
  RunResult result = Run();
  EXPECT_EQ(result.exit_code, GetParam().exit_code) << result.err;
  EXPECT_EQ(SandboxCgroupsOf(result.pid), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(
    Runs, ReadOnlyCgroupTest,
    ::testing::Values(
        ReadOnlyCgroupCase{"strict_memory",
                           {"--memory", "64M"},
                           {"./sandbox_probe", "status"},
                           125,
                           {"resource_limits: the memory limit 64M cannot be applied: ",
                            "/sys/fs/cgroup/", "Read-only file system"}},
        // The pids limit asked for is no default: strict refuses it too.
        ReadOnlyCgroupCase{"strict_pids",
                           {"--pids", "64"},
                           {"./sandbox_probe", "status"},
                           125,
                           {"resource_limits: the pids limit 64 cannot be applied: ",
                            "/sys/fs/cgroup/", "Read-only file system"}},
        ReadOnlyCgroupCase{
            "best_effort_memory",
            {"--memory", "64M", "--best-effort", "resource_limits"},
            {"./sandbox_probe", "status"},
            0,
            {},
            {"memory asked degraded", "swap asked degraded", "pids default degraded"},
            "exited"},
        // Nothing asked: the default pids limit degrades, never refuses.
        ReadOnlyCgroupCase{"default_limits",
                           {},
                           {"./sandbox_probe", "status"},
                           0,
                           {},
                           {"pids default degraded"},
                           "exited"},
        // The timeout is no cgroup limit: strict runs, and the sandbox ends
        // on time (its pid namespace, not a cgroup, takes every process).
        ReadOnlyCgroupCase{"strict_timeout",
                           {"--timeout", "1s"},
                           {"/bin/sh", "-c", "/bin/sleep 10 & /bin/sleep 10"},
                           124,
                           {},
                           {"pids default degraded"},
                           "timeout"}),
    [](const ::testing::TestParamInfo<ReadOnlyCgroupCase>& info) { return info.param.name; });

}  // namespace
}  // namespace tether::testing
