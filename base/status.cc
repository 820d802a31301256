#include "base/status.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace tether {

absl::Status ErrnoStatus(int error, absl::string_view call) {
  return absl::Status(absl::ErrnoToStatusCode(error),
                      absl::StrCat(call, ": ", std::strerror(error), " (errno ", error, ")"));
}

absl::Status Annotate(const absl::Status& status, absl::string_view prefix) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(prefix, ": ", status.message()));
}

}  // namespace tether
