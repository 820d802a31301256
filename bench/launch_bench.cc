// Times launching a static `true` plainly, under `tether run`, and under
// `bwrap --unshare-all`, interleaved in one run, and prints a table of
// medians and ratios against the plain launch.

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "bench/launch.h"

namespace {

using tether::bench::Percentile;
using tether::bench::Runfile;
using tether::bench::RunOnce;

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
  // A world-readable place: the sandboxed workload runs as nobody.
  char pattern[] = "/tmp/tether-bench-XXXXXX";
  std::string dir = mkdtemp(pattern);
  chmod(dir.c_str(), 0755);
  std::string static_true = dir + "/static_true";
  std::filesystem::copy_file(Runfile(argv[0], "bench/static_true"), static_true);
  chmod(static_true.c_str(), 0755);

  std::vector<Candidate> candidates = {
      {"plain static true", {static_true}},
      // The default posture: pid, mount, ipc, uts, cgroup and network
      // namespaces, the filesystem view, Landlock, seccomp, the uid change.
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
  };
  for (Candidate& candidate : candidates) {
    for (int warm = 0; warm < 5 && !candidate.failed; ++warm) {
      candidate.failed = RunOnce(candidate.argv, dir) != 0;
    }
  }
  for (int run = 0; run < runs; ++run) {
    for (Candidate& candidate : candidates) {
      if (candidate.failed) continue;
      auto start = std::chrono::steady_clock::now();
      int status = RunOnce(candidate.argv, dir);
      auto elapsed = std::chrono::steady_clock::now() - start;
      if (status != 0) {
        candidate.failed = true;
        continue;
      }
      candidate.millis.push_back(std::chrono::duration<double, std::milli>(elapsed).count());
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
    std::printf("| %s | %zu | %.3f | %.3f | %.1fx | %s |\n", candidate.name.c_str(),
                candidate.millis.size(), median, Percentile(candidate.millis, 0.9),
                plain > 0 ? median / plain : 0.0,
                bwrap > 0 ? absl::StrFormat("%.2fx", median / bwrap).c_str() : "-");
  }
  return candidates[1].failed ? 1 : 0;
}
