#include "tests/support/deny_all_policy.h"

#include <seccomp.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/workload_seccomp.h"

namespace tether::testing {

std::string PolicyDenyingEverySyscallBut(const std::vector<std::string>& workload_needs) {
  std::vector<std::string> allowed = policy::SyscallsTheStubMakesUnderTheFilter();
  allowed.insert(allowed.end(), workload_needs.begin(), workload_needs.end());
  std::vector<std::string> denied;
  // x86_64 and aarch64 number theirs below 1024.
  for (int number = 0; number < 1024; ++number) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, number);
    if (name == nullptr) continue;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      denied.push_back(absl::StrCat("\"", name, "\""));
    }
    std::free(name);
  }
  return absl::StrCat(R"({"seccomp": {"deny_syscalls": [)", absl::StrJoin(denied, ", "), "]}}");
}

}  // namespace tether::testing
