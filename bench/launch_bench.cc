// Times launching a static `true` plainly, under `tether run`, and under
// `bwrap --unshare-all`, and `tether probe` and `tether policy check`,
// interleaved in one run; prints a table of medians and ratios, the median
// of each launch phase from the posture report, and the launch goals
// against what was measured.

#include <capnp/message.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "bench/launch.h"
#include "broker/report/posture_report.h"
#include "broker/report/report.capnp.h"

namespace {

using tether::bench::Percentile;
using tether::bench::Runfile;
using tether::bench::RunOnce;
using tether::bench::RunOnceMeasured;

struct Candidate {
  std::string name;
  std::vector<std::string> argv;
  std::vector<double> millis;
  bool failed = false;
};

}  // namespace

int main(int argc, char** argv) {
  // `bazel run` sets this for the binary it runs, and tether honours it
  // (it enters the directory `bazel run` was typed in); the candidates here
  // run from the benchmark's own directory.
  unsetenv("BUILD_WORKING_DIRECTORY");
  std::string tether;
  int runs = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--tether") == 0)
      tether = argv[i + 1];
    else if (std::strcmp(argv[i], "--runs") == 0)
      runs = std::atoi(argv[i + 1]);
  }
  if (tether.empty() || runs < 1) {
    std::fprintf(stderr, "usage: launch_bench --tether PATH [--runs N]\n");
    return 64;
  }
  // Absolute: every launch runs from the benchmark's own directory.
  tether = std::filesystem::absolute(tether);
  // A world-readable place: the sandboxed workload runs as nobody.
  char pattern[] = "/tmp/tether-bench-XXXXXX";
  std::string dir = mkdtemp(pattern);
  chmod(dir.c_str(), 0755);
  std::string stub = tether.substr(0, tether.rfind('/') + 1) + "tether-stub";
  std::string static_true = dir + "/static_true";
  std::filesystem::copy_file(Runfile(argv[0], "bench/static_true"), static_true);
  chmod(static_true.c_str(), 0755);

  std::string empty_policy = dir + "/empty-policy.json";
  std::FILE* policy_file = std::fopen(empty_policy.c_str(), "w");
  std::fputs("{}\n", policy_file);
  std::fclose(policy_file);

  std::vector<Candidate> candidates = {
      {"plain static true", {static_true}},
      // The default posture: pid, mount, ipc, uts, cgroup and network
      // namespaces, the filesystem view, Landlock, seccomp, the uid change,
      // the cgroup with its pids limit.
      {"tether run (full posture)", {tether, "run", "--", static_true}},
      {"bwrap --unshare-all",
       {"/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev",
        "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        // The benchmark's own directory is under /tmp: bound back in, as
        // tether binds its working directory.
        "--ro-bind", dir, dir, "--", static_true}},
      // The same with an egress allow-list: the proxy process starts, is
      // checked, and goes with the run (no connection is made).
      {"tether run --allow-net (proxy)",
       {tether, "run", "--allow-net", "127.0.0.1:9", "--", static_true}},
      {"tether probe", {tether, "probe"}},
      {"tether policy check (empty policy)", {tether, "policy", "check", empty_policy}},
  };
  for (Candidate& candidate : candidates) {
    for (int warm = 0; warm < 5 && !candidate.failed; ++warm) {
      candidate.failed = RunOnce(candidate.argv, dir) != 0;
    }
  }
  long peak_rss_kib = 0;
  for (int run = 0; run < runs; ++run) {
    for (size_t i = 0; i < candidates.size(); ++i) {
      Candidate& candidate = candidates[i];
      if (candidate.failed) continue;
      long rss_kib = 0;
      auto start = std::chrono::steady_clock::now();
      int status = RunOnceMeasured(candidate.argv, dir, &rss_kib);
      auto elapsed = std::chrono::steady_clock::now() - start;
      if (status != 0) {
        candidate.failed = true;
        continue;
      }
      if (i == 1) peak_rss_kib = std::max(peak_rss_kib, rss_kib);
      candidate.millis.push_back(std::chrono::duration<double, std::milli>(elapsed).count());
    }
  }

  // Where a run's time goes: the posture report's phases, medians.
  std::vector<std::string> phase_order;
  std::map<std::string, std::vector<double>> phase_micros;
  std::map<std::string, std::string> measured_by;
  std::string report = dir + "/report.json";
  int breakdown_runs = std::max(1, runs / 4);
  for (int run = 0; run < breakdown_runs && !candidates[1].failed; ++run) {
    if (RunOnce({tether, "run", "--report", report, "--", static_true}, dir) != 0) break;
    std::ifstream in(report);
    std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    capnp::MallocMessageBuilder message;
    auto decoded = message.initRoot<tether::broker::schema::PostureReport>();
    if (!tether::broker::DecodeReportJson(json, capnp::toDynamic(decoded)).ok()) break;
    for (auto phase : decoded.getLaunch()) {
      std::string name = phase.getPhase().cStr();
      if (phase_micros.find(name) == phase_micros.end()) phase_order.push_back(name);
      phase_micros[name].push_back(phase.getMicros());
      measured_by[name] = phase.getMeasuredBy().cStr();
    }
  }
  std::filesystem::remove_all(dir);

  double plain = candidates[0].failed ? 0 : Percentile(candidates[0].millis, 0.5);
  double bwrap = candidates[2].failed ? 0 : Percentile(candidates[2].millis, 0.5);
  std::printf("| launcher | runs | median ms | p90 ms | median vs plain | median vs bwrap |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Candidate& candidate : candidates) {
    if (candidate.failed) {
      std::printf("| %s | 0 | failed | failed | - | - |\n", candidate.name.c_str());
      continue;
    }
    double median = Percentile(candidate.millis, 0.5);
    std::printf("| %s | %zu | %.3f | %.3f | %.2fx | %s |\n", candidate.name.c_str(),
                candidate.millis.size(), median, Percentile(candidate.millis, 0.9),
                plain > 0 ? median / plain : 0.0,
                bwrap > 0 ? absl::StrFormat("%.2fx", median / bwrap).c_str() : "-");
  }

  std::printf("\n| tether run phase (%d runs) | measured by | median us |\n", breakdown_runs);
  std::printf("| --- | --- | ---: |\n");
  double broker_total = 0;
  for (const std::string& name : phase_order) {
    double median = Percentile(phase_micros[name], 0.5);
    if (measured_by[name] == "broker") broker_total += median;
    std::printf("| %s | %s | %.0f |\n", name.c_str(), measured_by[name].c_str(), median);
  }
  std::printf("| sum of the broker's medians (main to exec) | broker | %.0f |\n", broker_total);

  // The goals, each against what this run measured.
  auto ratio = [&](size_t index, double base) {
    return candidates[index].failed || base <= 0 ? -1.0
                                                 : Percentile(candidates[index].millis, 0.5) / base;
  };
  struct stat stub_stat = {};
  double stub_mib = stat(stub.c_str(), &stub_stat) == 0 ? stub_stat.st_size / 1048576.0 : -1;
  // No successful run, no figure: a failed run must not meet the goal.
  double rss_mib = candidates[1].failed || peak_rss_kib == 0 ? -1 : peak_rss_kib / 1024.0;
  struct Goal {
    std::string what;
    double measured;
    double limit;
    const char* unit;
  } goals[] = {
      {"tether run vs bwrap (median)", ratio(1, bwrap), 0.8, "x"},
      {"tether probe vs plain exec (median)", ratio(4, plain), 2.0, "x"},
      {"tether policy check vs plain exec (median)", ratio(5, plain), 2.0, "x"},
      {"tether-stub size (as staged, stripped)", stub_mib, 1.0, " MiB"},
      {"peak RSS of a tether run (broker, stub, workload)", rss_mib, 8.0, " MiB"},
  };
  std::printf("\n| goal | measured | at most | met |\n| --- | ---: | ---: | --- |\n");
  for (const Goal& goal : goals) {
    std::string measured =
        goal.measured < 0 ? "none (failed)" : absl::StrFormat("%.2f%s", goal.measured, goal.unit);
    std::printf("| %s | %s | %.2f%s | %s |\n", goal.what.c_str(), measured.c_str(), goal.limit,
                goal.unit, goal.measured >= 0 && goal.measured <= goal.limit ? "yes" : "no");
  }
  return candidates[1].failed ? 1 : 0;
}
