#include "base/files.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "ipc/unique_fd.h"

namespace tether {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open(", path, ")"));
  std::string text;
  char buffer[4096];
  while (true) {
    ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("read(", path, ")"));
    if (n == 0) break;
    text.append(buffer, n);
    if (text.size() > (1 << 20)) {
      return absl::OutOfRangeError(absl::StrCat(path, " is larger than 1 MiB"));
    }
  }
  return text;
}

absl::Status ReadFullyFromStart(int fd, void* buffer, size_t size, absl::string_view what) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, static_cast<char*>(buffer) + done, size - done, done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("pread(", what, ")"));
    if (n == 0) {
      return absl::DataLossError(absl::StrCat(what, " ended after ", done, " of ", size, " bytes"));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

namespace {

absl::Status WriteAll(int fd, absl::string_view data, absl::string_view what, bool from_start) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = from_start ? pwrite(fd, data.data() + done, data.size() - done, done)
                           : write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return ErrnoStatus(n < 0 ? errno : EIO,
                         absl::StrCat(from_start ? "pwrite(" : "write(", what, ")"));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFully(int fd, absl::string_view data, absl::string_view what) {
  return WriteAll(fd, data, what, /*from_start=*/false);
}

absl::Status WriteFullyFromStart(int fd, absl::string_view data, absl::string_view what) {
  return WriteAll(fd, data, what, /*from_start=*/true);
}

}  // namespace tether
