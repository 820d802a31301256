#ifndef TETHER_BROKER_OUTPUT_FILE_H_
#define TETHER_BROKER_OUTPUT_FILE_H_

// Report and event files are written by a privileged broker, often into a
// directory somebody else can write. Every one is opened through a
// directory fd with O_NOFOLLOW: a planted symlink, hard link, FIFO or
// another user's file is an error, never followed or written.

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "ipc/unique_fd.h"

namespace tether::broker {

enum class OutputMode {
  kTruncate,  // a report: the file holds exactly what was written last
  kAppend,    // an event log: one line per event, never rewritten
};

// Opens `name` (one path component) in `directory_fd`: creates it with
// O_EXCL and mode 0600, or opens an existing regular file with one link that
// the broker's euid owns. `display` names the file in errors.
absl::StatusOr<UniqueFd> OpenOutputFileAt(int directory_fd, const std::string& name,
                                          OutputMode mode, const std::string& display);

// The same for a path: its directory is opened first, its last component
// is never followed.
absl::StatusOr<UniqueFd> OpenOutputFile(const std::string& path, OutputMode mode);

// Opens a directory that will receive reports, refusing one that another
// uid could plant names in: it must be owned by the broker's euid and not
// writable by group or others.
absl::StatusOr<UniqueFd> OpenPrivateDirectory(const std::string& path);

// A report name a client can neither predict nor reuse: the pid plus 64
// random bits, e.g. "4242-9f1c0e7a55d2b631.json".
absl::StatusOr<std::string> UnpredictableReportName(pid_t pid);

// Replaces the whole content of a kTruncate file.
absl::Status ReplaceContent(int fd, const std::string& content, const std::string& display);

}  // namespace tether::broker

#endif  // TETHER_BROKER_OUTPUT_FILE_H_
