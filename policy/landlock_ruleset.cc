#include "policy/landlock_ruleset.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/status.h"

// The installed uapi header may predate the running kernel; these values are
// kernel ABI and never change.

namespace tether::policy {
namespace {

// struct landlock_ruleset_attr as of ABI 6. Declared here because older
// headers stop at handled_access_fs; the kernel accepts this larger size on
// every ABI as long as the fields it does not know are zero.
struct RulesetAttr {
  __u64 handled_access_fs;
  __u64 handled_access_net;
  __u64 scoped;
};

// Rights that landlock_add_rule accepts on a non-directory (EINVAL otherwise).
constexpr uint64_t kFileAccess = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
                                 LANDLOCK_ACCESS_FS_IOCTL_DEV;

constexpr uint64_t kReadOnlyAccess =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;

constexpr uint64_t kReadWriteAccess =
    kReadOnlyAccess | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
    LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_DIR |
    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SYM |
    LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE;

constexpr uint64_t kDeviceAccess = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                   LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV;

absl::Status CheckPath(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("landlock path \"", path, "\" is not absolute"));
  }
  // open() would silently stop at an embedded NUL and grant a prefix.
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("landlock path \"", path.c_str(), "...\" contains a NUL byte"));
  }
  return absl::OkStatus();
}

// Adds one path-beneath rule granting `access` (already masked to the ABI).
// Opens `path` with O_PATH, inside `root_fd` when it is valid.
int OpenPath(int root_fd, const std::string& path) {
  if (root_fd < 0) return open(path.c_str(), O_PATH | O_CLOEXEC);
  struct open_how how = {};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof(how)));
}

absl::Status AddPathRule(int ruleset_fd, int root_fd, const std::string& path, uint64_t access,
                         MissingPath missing) {
  UniqueFd fd(OpenPath(root_fd, path));
  if (!fd.valid()) {
    int error = errno;
    // ENOTDIR: a component of the path is a file, so the path cannot exist.
    if (error == ENOENT || error == ENOTDIR) {
      if (missing == MissingPath::kSkip) return absl::OkStatus();
      return absl::NotFoundError(absl::StrCat("landlock path ", path, " does not exist: ",
                                              std::strerror(error), " (errno ", error, ")"));
    }
    return ErrnoStatus(error, absl::StrCat("open(", path, ", O_PATH)"));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("fstat(", path, ")"));
  }
  if (!S_ISDIR(st.st_mode)) access &= kFileAccess;
  // An empty mask would be ENOMSG; granting nothing needs no rule.
  if (access == 0) return absl::OkStatus();

  struct landlock_path_beneath_attr attr = {};
  attr.allowed_access = access;
  attr.parent_fd = fd.get();
  if (syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &attr, 0U) != 0) {
    return ErrnoStatus(errno, absl::StrCat("landlock_add_rule(", path, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> QueryLandlockAbi() {
  int abi = kernel::QueryLandlockAbi();
  if (abi < 0) return ErrnoStatus(-abi, "landlock_create_ruleset(LANDLOCK_CREATE_RULESET_VERSION)");
  return abi;
}

namespace {

// Every path first, so that a bad one fails the same way wherever it sits
// in the lists.
absl::Status CheckPaths(const LandlockRules& rules) {
  for (const auto* paths :
       {&rules.read_only, &rules.read_write, &rules.devices, &rules.write_file}) {
    for (const std::string& path : *paths) RETURN_IF_ERROR(CheckPath(path));
  }
  return absl::OkStatus();
}

absl::Status AddCheckedRules(int ruleset_fd, const LandlockRules& rules, int abi,
                             MissingPath missing) {
  UniqueFd root;
  if (!rules.root.empty()) {
    root.reset(open(rules.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid()) return ErrnoStatus(errno, absl::StrCat("open(", rules.root, ", O_PATH)"));
  }
  const uint64_t handled = HandledFsAccess(abi);
  struct Grant {
    const std::vector<std::string>* paths;
    uint64_t access;
  };
  for (const Grant& grant :
       {Grant{&rules.read_only, kReadOnlyAccess}, Grant{&rules.read_write, kReadWriteAccess},
        Grant{&rules.devices, kDeviceAccess},
        Grant{&rules.write_file, LANDLOCK_ACCESS_FS_WRITE_FILE}}) {
    for (const std::string& path : *grant.paths) {
      // Rights the ABI does not handle would make landlock_add_rule fail.
      RETURN_IF_ERROR(AddPathRule(ruleset_fd, root.get(), path, grant.access & handled, missing));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UniqueFd> BuildLandlockRuleset(const LandlockRules& rules, int abi,
                                              MissingPath missing) {
  if (abi < 1) {
    return absl::InvalidArgumentError(absl::StrCat("landlock ABI ", abi, " is not a valid ABI"));
  }
  RETURN_IF_ERROR(CheckPaths(rules));

  RulesetAttr attr = {};
  attr.handled_access_fs = HandledFsAccess(abi);
  if (!rules.allow_tcp) {
    // Silently leaving TCP open would be worse than refusing to run.
    if (HandledNetAccess(abi) == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("restricting TCP needs Landlock ABI 4; the ruleset is for ABI ", abi));
    }
    attr.handled_access_net = HandledNetAccess(abi);
  }
  if (rules.scope_signals_and_abstract_unix) attr.scoped = HandledScopes(abi);

  // O_CLOEXEC is implied: the kernel always creates the ruleset fd with it.
  long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0U);
  if (fd < 0) return ErrnoStatus(errno, "landlock_create_ruleset");
  UniqueFd ruleset(static_cast<int>(fd));
  RETURN_IF_ERROR(AddCheckedRules(ruleset.get(), rules, abi, missing));
  return ruleset;
}

absl::Status AddLandlockRules(int ruleset_fd, const LandlockRules& rules, int abi,
                              MissingPath missing) {
  if (abi < 1) {
    return absl::InvalidArgumentError(absl::StrCat("landlock ABI ", abi, " is not a valid ABI"));
  }
  RETURN_IF_ERROR(CheckPaths(rules));
  return AddCheckedRules(ruleset_fd, rules, abi, missing);
}

absl::Status RestrictSelf(int ruleset_fd) {
  if (syscall(SYS_landlock_restrict_self, ruleset_fd, 0U) != 0) {
    return ErrnoStatus(errno, "landlock_restrict_self");
  }
  return absl::OkStatus();
}

}  // namespace tether::policy
