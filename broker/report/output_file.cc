#include "broker/report/output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/files.h"
#include "base/status.h"

namespace tether::broker {
namespace {

// An existing file is written only when nothing about it could redirect the
// write: a regular file, one link, owned by the writer.
absl::Status CheckExistingFile(int fd, const std::string& display) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, absl::StrCat("fstat(", display, ")"));
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(display, " exists and is not a regular file"));
  }
  if (st.st_nlink != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        display, " has ", st.st_nlink, " hard links: refusing to write a file linked elsewhere"));
  }
  if (st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(absl::StrCat(display, " is owned by uid ", st.st_uid,
                                                      ", not by the broker's uid ", geteuid()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UniqueFd> OpenOutputFileAt(int directory_fd, const std::string& name,
                                          OutputMode mode, const std::string& display) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(display, " does not name a file"));
  }
  int flags = O_WRONLY | O_CLOEXEC | O_NOCTTY | (mode == OutputMode::kAppend ? O_APPEND : 0);
  UniqueFd fd(openat(directory_fd, name.c_str(), flags | O_NOFOLLOW | O_CREAT | O_EXCL, 0600));
  if (fd.valid()) return fd;
  if (errno != EEXIST) return ErrnoStatus(errno, absl::StrCat("open(", display, ")"));
  // An existing name is looked at without opening it (a planted device or
  // FIFO would act on open), and only then reopened for writing: through
  // /proc/self/fd, the very inode that was checked.
  UniqueFd path(openat(directory_fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!path.valid()) return ErrnoStatus(errno, absl::StrCat("open(", display, ")"));
  struct stat st;
  if (fstat(path.get(), &st) == 0 && S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(display, " is a symbolic link: refusing to follow it"));
  }
  RETURN_IF_ERROR(CheckExistingFile(path.get(), display));
  fd.reset(open(absl::StrCat("/proc/self/fd/", path.get()).c_str(), flags));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("reopen(", display, ")"));
  return fd;
}

absl::StatusOr<UniqueFd> OpenOutputFile(const std::string& path, OutputMode mode) {
  size_t slash = path.rfind('/');
  std::string directory = slash == std::string::npos ? "." : path.substr(0, slash);
  if (directory.empty()) directory = "/";
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  UniqueFd directory_fd(open(directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!directory_fd.valid()) return ErrnoStatus(errno, absl::StrCat("open(", directory, ")"));
  return OpenOutputFileAt(directory_fd.get(), name, mode, path);
}

absl::StatusOr<UniqueFd> OpenPrivateDirectory(const std::string& path) {
  // The directory itself must not be a link to somewhere else.
  UniqueFd fd(open(path.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open(", path, ")"));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("fstat(", path, ")"));
  if (st.st_uid != geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is owned by uid ", st.st_uid, ", not by the broker's uid ", geteuid(),
                     ": another uid could plant report names there"));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is writable by %s (mode %04o): another uid could plant report names there; "
        "use a directory only the broker can write (chmod go-w)",
        path, (st.st_mode & S_IWOTH) != 0 ? "others" : "its group", st.st_mode & 07777));
  }
  return fd;
}

absl::StatusOr<std::string> UnpredictableReportName(pid_t pid) {
  uint64_t random = 0;
  ssize_t got = getrandom(&random, sizeof(random), 0);
  if (got != static_cast<ssize_t>(sizeof(random))) {
    return ErrnoStatus(got < 0 ? errno : EIO, "getrandom");
  }
  return absl::StrFormat("%d-%016x.json", pid, random);
}

// Written over the old content, then cut to its length: truncating a file
// to nothing first frees every block it had (on ext4 a journal transaction,
// half a millisecond per report rewrite), and a run rewrites its report.
// A write that fails leaves the file empty: neither the old report, which
// a reader would take for the current one, nor the new one's start over
// the old one's end.
absl::Status ReplaceContent(int fd, const std::string& content, const std::string& display) {
  absl::Status written = WriteFullyFromStart(fd, content, display);
  if (written.ok() && ftruncate(fd, static_cast<off_t>(content.size())) != 0) {
    written = ErrnoStatus(errno, absl::StrCat("ftruncate(", display, ")"));
  }
  if (!written.ok()) (void)ftruncate(fd, 0);
  return written;
}

}  // namespace tether::broker
