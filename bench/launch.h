#ifndef TETHER_BENCH_LAUNCH_H_
#define TETHER_BENCH_LAUNCH_H_

#include <string>
#include <vector>

namespace tether::bench {

// Runs `args` once in `cwd` with stdio on /dev/null; the exit status, or -1
// when it could not start.
int RunOnce(const std::vector<std::string>& args, const std::string& cwd);

// The same, with the child's peak resident set size in KiB in *max_rss_kib.
int RunOnceMeasured(const std::vector<std::string>& args, const std::string& cwd,
                    long* max_rss_kib);

// The p-th percentile (0..1) of `values`.
double Percentile(std::vector<double> values, double p);

// A runfile of this benchmark binary (`relative` to the workspace root).
std::string Runfile(const char* argv0, const std::string& relative);

}  // namespace tether::bench

#endif  // TETHER_BENCH_LAUNCH_H_
