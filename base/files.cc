#include "base/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

// Kernel ABI values that older headers may lack.
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

namespace {

constexpr unsigned kAllSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

}  // namespace

absl::StatusOr<UniqueFd> NewMemfd(const char* name, unsigned flags) {
  int fd = memfd_create(name, flags | MFD_CLOEXEC | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(name, flags | MFD_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("memfd_create(", name, ")"));
  return UniqueFd(fd);
}

absl::StatusOr<UniqueFd> SealedMemfd(const char* name, absl::string_view data,
                                     absl::string_view what) {
  ASSIGN_OR_RETURN(UniqueFd memfd, NewMemfd(name, MFD_ALLOW_SEALING));
  // From offset 0 on, the fd's own offset left there: a reader may read().
  RETURN_IF_ERROR(WriteFullyFromStart(memfd.get(), data, what));
  if (fcntl(memfd.get(), F_ADD_SEALS, kAllSeals) != 0) {
    return ErrnoStatus(errno, absl::StrCat("fcntl(", what, ", F_ADD_SEALS)"));
  }
  return memfd;
}

absl::StatusOr<std::string> ReadSealedMemfd(int fd, absl::string_view what,
                                            absl::FunctionRef<absl::Status(off_t)> check_size) {
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) return ErrnoStatus(errno, absl::StrCat("fcntl(", what, ", F_GET_SEALS)"));
  unsigned missing = kAllSeals & ~static_cast<unsigned>(seals);
  if (missing != 0) {
    std::vector<absl::string_view> names;
    if (missing & F_SEAL_SEAL) names.push_back("F_SEAL_SEAL");
    if (missing & F_SEAL_SHRINK) names.push_back("F_SEAL_SHRINK");
    if (missing & F_SEAL_GROW) names.push_back("F_SEAL_GROW");
    if (missing & F_SEAL_WRITE) names.push_back("F_SEAL_WRITE");
    return absl::FailedPreconditionError(absl::StrCat(
        "the ", what, " could still be changed: it lacks ", absl::StrJoin(names, "|")));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, absl::StrCat("fstat(", what, ")"));
  RETURN_IF_ERROR(check_size(st.st_size));
  std::string data(static_cast<size_t>(st.st_size), '\0');
  RETURN_IF_ERROR(ReadFullyFromStart(fd, data.data(), data.size(), what));
  return data;
}

}  // namespace tether
