#ifndef TETHER_BASE_STATUS_H_
#define TETHER_BASE_STATUS_H_

// The broker's one way to turn failures into absl::Status. The stub side
// (stub/, ipc/ framing) stays abseil-free: see ipc/README.md.

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether {

// A failed system call: "call: strerror (errno N)", with the status code
// abseil maps that errno to. Use as ErrnoStatus(errno, "open(/x)").
absl::Status ErrnoStatus(int error, absl::string_view call);

// "prefix: message", keeping the code: context added on the way up.
absl::Status Annotate(const absl::Status& status, absl::string_view prefix);

}  // namespace tether

#define TETHER_STATUS_CONCAT_INNER(a, b) a##b
#define TETHER_STATUS_CONCAT(a, b) TETHER_STATUS_CONCAT_INNER(a, b)

// Returns the status of `expr` from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status tether_status_ = (expr);          \
    if (!tether_status_.ok()) return tether_status_; \
  } while (false)

// `lhs = value of expr`, or returns its status from the enclosing function.
// `lhs` may declare a variable: ASSIGN_OR_RETURN(UniqueFd fd, Open(path));
#define ASSIGN_OR_RETURN(lhs, expr) \
  TETHER_ASSIGN_OR_RETURN_IMPL(TETHER_STATUS_CONCAT(tether_statusor_, __LINE__), lhs, expr)
#define TETHER_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr)  \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // TETHER_BASE_STATUS_H_
