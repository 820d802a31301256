#ifndef TETHER_BROKER_WORKING_DIRECTORY_H_
#define TETHER_BROKER_WORKING_DIRECTORY_H_

// The working directory is made writable for the workload unless that would
// open much more than a project: the root, system directories, a home
// directory (rc files, ~/.ssh) or an ancestor of one. The decision is made on
// the canonical path, so "/." or a symlink to ~ cannot slip past it.

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tether::broker {

// Resolves `path` through an fd (O_PATH), as the kernel sees it.
absl::StatusOr<std::string> CanonicalDirectory(const std::string& path);

// "/a//b/./c/../d" -> "/a/b/d": for a sidecar stub's path, which names a
// file in the stub's root rather than the broker's.
std::string NormalizeLexically(const std::string& path);

// Whether `path` is `tree` or lies inside it ("/" holds every path); both
// absolute and normalised.
bool IsUnderPath(const std::string& path, const std::string& tree);

struct HomeDirectoryLookup {
  std::vector<std::string> homes;
  // The database was read to its end: a name service that failed part way
  // (an unreachable directory server) leaves this false.
  bool complete = true;
};
// The passwd database's homes and $HOME, canonical where they exist.
HomeDirectoryLookup LookUpHomeDirectories();
// The passwd database's homes alone: what may be kept for other processes,
// whose $HOME differs.
HomeDirectoryLookup LookUpUserDatabaseHomes();
// `home` canonical where it exists, lexically normalised otherwise; nothing
// for an empty or relative one.
void AddHomeDirectory(const char* home, std::vector<std::string>* homes);

struct WorkingDirectoryAccess {
  bool writable = true;
  std::string why_read_only;  // when not writable: what the directory is
};

// `canonical` is the working directory; `policy_read_write` the paths the
// policy itself lists as read-write (they win: the user asked).
WorkingDirectoryAccess DecideWorkingDirectoryAccess(
    const std::string& canonical, const std::vector<std::string>& home_directories,
    const std::vector<std::string>& policy_read_write);

// The same, and then by inode: the root, a system directory or a home
// reached through a bind mount under another name is refused too. For the
// broker's own filesystem (local mode).
WorkingDirectoryAccess DecideWorkingDirectoryAccessOnDisk(
    const std::string& canonical, const std::vector<std::string>& home_directories,
    const std::vector<std::string>& policy_read_write);

}  // namespace tether::broker

#endif  // TETHER_BROKER_WORKING_DIRECTORY_H_
