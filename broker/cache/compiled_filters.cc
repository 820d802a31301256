#include "broker/cache/compiled_filters.h"

#include <linux/audit.h>

#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/cache/launch_cache.h"
#include "ipc/limits.h"
#include "policy/supervisor_seccomp.h"

namespace tether::broker {
namespace {

// What a compiled program depends on: the compiler and its tables are in
// the broker binary (libseccomp is linked in), the kernel decides which
// syscalls exist, and the rest is the policy's.
std::string FilterKey(const std::string& which, const std::string& policy) {
  return absl::StrCat(which, " v1 arch ", AUDIT_ARCH_X86_64, "\n", HostAndBrokerKey(), policy);
}

std::optional<std::vector<struct sock_filter>> Decode(const std::string& payload) {
  size_t count = payload.size() / sizeof(struct sock_filter);
  if (count == 0 || count > ipc::kMaxSeccompInstructions ||
      payload.size() % sizeof(struct sock_filter) != 0) {
    return std::nullopt;
  }
  std::vector<struct sock_filter> program(count);
  std::memcpy(program.data(), payload.data(), payload.size());
  return program;
}

template <typename Compile>
absl::StatusOr<std::vector<struct sock_filter>> ThroughCache(const std::string& key,
                                                             Compile compile) {
  absl::StatusOr<LaunchCache> cache = LaunchCache::Open();
  if (cache.ok()) {
    if (std::optional<std::string> payload = cache->Read(key); payload.has_value()) {
      if (std::optional<std::vector<struct sock_filter>> program = Decode(*payload)) {
        return *program;
      }
    }
  }
  absl::StatusOr<std::vector<struct sock_filter>> program = compile();
  if (program.ok() && cache.ok()) {
    std::string bytes(reinterpret_cast<const char*>(program->data()),
                      program->size() * sizeof(struct sock_filter));
    cache->Write(key, bytes).IgnoreError();  // the next run compiles again
  }
  return program;
}

}  // namespace

std::string WorkloadFilterKey(const policy::WorkloadSeccompOptions& options) {
  std::string policy =
      absl::StrCat("denied ", absl::StrJoin(options.extra_denied_syscalls, ","), "\nfamilies ",
                   absl::StrJoin(options.allowed_socket_families, ","), "\n");
  return FilterKey("workload filter", policy);
}

absl::StatusOr<std::vector<struct sock_filter>> CompiledWorkloadFilter(
    const policy::WorkloadSeccompOptions& options) {
  return ThroughCache(WorkloadFilterKey(options),
                      [&] { return policy::CompileWorkloadFilter(options); });
}

absl::StatusOr<std::vector<struct sock_filter>> CompiledSupervisorFilter() {
  return ThroughCache(FilterKey("supervisor filter", ""),
                      [] { return policy::CompileSupervisorFilter(); });
}

}  // namespace tether::broker
