#ifndef TETHER_BASE_FILES_H_
#define TETHER_BASE_FILES_H_

#include <string>

#include "absl/status/statusor.h"

namespace tether {

// The whole of a small file (/proc entries, policy files, tokens); more
// than 1 MiB is an error rather than an unbounded read.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

}  // namespace tether

#endif  // TETHER_BASE_FILES_H_
