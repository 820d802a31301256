#ifndef TETHER_BASE_FILES_H_
#define TETHER_BASE_FILES_H_

#include <sys/types.h>

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ipc/unique_fd.h"

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

// A new close-on-exec memfd, with `flags` (MFD_ALLOW_SEALING) besides.
// MFD_NOEXEC_SEAL (Linux 6.3) keeps the kernel from warning about, or with
// vm.memfd_noexec refusing, a memfd that could be made executable; older
// kernels reject the flag with EINVAL, and get none.
absl::StatusOr<UniqueFd> NewMemfd(const char* name, unsigned flags);

// `data` in a new memfd (close-on-exec, not executable where the kernel
// can say so) sealed against writes, resizing and further seals, so that
// it can be handed to another process and nobody can change it after.
// `name` names the memfd; `what` names it in errors.
absl::StatusOr<UniqueFd> SealedMemfd(const char* name, absl::string_view data,
                                     absl::string_view what);

// All of a memfd made by SealedMemfd, from offset 0 and without moving the
// fd's offset. FailedPreconditionError unless it carries all four seals
// (the message names those it lacks); `check_size`'s error for its size,
// asked before anything is read.
absl::StatusOr<std::string> ReadSealedMemfd(int fd, absl::string_view what,
                                            absl::FunctionRef<absl::Status(off_t)> check_size);

}  // namespace tether

#endif  // TETHER_BASE_FILES_H_
