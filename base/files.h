#ifndef TETHER_BASE_FILES_H_
#define TETHER_BASE_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether {

// The whole of a small file (/proc entries, policy files, tokens); more
// than 1 MiB is an error rather than an unbounded read.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

// Exactly `size` bytes from offset 0 on with pread (a file of known size,
// a memfd): an end of file before them is a DataLossError. `what` names the
// file in the error.
absl::Status ReadFullyFromStart(int fd, void* buffer, size_t size, absl::string_view what);

// All of `data`, written at the fd's offset (a pipe, a new file), however
// many writes it takes. `what` names the file in the error.
absl::Status WriteFully(int fd, absl::string_view data, absl::string_view what);

// The same, from offset 0 on with pwrite: the fd's own offset stays where
// it was (at 0 for a reader that uses read()), and a file rewritten after
// ftruncate has no hole.
absl::Status WriteFullyFromStart(int fd, absl::string_view data, absl::string_view what);

}  // namespace tether

#endif  // TETHER_BASE_FILES_H_
