#include "broker/stub_binary.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tether::broker {
namespace {

constexpr char kHowToPoint[] = "name the stub with --stub PATH";

}  // namespace

absl::StatusOr<std::string> StubBesideBroker() {
  char self[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot find the stub: readlink(/proc/self/exe): ", std::strerror(errno), "; ",
                     kHowToPoint));
  }
  std::string broker(self, length);
  std::string beside = broker.substr(0, broker.rfind('/') + 1) + "tether-stub";
  // `bazel run //:tether`: the stub is among the broker's runfiles, found
  // from the binary itself (never from the environment, which a root
  // broker must not let choose what it executes).
  for (const std::string& candidate : {beside, broker + ".runfiles/tether/stub/tether-stub"}) {
    if (access(candidate.c_str(), F_OK) == 0) return candidate;
  }
  return beside;  // missing: OpenTrustedStub names it
}

absl::StatusOr<UniqueFd> OpenTrustedStub(const std::string& given) {
  std::string path = given;
  if (path.empty() || path[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("the stub ", given, ": getcwd: ", std::strerror(errno)));
    }
    path = absl::StrCat(cwd, "/", given);
  }
  // O_RDONLY, not O_PATH: execveat of an O_PATH fd needs read access anyway,
  // and close-on-exec is harmless for a static ELF binary.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid()) {
    return absl::FailedPreconditionError(absl::StrCat("the stub ", path,
                                                      " cannot be opened: ", std::strerror(errno),
                                                      "; install tether-stub "
                                                      "beside the broker or ",
                                                      kHowToPoint));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the stub ", path, ": fstat: ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the stub ", path, " is not a regular file; ", kHowToPoint));
  }
  if (geteuid() == 0 && st.st_uid != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the stub ", path, " is owned by uid ", st.st_uid,
        ", not root: a root broker runs only a stub that only root can change; ", kHowToPoint));
  }
  if (geteuid() == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the stub %s is writable by %s (mode %04o): a root broker runs only a stub that only "
        "root can change (chmod go-w); %s",
        path, (st.st_mode & S_IWOTH) != 0 ? "others" : "its group", st.st_mode & 07777,
        kHowToPoint));
  }
  return fd;
}

}  // namespace tether::broker
