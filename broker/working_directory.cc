#include "broker/working_directory.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "ipc/unique_fd.h"

namespace tether::broker {
namespace {

// Never made writable implicitly, nor anything below them.
constexpr const char* kSystemTrees[] = {"/etc", "/usr",  "/boot", "/dev",   "/proc",  "/sys",
                                        "/bin", "/sbin", "/lib",  "/lib32", "/lib64", "/libx32"};
// Never made writable implicitly themselves (their subdirectories may be
// a project's).
constexpr const char* kSystemDirectories[] = {"/var", "/run", "/root", "/home",
                                              "/opt", "/srv", "/mnt",  "/media"};

}  // namespace

absl::StatusOr<std::string> CanonicalDirectory(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    return ErrnoStatus(errno, absl::StrCat("the working directory: open(", path, ")"));
  }
  char resolved[PATH_MAX];
  std::string link = absl::StrCat("/proc/self/fd/", fd.get());
  ssize_t length = readlink(link.c_str(), resolved, sizeof(resolved) - 1);
  if (length <= 0) {
    return ErrnoStatus(errno, absl::StrCat("the working directory: readlink(", link, ")"));
  }
  std::string canonical(resolved, length);
  if (canonical.empty() || canonical[0] != '/') {
    return absl::FailedPreconditionError(absl::StrCat(
        "the working directory ", path, " is outside the broker's root (", canonical, ")"));
  }
  return canonical;
}

std::string NormalizeLexically(const std::string& path) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.emplace_back(part);
  }
  return "/" + absl::StrJoin(parts, "/");
}

bool IsUnderPath(const std::string& path, const std::string& tree) {
  return path == tree ||
         (absl::StartsWith(path, tree) && (tree == "/" || path[tree.size()] == '/'));
}

void AddHomeDirectory(const char* home, std::vector<std::string>* homes) {
  if (home == nullptr || home[0] != '/') return;
  char resolved[PATH_MAX];
  homes->push_back(realpath(home, resolved) != nullptr ? std::string(resolved)
                                                       : NormalizeLexically(home));
}

HomeDirectoryLookup LookUpUserDatabaseHomes() {
  HomeDirectoryLookup lookup;
  setpwent();
  // getpwent_r says why it stopped (ENOENT: the end), where getpwent
  // leaves errno to whatever the name service's modules last set.
  std::vector<char> buffer(16 << 10);
  while (true) {
    struct passwd entry;
    struct passwd* found = nullptr;
    int error = getpwent_r(&entry, buffer.data(), buffer.size(), &found);
    if (error == ERANGE && buffer.size() < (1 << 20)) {
      buffer.resize(buffer.size() * 4);  // the same entry again, with room
      continue;
    }
    if (error != 0 || found == nullptr) {
      lookup.complete = error == ENOENT || (error == 0 && found == nullptr);
      break;
    }
    AddHomeDirectory(found->pw_dir, &lookup.homes);
  }
  endpwent();
  return lookup;
}

HomeDirectoryLookup LookUpHomeDirectories() {
  HomeDirectoryLookup lookup = LookUpUserDatabaseHomes();
  AddHomeDirectory(std::getenv("HOME"), &lookup.homes);
  return lookup;
}

WorkingDirectoryAccess DecideWorkingDirectoryAccess(
    const std::string& canonical, const std::vector<std::string>& home_directories,
    const std::vector<std::string>& policy_read_write) {
  for (const std::string& listed : policy_read_write) {
    if (NormalizeLexically(listed) == canonical) return {};
  }
  if (canonical == "/") return {false, "the root directory"};
  for (const char* tree : kSystemTrees) {
    if (IsUnderPath(canonical, tree))
      return {false, absl::StrCat("under the system directory ", tree)};
  }
  for (const char* directory : kSystemDirectories) {
    if (canonical == directory) return {false, "a system directory"};
  }
  for (const std::string& home : home_directories) {
    if (home == "/") continue;  // the root is decided above
    if (canonical == home) return {false, "a home directory"};
    if (absl::StartsWith(home, canonical + "/")) {
      return {false, absl::StrCat("an ancestor of the home directory ", home)};
    }
    // ~/.ssh, ~/.config, ~/.local/bin: what the user's own programs trust.
    if (absl::StartsWith(canonical, home + "/.")) {
      return {false, absl::StrCat("a hidden directory of the home ", home)};
    }
  }
  return {};
}

WorkingDirectoryAccess DecideWorkingDirectoryAccessOnDisk(
    const std::string& canonical, const std::vector<std::string>& home_directories,
    const std::vector<std::string>& policy_read_write) {
  WorkingDirectoryAccess by_name =
      DecideWorkingDirectoryAccess(canonical, home_directories, policy_read_write);
  if (!by_name.writable) return by_name;
  for (const std::string& listed : policy_read_write) {
    if (NormalizeLexically(listed) == canonical) return by_name;
  }
  // Landlock grants the inode, not the name: a bind mount of the root or of
  // a home elsewhere is still the root or that home.
  struct stat here;
  if (stat(canonical.c_str(), &here) != 0) return by_name;
  auto same = [&here](const std::string& path) {
    struct stat there;
    return stat(path.c_str(), &there) == 0 && there.st_dev == here.st_dev &&
           there.st_ino == here.st_ino;
  };
  if (same("/")) return {false, "the root directory, mounted elsewhere"};
  for (const char* directory : kSystemDirectories) {
    if (same(directory))
      return {false, absl::StrCat("the system directory ", directory, ", mounted elsewhere")};
  }
  for (const char* tree : kSystemTrees) {
    if (same(tree))
      return {false, absl::StrCat("the system directory ", tree, ", mounted elsewhere")};
  }
  for (const std::string& home : home_directories) {
    if (same(home))
      return {false, absl::StrCat("the home directory ", home, ", mounted elsewhere")};
  }
  return by_name;
}

}  // namespace tether::broker
