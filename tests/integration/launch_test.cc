// A launch's breakdown in the posture report, and the launch cache: it
// saves the probes and the seccomp compilation on the next run, and nothing
// planted in it makes a run weaker than the host allows.

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "broker/cache/cache.capnp.h"
#include "tests/integration/sandbox_fixture.h"
#include "tests/support/report_json.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

class LaunchTest : public ::testing::Test {
 protected:
  // `tether run` of the posture probe with the cache in `cache_dir`.
  RunResult Run(const std::string& cache_dir, std::vector<std::string> flags = {},
                bool best_effort = false) {
    RunSpec spec;
    spec.before_exec = [cache_dir, best_effort] {
      setenv("TETHER_CACHE_DIR", cache_dir.c_str(), 1);
      if (best_effort) setenv("TETHER_BEST_EFFORT", "all", 1);
    };
    spec.args = {"run", "--report", report_path_};
    spec.args.insert(spec.args.end(), flags.begin(), flags.end());
    spec.args.insert(spec.args.end(),
                     {"--", "./sandbox_probe", "posture", reports_.Child("outside")});
    return RunTether(spec);
  }
  PostureReport Report() {
    report_text_ = ReadFile(report_path_);
    return ParseReport(report_text_);
  }

  ScopedTempDir reports_;
  std::string report_path_ = reports_.Child("report.json");
  std::string report_text_;
};

TEST_F(LaunchTest, TheReportBreaksTheLaunchDownIntoPhasesThatAddUpToIt) {
  ScopedTempDir cache;
  auto start = std::chrono::steady_clock::now();
  RunResult result = Run(cache.path());
  double wall_micros =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(result.exit_code, 0) << result.err;
  PostureReport report = Report();
  std::vector<std::string> broker_phases, stub_phases;
  uint64_t broker_total = 0;
  for (const PostureReport::Phase& phase : report.launch) {
    (phase.measured_by == "stub" ? stub_phases : broker_phases).push_back(phase.phase);
    if (phase.measured_by == "broker") broker_total += phase.micros;
  }
  EXPECT_EQ(broker_phases,
            (std::vector<std::string>{"broker_start", "options", "seccomp_compile", "probes",
                                      "plan_sandbox", "cgroup", "clone", "cgroup_attach",
                                      "namespaces_and_mounts", "stub_start", "plan",
                                      "supervisor_seccomp", "stub_steps", "verification", "exec"}))
      << report_text_;
  EXPECT_EQ(stub_phases, (std::vector<std::string>{"landlock", "seccomp", "other_steps"}));
  // One clock from main to the workload's exec: within what this test saw.
  EXPECT_GT(broker_total, 0u);
  EXPECT_LT(broker_total, wall_micros) << report_text_;
}

TEST_F(LaunchTest, TheSecondRunTakesTheProbesFromTheCacheWithTheSamePosture) {
  ScopedTempDir cache;
  RunResult first = Run(cache.path());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ExpectFullPosture(first.out, 65534);
  PostureReport probed = Report();
  EXPECT_TRUE(StartsWith(probed.probes, "probed, kept in " + cache.path() + "/")) << probed.probes;

  RunResult second = Run(cache.path());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  ExpectFullPosture(second.out, 65534);
  PostureReport cached = Report();
  EXPECT_TRUE(StartsWith(cached.probes, "launch cache " + cache.path() + "/")) << cached.probes;
  ASSERT_EQ(cached.mechanisms.size(), probed.mechanisms.size()) << report_text_;
  for (size_t i = 0; i < cached.mechanisms.size(); ++i) {
    EXPECT_EQ(cached.mechanisms[i].action, probed.mechanisms[i].action);
    EXPECT_EQ(cached.mechanisms[i].state, probed.mechanisms[i].state);
    EXPECT_EQ(cached.mechanisms[i].evidence, probed.mechanisms[i].evidence);
  }
}

// The key of every entry in `directory`, by file name.
std::map<std::string, std::string> EntryKeys(const std::string& directory) {
  std::map<std::string, std::string> keys;
  DIR* dir = opendir(directory.c_str());
  if (dir == nullptr) return keys;
  while (struct dirent* file = readdir(dir)) {
    if (file->d_name[0] == '.') continue;
    int fd = open((directory + "/" + file->d_name).c_str(), O_RDONLY);
    if (fd < 0) continue;
    capnp::StreamFdMessageReader reader(fd);
    close(fd);
    keys[file->d_name] = reader.getRoot<broker::cache::Entry>().getKey();
  }
  closedir(dir);
  return keys;
}

