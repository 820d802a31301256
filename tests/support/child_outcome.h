#ifndef TETHER_TESTS_SUPPORT_CHILD_OUTCOME_H_
#define TETHER_TESTS_SUPPORT_CHILD_OUTCOME_H_

// Runs a piece of a test in a forked child, so that what it does to itself
// (no_new_privs, a seccomp filter, a Landlock domain) stays there.

#include <optional>
#include <utility>

#include "absl/functional/function_ref.h"

namespace tether::test_support {

struct ChildOutcome {
  // {stage, value} as the child's body returned them; nothing when the child
  // died before reporting.
  std::optional<std::pair<int, int>> report;
  int wait_status = 0;
};

// Forks; the child runs `body` and reports what it returns through a pipe,
// then exits. By convention stage 0 means the preparation worked and value
// is the result under test; another stage names the preparation step that
// failed, with its errno as value.
ChildOutcome RunInChild(absl::FunctionRef<std::pair<int, int>()> body);

}  // namespace tether::test_support

#endif  // TETHER_TESTS_SUPPORT_CHILD_OUTCOME_H_
