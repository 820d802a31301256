#ifndef TETHER_POLICY_RESOURCES_H_
#define TETHER_POLICY_RESOURCES_H_

// What a sandbox may consume (the policy's `resources` section and the
// --memory, --memory-swap, --pids, --cpus and --timeout flags), parsed into
// values. Enforcement is the broker's (broker/cgroup.h, the session's
// supervision).

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tether::policy {

// Every sandbox gets a pids limit, asked for or not: a fork bomb stops
// there. Below systemd's default TasksMax (15% of pid_max, 4915).
inline constexpr uint64_t kDefaultPidsLimit = 4096;
// SIGTERM at the timeout, SIGKILL this long after.
inline constexpr absl::Duration kTimeoutGrace = absl::Seconds(2);
// cpu.max / cpu.cfs_period_us.
inline constexpr uint64_t kCpuPeriodMicros = 100000;

struct ResourceLimits {
  std::optional<uint64_t> memory_bytes;
  // Swap on top of memory_bytes. Unset with a memory limit: none, so that
  // the limit is not half a limit.
  std::optional<uint64_t> swap_bytes;
  std::optional<uint64_t> pids;  // unset: kDefaultPidsLimit, not asked for
  std::optional<double> cpus;    // fractional CPUs
  std::optional<absl::Duration> timeout;

  // Whether any cgroup limit was asked for (not the default pids limit):
  // strict refuses a run where those cannot be applied.
  bool AnyCgroupLimitAsked() const {
    return memory_bytes.has_value() || swap_bytes.has_value() || pids.has_value() ||
           cpus.has_value();
  }
  uint64_t PidsOrDefault() const { return pids.value_or(kDefaultPidsLimit); }
  // cpu.max's quota for `cpus` CPUs in kCpuPeriodMicros.
  uint64_t CpuQuotaMicros() const;
};

// "512m", "2g", "64M": ParseByteSize's sizes, at least 4 MiB (less would
// end the sandbox's own start-up).
absl::StatusOr<uint64_t> ParseMemorySize(absl::string_view text);
// "0" or a size: swap allowed beyond the memory limit.
absl::StatusOr<uint64_t> ParseSwapSize(absl::string_view text);
// A whole number from 1 to 4194304 (the kernel's PID_MAX_LIMIT).
absl::StatusOr<uint64_t> ParsePidsLimit(absl::string_view text);
// "0.5", "2": more than 0.01 and at most 1024.
absl::StatusOr<double> ParseCpus(absl::string_view text);
// "30s", "500ms", "2m", "1h" or "1h30m" (absl's duration syntax) or a
// bare number of seconds; more than 0 and at most 30 days.
absl::StatusOr<absl::Duration> ParseTimeout(absl::string_view text);

// Parses `text` as the limit `key` ("memory", "memory_swap", "pids",
// "cpus" or "timeout", the policy's names) into `limits`; the error is the
// parser's, for the caller to prefix with the flag or JSON path.
absl::Status SetResourceLimit(absl::string_view key, absl::string_view text,
                              ResourceLimits* limits);

// "64M" style, for messages and `policy explain`: the largest exact unit.
std::string FormatBytes(uint64_t bytes);

}  // namespace tether::policy

#endif  // TETHER_POLICY_RESOURCES_H_