// The probes' entry rewritten to say every mechanism is denied, as someone
// who could write the cache would, hoping a best-effort run degrades: every
// cached denial is probed again.
void PlantDenials(const std::string& directory) {
  int planted = 0;
  for (const auto& [name, key] : EntryKeys(directory)) {
    if (!StartsWith(key, "host facts")) continue;
    std::string path = directory + "/" + name;
    int fd = open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    capnp::StreamFdMessageReader reader(fd);
    close(fd);
    auto entry = reader.getRoot<broker::cache::Entry>();
    auto payload = entry.getPayload();
    kj::Array<capnp::word> words = kj::heapArray<capnp::word>(payload.size() / sizeof(capnp::word));
    memcpy(words.begin(), payload.begin(), payload.size());
    capnp::FlatArrayMessageReader facts_reader(words);
    capnp::MallocMessageBuilder facts;
    facts.setRoot(facts_reader.getRoot<broker::cache::HostFacts>());
    for (auto probe : facts.getRoot<broker::cache::HostFacts>().getProbes()) {
      probe.setOk(false);
      probe.setErrno(EPERM);
      probe.setEvidence("planted");
    }
    kj::Array<capnp::word> planted_facts = capnp::messageToFlatArray(facts);
    capnp::MallocMessageBuilder out;
    auto planted_entry = out.initRoot<broker::cache::Entry>();
    planted_entry.setKey(entry.getKey());
    planted_entry.setPayload(planted_facts.asBytes());
    fd = open(path.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    capnp::writeMessageToFd(fd, out);
    close(fd);
    ++planted;
  }
  ASSERT_EQ(planted, 1);
}

TEST_F(LaunchTest, ACachedDenialIsProbedAgainAndWeakensNothing) {
  ScopedTempDir cache;
  ASSERT_EQ(Run(cache.path()).exit_code, 0);
  PlantDenials(cache.path());
  RunResult result = Run(cache.path(), {"--network", "auto"}, /*best_effort=*/true);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ExpectFullPosture(result.out, 65534);
  PostureReport report = Report();
  EXPECT_NE(report.probes.find("its 10 denied probed again"), std::string::npos) << report.probes;
  EXPECT_EQ(report.CountState("degraded"), 0u) << report_text_;
  EXPECT_FALSE(report.Mentions("planted")) << report_text_;
  const MechanismRecord* network = report.Find("network_namespace");
  ASSERT_NE(network, nullptr);
  EXPECT_EQ(network->evidence, "verified") << report_text_;
}

// `tether probe`'s facts are kept under the workload filter's name: while
// they are all cached, the filter is neither read back nor compiled (its
// entry, removed, stays away), and --fresh, which probes seccomp again,
// needs it once more.
TEST_F(LaunchTest, AProbeWhoseFactsAreCachedDoesNotNeedTheWorkloadFilter) {
  ScopedTempDir cache;
  auto probe = [&](std::vector<std::string> flags) {
    RunSpec spec;
    spec.before_exec = [&cache] { setenv("TETHER_CACHE_DIR", cache.path().c_str(), 1); };
    spec.args = {"probe"};
    spec.args.insert(spec.args.end(), flags.begin(), flags.end());
    return RunTether(spec);
  };
  auto filter_entries = [&] {
    std::vector<std::string> names;
    for (const auto& [name, key] : EntryKeys(cache.path())) {
      if (StartsWith(key, "workload filter")) names.push_back(name);
    }
    return names;
  };
  RunResult first = probe({});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::vector<std::string> compiled = filter_entries();
  ASSERT_EQ(compiled.size(), 1u) << "the first probe compiles and keeps the filter";
  ASSERT_EQ(unlink((cache.path() + "/" + compiled[0]).c_str()), 0);

  RunResult cached = probe({});
  ASSERT_EQ(cached.exit_code, 0) << cached.err;
  EXPECT_NE(cached.out.find("\"seccomp_loadable\":{\"allowed\":true"), std::string::npos)
      << cached.out;
  EXPECT_TRUE(filter_entries().empty()) << "the filter was compiled for a cached probe";

  RunResult fresh = probe({"--fresh"});
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_EQ(filter_entries().size(), 1u) << "--fresh probed seccomp without the filter";
}

TEST_F(LaunchTest, ACacheDirectoryOthersCanWriteIsNeitherReadNorWritten) {
  ScopedTempDir parent;
  std::string shared = parent.Child("shared");
  ASSERT_EQ(mkdir(shared.c_str(), 0700), 0);
  ASSERT_EQ(chmod(shared.c_str(), 01777), 0);
  RunResult result = Run(shared);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  PostureReport report = Report();
  EXPECT_TRUE(StartsWith(report.probes, "probed (")) << report.probes;
  EXPECT_NE(report.probes.find("writable by others"), std::string::npos) << report.probes;
  DIR* dir = opendir(shared.c_str());
  ASSERT_NE(dir, nullptr);
  int entries = 0;
  while (struct dirent* file = readdir(dir)) entries += file->d_name[0] != '.';
  closedir(dir);
  EXPECT_EQ(entries, 0);
}

}  // namespace
}  // namespace tether::testing
