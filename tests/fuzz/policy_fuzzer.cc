// Fuzzes the policy file parser. Invariants: an accepted policy has only
// absolute, distinct paths; a rejected one names a JSON path.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "policy/policy_file.h"

namespace {

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<tether::policy::PolicyFile> policy = tether::policy::ParsePolicy(json);
  if (!policy.ok()) {
    Check(policy.status().message().substr(0, 1) == "$", "errors start with a JSON path");
    return 0;
  }
  std::set<std::string> seen;
  for (const auto* list : {&policy->read_only, &policy->read_write, &policy->devices}) {
    for (const std::string& path : *list) {
      Check(!path.empty() && path[0] == '/', "paths are absolute");
      Check(seen.insert(path).second, "paths are distinct");
    }
  }
  return 0;
}
