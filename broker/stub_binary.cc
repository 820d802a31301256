#include "broker/stub_binary.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"

namespace tether::broker {
namespace {

// What an error says of a binary, and how to point at another.
struct BinaryNames {
  const char* what;     // "the stub"
  const char* install;  // "install tether-stub beside the broker or "
  const char* point;    // "name the stub with --stub PATH"
};

constexpr BinaryNames kStub = {"the stub", "install tether-stub beside the broker or ",
                               "name the stub with --stub PATH"};
constexpr BinaryNames kEgressHelper = {"the egress proxy", "",
                                       "install tether-egress beside the broker"};

// `name` beside the broker's own binary, or at `runfile` in its Bazel
// runfiles (`bazel run //:tether`), found from the binary itself (never
// from the environment, which a root broker must not let choose what it
// executes).
absl::StatusOr<std::string> BesideBroker(const std::string& name, const std::string& runfile,
                                         const BinaryNames& names) {
  char self[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot find ", names.what,
                     ": readlink(/proc/self/exe): ", std::strerror(errno), "; ", names.point));
  }
  std::string broker(self, length);
  std::string beside = broker.substr(0, broker.rfind('/') + 1) + name;
  for (const std::string& candidate : {beside, broker + ".runfiles/tether/" + runfile}) {
    if (access(candidate.c_str(), F_OK) == 0) return candidate;
  }
  return beside;  // missing: opening it names it
}

absl::StatusOr<UniqueFd> OpenTrusted(const std::string& given, const BinaryNames& names) {
  std::string path = given;
  if (path.empty() || path[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(names.what, " ", given, ": getcwd: ", std::strerror(errno)));
    }
    path = absl::StrCat(cwd, "/", given);
  }
  // O_RDONLY, not O_PATH: execveat of an O_PATH fd needs read access anyway,
  // and close-on-exec is harmless for an ELF binary.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid()) {
    return absl::FailedPreconditionError(absl::StrCat(names.what, " ", path,
                                                      " cannot be opened: ", std::strerror(errno),
                                                      "; ", names.install, names.point));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(names.what, " ", path, ": fstat: ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(names.what, " ", path, " is not a regular file; ", names.point));
  }
  if (geteuid() == 0 && st.st_uid != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        names.what, " ", path, " is owned by uid ", st.st_uid,
        ", not root: a root broker runs only binaries that only root can change; ", names.point));
  }
  if (geteuid() == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s %s is writable by %s (mode %04o): a root broker runs only binaries that only "
        "root can change (chmod go-w); %s",
        names.what, path, (st.st_mode & S_IWOTH) != 0 ? "others" : "its group", st.st_mode & 07777,
        names.point));
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::string> StubBesideBroker() {
  return BesideBroker("tether-stub", "stub/tether-stub", kStub);
}

absl::StatusOr<UniqueFd> OpenTrustedStub(const std::string& path) {
  return OpenTrusted(path, kStub);
}

absl::StatusOr<UniqueFd> OpenEgressHelper() {
  ASSIGN_OR_RETURN(std::string path,
                   BesideBroker("tether-egress", "broker/tether-egress", kEgressHelper));
  return OpenTrusted(path, kEgressHelper);
}

}  // namespace tether::broker
