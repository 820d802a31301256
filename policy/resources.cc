#include "policy/resources.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "policy/policy_types.h"

namespace tether::policy {

uint64_t ResourceLimits::CpuQuotaMicros() const {
  if (!cpus.has_value()) return 0;
  return static_cast<uint64_t>(std::llround(*cpus * static_cast<double>(kCpuPeriodMicros)));
}

absl::StatusOr<uint64_t> ParseMemorySize(absl::string_view text) {
  absl::StatusOr<uint64_t> bytes = ParseByteSize(text);
  if (!bytes.ok()) return bytes.status();
  if (*bytes < (uint64_t{4} << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is less than 4m, too little for the sandbox to start"));
  }
  return bytes;
}

absl::StatusOr<uint64_t> ParseSwapSize(absl::string_view text) {
  if (text == "0") return uint64_t{0};
  return ParseByteSize(text);
}

absl::StatusOr<uint64_t> ParsePidsLimit(absl::string_view text) {
  uint64_t value = 0;
  bool digits = !text.empty() && std::all_of(text.begin(), text.end(), absl::ascii_isdigit);
  if (!digits || !absl::SimpleAtoi(text, &value) || value < 1 || value > 4194304) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a number of processes from 1 to 4194304"));
  }
  return value;
}

absl::StatusOr<double> ParseCpus(absl::string_view text) {
  double value = 0;
  bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(c) || c == '.';
  });
  if (!plain || !absl::SimpleAtod(text, &value) || !(value >= 0.01) || value > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a number of CPUs from 0.01 to 1024 (e.g. 0.5 or 2)"));
  }
  return value;
}

absl::StatusOr<absl::Duration> ParseTimeout(absl::string_view text) {
  absl::Duration duration;
  double seconds = 0;
  bool bare = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(c) || c == '.';
  });
  bool parsed = bare ? absl::SimpleAtod(text, &seconds) : absl::ParseDuration(text, &duration);
  if (bare && parsed) duration = absl::Seconds(seconds);
  if (!parsed || duration < absl::Milliseconds(1) || duration > absl::Hours(24 * 30) ||
      (!bare && (text.find('-') != absl::string_view::npos || text == "inf"))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not a duration from 1ms to 30 days (e.g. 30s, 500ms, 2m, 1h30m)"));
  }
  return duration;
}

absl::Status SetResourceLimit(absl::string_view key, absl::string_view text,
                              ResourceLimits* limits) {
  auto assign = [](auto parsed, auto* field) -> absl::Status {
    if (!parsed.ok()) return parsed.status();
    *field = *parsed;
    return absl::OkStatus();
  };
  if (key == "memory") return assign(ParseMemorySize(text), &limits->memory_bytes);
  if (key == "memory_swap") return assign(ParseSwapSize(text), &limits->swap_bytes);
  if (key == "pids") return assign(ParsePidsLimit(text), &limits->pids);
  if (key == "cpus") return assign(ParseCpus(text), &limits->cpus);
  if (key == "timeout") return assign(ParseTimeout(text), &limits->timeout);
  return absl::InvalidArgumentError(absl::StrCat("'", key, "' is not a resource limit"));
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr struct {
    int shift;
    const char* suffix;
  } kUnits[] = {{30, "G"}, {20, "M"}, {10, "K"}};
  for (const auto& unit : kUnits) {
    uint64_t size = uint64_t{1} << unit.shift;
    if (bytes != 0 && bytes % size == 0) return absl::StrCat(bytes / size, unit.suffix);
  }
  return absl::StrCat(bytes);
}

}  // namespace tether::policy
