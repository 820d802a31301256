#ifndef TETHER_BROKER_HOME_DIRECTORY_CACHE_H_
#define TETHER_BROKER_HOME_DIRECTORY_CACHE_H_

// The home directories for a server that launches for hours: looking them
// up walks the whole user database (and loads the name service's modules),
// too much for every launch, but a list kept for the server's lifetime
// would leave a user added later with a writable home. The list is looked
// up again
//   - when a file or directory the database is read from changed (passwd,
//     nsswitch.conf, systemd's userdb directories, extrausers);
//   - when a source changed within a timestamp tick of the last lookup (an
//     edit of the same size in that tick leaves the same stamp);
//   - when it is older than `max_age`: directory servers (LDAP, sssd), a
//     home replaced by a symlink and other changes no file stamp shows.
// A lookup that failed part way (an unreachable directory server) only
// adds homes: the ones it did not reach stay as they were.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "broker/working_directory.h"

namespace tether::broker {

class HomeDirectoryCache {
 public:
  // Where the name service modules glibc and systemd ship read users from.
  static std::vector<std::string> DefaultSources();
  static constexpr absl::Duration kDefaultMaxAge = absl::Seconds(1);

  // Filesystems stamp files from a coarse clock (one scheduler tick, up to
  // 10 ms): a change this close to a lookup may be one the stamp cannot
  // tell from a later one.
  static constexpr absl::Duration kDefaultTimestampTick = absl::Milliseconds(20);

  HomeDirectoryCache(std::vector<std::string> sources = DefaultSources(),
                     absl::Duration max_age = kDefaultMaxAge,
                     std::function<HomeDirectoryLookup()> look_up = LookUpHomeDirectories,
                     absl::Duration timestamp_tick = kDefaultTimestampTick);

  // Looks the homes up again where the list may be stale; returns whether
  // the list changed (the first lookup counts as a change). `now` is a
  // monotonic time (MonotonicNow), so that a wall clock stepped back
  // cannot postpone the next lookup.
  bool Refresh(absl::Duration now);
  static absl::Duration MonotonicNow();

  // Sorted, each once.
  const std::vector<std::string>& homes() const { return homes_; }
  const std::vector<std::string>& sources() const { return sources_; }

  // What stat says of one source; a missing one is stamped as missing.
  struct Stamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = -1;
    int64_t modified_ns = 0;
    int64_t changed_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  // What a settled lookup left, so that another process can go on from it
  // (cache/home_directories.h): the same checks then decide whether it
  // looks up again. Its monotonic time is comparable within one boot.
  struct Snapshot {
    std::vector<std::string> homes;
    std::vector<Stamp> stamps;  // one per source, in order
    absl::Duration looked_up;
  };
  // Nullopt before the first lookup and while the list is unsettled (a
  // source changed within a tick of the lookup): the next Refresh looks up.
  std::optional<Snapshot> snapshot() const;
  // Goes on from `snapshot` as if this cache had made it; its homes are
  // kept by a lookup that fails part way, as this cache's own would be.
  void Restore(Snapshot snapshot);

 private:
  std::vector<Stamp> StampSources() const;

  std::vector<std::string> sources_;
  absl::Duration max_age_;
  std::function<HomeDirectoryLookup()> look_up_;
  absl::Duration timestamp_tick_;

  std::vector<std::string> homes_;
  std::optional<std::vector<Stamp>> seen_;  // absent: look up at the next Refresh
  std::optional<absl::Duration> looked_up_;
};

}  // namespace tether::broker

#endif  // TETHER_BROKER_HOME_DIRECTORY_CACHE_H_
