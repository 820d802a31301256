#ifndef TETHER_BROKER_CACHE_HOME_DIRECTORIES_H_
#define TETHER_BROKER_CACHE_HOME_DIRECTORIES_H_

// The host's home directories for `tether run`, kept across runs. Walking
// the user database loads the name service's modules in every fresh broker
// (about 2 ms of a run on a VM where page faults are dear), while a burst
// of runs (a build's actions, an agent's commands) finds it unchanged. The
// launch cache keeps what a HomeDirectoryCache in a server would keep, and
// the same rules decide when it is looked up again: a source of the
// database changed, changed within a tick of the lookup, or the list is a
// second old. So a run trusts a list no staler than a server's launch
// does. The cache is the broker's uid's alone (launch_cache.h); an entry
// that does not decode, or a key that differs, is a miss.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "broker/cache/launch_cache.h"
#include "broker/home_directory_cache.h"

namespace tether::broker {

// The user database's homes through `cache` (Restore, Refresh at `now`,
// the entry rewritten when it looked up). `cache` may be null: no cache.
std::vector<std::string> UserDatabaseHomesThroughCache(const LaunchCache* cache,
                                                       HomeDirectoryCache* homes,
                                                       absl::Duration now);

// The launch cache's (LaunchCache::Open) user database homes, and $HOME.
std::vector<std::string> CachedHomeDirectories();

}  // namespace tether::broker

#endif  // TETHER_BROKER_CACHE_HOME_DIRECTORIES_H_
