// Launch throughput and latency with 1, 8 and 64 concurrent launches, for
// sidecar stubs against `tether serve`, for `tether run`, and for
// `bwrap --unshare-all`, in one run, the launchers taking turns in rounds.
// Prints launches per second and p50/p99 latency per launcher and
// concurrency.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/launch.h"

namespace {

using tether::bench::Percentile;
using tether::bench::Runfile;
using tether::bench::RunOnce;

using Clock = std::chrono::steady_clock;

struct Result {
  double per_second = 0;
  double p50 = 0;
  double p99 = 0;
  int failures = 0;
};

// Every launch's latency and the wall time spent, summed over rounds.
struct Samples {
  std::vector<double> millis;
  double seconds = 0;
  int failures = 0;

  Result Summary() const {
    Result result;
    result.failures = failures;
    if (!millis.empty()) {
      result.per_second = millis.size() / seconds;
      result.p50 = Percentile(millis, 0.5);
      result.p99 = Percentile(millis, 0.99);
    }
    return result;
  }
};

// `launches` of `command`, `concurrency` at a time, added to `samples`.
void Measure(const std::vector<std::string>& command, const std::string& cwd, int concurrency,
             int launches, Samples* samples) {
  std::mutex lock;
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < launches; i += concurrency) {
        auto begin = Clock::now();
        int status = RunOnce(command, cwd);
        double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
        std::lock_guard<std::mutex> guard(lock);
        if (status == 0) {
          samples->millis.push_back(elapsed);
        } else {
          ++samples->failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  samples->seconds += std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  // `bazel run` sets this for the binary it runs, and tether honours it
  // (it enters the directory `bazel run` was typed in); the candidates here
  // run from the benchmark's own directory.
  unsetenv("BUILD_WORKING_DIRECTORY");
  std::string tether;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--tether") == 0) tether = argv[i + 1];
  }
  if (tether.empty()) {
    std::fprintf(stderr, "usage: serve_bench --tether PATH (tether-stub beside it)\n");
    return 64;
  }
  // Absolute: every launch runs from the benchmark's own directory.
  tether = std::filesystem::absolute(tether);
  std::string stub = tether.substr(0, tether.rfind('/') + 1) + "tether-stub";
  char pattern[] = "/tmp/tether-serve-bench-XXXXXX";
  std::string dir = mkdtemp(pattern);
  chmod(dir.c_str(), 0755);
  std::string static_true = dir + "/static_true";
  std::filesystem::copy_file(Runfile(argv[0], "bench/static_true"), static_true);
  chmod(static_true.c_str(), 0755);
  std::string socket = dir + "/broker.sock";

  pid_t server = fork();
  if (server == 0) {
    int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    // 64 stubs of one uid at once: the per-uid handshake cap is raised to
    // match, and the session cap above it, since a worker counts until its
    // exit has been reaped, a moment after its stub's caller saw the stub
    // exit and started the next (a refusal there measures the cap).
    execl(tether.c_str(), tether.c_str(), "serve", "--socket", socket.c_str(), "--allow-uid", "0",
          "--max-pending-per-uid", "64", "--max-sessions", "128", nullptr);
    _exit(121);
  }
  for (int i = 0; i < 500 && !std::filesystem::exists(socket); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  struct Launcher {
    const char* name;
    std::vector<std::string> command;
  } launchers[] = {
      {"plain static true", {static_true}},
      {"tether serve + stub", {stub, "--connect", socket, "--", static_true}},
      {"tether run", {tether, "run", "--", static_true}},
      {"bwrap --unshare-all",
       {"/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev",
        "/dev", "--proc", "/proc", "--", static_true}},
  };
  std::printf("| launcher | concurrent | launches | per second | p50 ms | p99 ms |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
  int failed = 0;
  std::map<std::pair<std::string, int>, Result> results;
  // The launchers take turns, a few rounds each, so that a machine
  // whose speed drifts during the run (this VM's plain exec moves by half
  // from minute to minute) slows them alike and the ratios hold.
  constexpr int kRounds = 4;
  for (int concurrency : {1, 8, 64}) {
    int per_round = std::max(64, concurrency * 4) / kRounds;
    int launches = per_round * kRounds;
    std::map<std::string, Samples> samples;
    for (int round = 0; round < kRounds; ++round) {
      for (const Launcher& launcher : launchers) {
        Measure(launcher.command, dir, concurrency, per_round, &samples[launcher.name]);
      }
    }
    for (const Launcher& launcher : launchers) {
      Result result = samples[launcher.name].Summary();
      results[{launcher.name, concurrency}] = result;
      failed += result.failures;
      std::printf("| %s | %d | %d | %.1f | %.2f | %.2f |%s\n", launcher.name, concurrency,
                  launches - result.failures, result.per_second, result.p50, result.p99,
                  result.failures ? " (some failed)" : "");
      std::fflush(stdout);
    }
  }
  // The sidecar's goals, against what this run measured.
  const Result& serve_1 = results[{"tether serve + stub", 1}];
  const Result& plain_1 = results[{"plain static true", 1}];
  const Result& serve_8 = results[{"tether serve + stub", 8}];
  const Result& bwrap_8 = results[{"bwrap --unshare-all", 8}];
  // A goal is met only by launches that all succeeded (none measured is
  // no ratio at all, not a ratio of 0).
  double latency =
      plain_1.p50 > 0 && serve_1.p50 > 0 && serve_1.failures == 0 ? serve_1.p50 / plain_1.p50 : -1;
  double throughput = bwrap_8.per_second > 0 && serve_8.failures == 0
                          ? serve_8.per_second / bwrap_8.per_second
                          : -1;
  auto ratio = [](double value) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.2fx", value);
    return value < 0 ? std::string("none (launches failed)") : std::string(text);
  };
  std::printf("\n| goal | measured | target | met |\n| --- | ---: | ---: | --- |\n");
  std::printf("| serve + stub p50 vs plain exec, 1 at a time | %s | at most 2.50x | %s |\n",
              ratio(latency).c_str(), latency >= 0 && latency <= 2.5 ? "yes" : "no");
  std::printf("| serve + stub launches/s vs bwrap, 8 at a time | %s | at least 2.00x | %s |\n",
              ratio(throughput).c_str(), throughput >= 2.0 ? "yes" : "no");
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  // Keepers of the last isolated networks may still be tearing down.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::filesystem::remove_all(dir);
  return failed == 0 ? 0 : 1;
}
