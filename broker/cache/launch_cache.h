#ifndef TETHER_BROKER_CACHE_LAUNCH_CACHE_H_
#define TETHER_BROKER_CACHE_LAUNCH_CACHE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ipc/unique_fd.h"

namespace tether::broker {

// A directory of results kept across runs (host probes, compiled seccomp
// programs, as crun keeps its compiled filters), so that a launch does not
// redo them while nothing they depend on changed.
//
// Where only the broker's uid can write: the directory must be the broker's
// euid's, a real directory (not a link), and neither group- nor
// world-writable; each file likewise its own and not writable by others.
// Anything else is not read. Each file is a cache.capnp Entry whose key is
// compared in full, so a stale file (another boot, kernel, broker binary,
// identity or policy) is a miss. What the cache holds only ever saves work:
// its users re-check anything that could weaken a decision.
//
// Bounded: each broker binary, boot and policy has entries of its own, and
// those of a binary since replaced are never asked for again. A write that
// leaves more than kMaxEntries removes the oldest written (and any
// temporary a crashed writer left), so that /run, which is memory, does not
// fill up over upgrades and rebuilds.
class LaunchCache {
 public:
  static constexpr size_t kMaxEntries = 512;
  // What a write that finds too many leaves: room for kMaxEntries / 4 more
  // writes before the directory is sorted again.
  static constexpr size_t kEntriesAfterPruning = kMaxEntries * 3 / 4;

  // $TETHER_CACHE_DIR ("off": no cache); else /run/tether for root, or
  // $XDG_RUNTIME_DIR/tether. The directory is made (0700) when missing.
  // An error says why there is no usable cache (launches then redo the work).
  static absl::StatusOr<LaunchCache> Open();
  static absl::StatusOr<LaunchCache> OpenAt(const std::string& directory);

  // The payload stored for `key`; nullopt when missing, not the broker's,
  // writable by others, unreadable, or stored for another key.
  std::optional<std::string> Read(absl::string_view key) const;
  // Replaces the entry for `key` atomically (a new file renamed over it),
  // then prunes the directory when it holds more than kMaxEntries.
  absl::Status Write(absl::string_view key, absl::string_view payload) const;
  // Removes the entry for `key` (a result found wrong).
  void Remove(absl::string_view key) const;

  // The file that holds `key`'s entry, for reports.
  std::string PathFor(absl::string_view key) const;
  const std::string& directory() const { return directory_; }

 private:
  LaunchCache(std::string directory, UniqueFd fd)
      : directory_(std::move(directory)), fd_(std::move(fd)) {}
  static std::string FileName(absl::string_view key);
  void Prune() const;

  std::string directory_;
  UniqueFd fd_;
};

// What every cached result depends on about this boot, kernel and broker:
// the boot id, the kernel release and version, and the broker binary
// (device, inode, size, modification and change times of /proc/self/exe).
// Computed once per process.
const std::string& HostAndBrokerKey();

}  // namespace tether::broker

#endif  // TETHER_BROKER_CACHE_LAUNCH_CACHE_H_
