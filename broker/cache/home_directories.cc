#include "broker/cache/home_directories.h"

#include <stdlib.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker/cache/cache.capnp.h"
#include "capnp/message.h"
#include "capnp/serialize.h"
#include "kj/array.h"

namespace tether::broker {
namespace {

// The list depends on the database's sources, read by this broker binary
// on this boot (the monotonic times compare only within it).
std::string HomesKey(const std::vector<std::string>& sources) {
  return absl::StrCat("home directories v1\n", HostAndBrokerKey(), "sources ",
                      absl::StrJoin(sources, ","), "\n");
}

std::optional<HomeDirectoryCache::Snapshot> Decode(const std::string& payload) {
  if (payload.empty() || payload.size() % sizeof(capnp::word) != 0) return std::nullopt;
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(payload.size() / sizeof(capnp::word));
  memcpy(words.begin(), payload.data(), payload.size());
  try {
    capnp::FlatArrayMessageReader message(words);
    auto stored = message.getRoot<cache::HomeDirectories>();
    HomeDirectoryCache::Snapshot snapshot;
    for (auto home : stored.getHomes()) {
      std::string path = home.cStr();
      if (path.empty() || path[0] != '/') return std::nullopt;
      snapshot.homes.push_back(std::move(path));
    }
    for (auto stamp : stored.getStamps()) {
      snapshot.stamps.push_back(
          {static_cast<dev_t>(stamp.getDevice()), static_cast<ino_t>(stamp.getInode()),
           static_cast<off_t>(stamp.getSize()), stamp.getModifiedNs(), stamp.getChangedNs()});
    }
    snapshot.looked_up = absl::Nanoseconds(stored.getLookedUpNs());
    return snapshot;
  } catch (const kj::Exception&) {
    return std::nullopt;
  }
}

std::string Encode(const HomeDirectoryCache::Snapshot& snapshot) {
  capnp::MallocMessageBuilder message;
  auto stored = message.initRoot<cache::HomeDirectories>();
  auto homes = stored.initHomes(snapshot.homes.size());
  for (size_t i = 0; i < snapshot.homes.size(); ++i) homes.set(i, snapshot.homes[i]);
  auto stamps = stored.initStamps(snapshot.stamps.size());
  for (size_t i = 0; i < snapshot.stamps.size(); ++i) {
    const HomeDirectoryCache::Stamp& stamp = snapshot.stamps[i];
    stamps[i].setDevice(stamp.device);
    stamps[i].setInode(stamp.inode);
    stamps[i].setSize(stamp.size);
    stamps[i].setModifiedNs(stamp.modified_ns);
    stamps[i].setChangedNs(stamp.changed_ns);
  }
  stored.setLookedUpNs(absl::ToInt64Nanoseconds(snapshot.looked_up));
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  kj::ArrayPtr<const char> bytes = words.asChars();
  return std::string(bytes.begin(), bytes.size());
}

}  // namespace

std::vector<std::string> UserDatabaseHomesThroughCache(const LaunchCache* cache,
                                                       HomeDirectoryCache* homes,
                                                       absl::Duration now) {
  const std::string key = HomesKey(homes->sources());
  std::optional<absl::Duration> restored_at;
  if (cache != nullptr) {
    if (std::optional<std::string> payload = cache->Read(key); payload.has_value()) {
      if (std::optional<HomeDirectoryCache::Snapshot> snapshot = Decode(*payload)) {
        restored_at = snapshot->looked_up;
        homes->Restore(std::move(*snapshot));
      }
    }
  }
  homes->Refresh(now);
  std::optional<HomeDirectoryCache::Snapshot> settled = homes->snapshot();
  if (cache != nullptr && settled.has_value() && settled->looked_up != restored_at) {
    cache->Write(key, Encode(*settled)).IgnoreError();  // the next run looks up again
  }
  return homes->homes();
}

std::vector<std::string> CachedHomeDirectories() {
  absl::StatusOr<LaunchCache> cache = LaunchCache::Open();
  HomeDirectoryCache database(HomeDirectoryCache::DefaultSources(),
                              HomeDirectoryCache::kDefaultMaxAge, LookUpUserDatabaseHomes);
  std::vector<std::string> homes = UserDatabaseHomesThroughCache(
      cache.ok() ? &*cache : nullptr, &database, HomeDirectoryCache::MonotonicNow());
  AddHomeDirectory(getenv("HOME"), &homes);
  return homes;
}

}  // namespace tether::broker
