#include "broker/home_directory_cache.h"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <utility>

namespace tether::broker {
namespace {

int64_t Nanoseconds(const struct timespec& t) {
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

}  // namespace

std::vector<std::string> HomeDirectoryCache::DefaultSources() {
  return {"/etc/passwd",     "/etc/nsswitch.conf",        "/etc/userdb",
          "/run/userdb",     "/run/host/userdb",          "/usr/local/lib/userdb",
          "/usr/lib/userdb", "/var/lib/extrausers/passwd"};
}

HomeDirectoryCache::HomeDirectoryCache(std::vector<std::string> sources, absl::Duration max_age,
                                       std::function<HomeDirectoryLookup()> look_up,
                                       absl::Duration timestamp_tick)
    : sources_(std::move(sources)),
      max_age_(max_age),
      look_up_(std::move(look_up)),
      timestamp_tick_(timestamp_tick) {}

absl::Duration HomeDirectoryCache::MonotonicNow() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return absl::DurationFromTimespec(now);
}

std::vector<HomeDirectoryCache::Stamp> HomeDirectoryCache::StampSources() const {
  std::vector<Stamp> stamps;
  stamps.reserve(sources_.size());
  for (const std::string& source : sources_) {
    struct stat st;
    if (stat(source.c_str(), &st) != 0) {
      stamps.push_back({});
      continue;
    }
    stamps.push_back(
        {st.st_dev, st.st_ino, st.st_size, Nanoseconds(st.st_mtim), Nanoseconds(st.st_ctim)});
  }
  return stamps;
}

std::optional<HomeDirectoryCache::Snapshot> HomeDirectoryCache::snapshot() const {
  if (!seen_.has_value() || !looked_up_.has_value()) return std::nullopt;
  return Snapshot{homes_, *seen_, *looked_up_};
}

void HomeDirectoryCache::Restore(Snapshot snapshot) {
  homes_ = std::move(snapshot.homes);
  std::sort(homes_.begin(), homes_.end());
  homes_.erase(std::unique(homes_.begin(), homes_.end()), homes_.end());
  seen_ = std::move(snapshot.stamps);
  looked_up_ = snapshot.looked_up;
}

bool HomeDirectoryCache::Refresh(absl::Duration now) {
  std::vector<Stamp> stamps = StampSources();
  if (seen_ == stamps && looked_up_.has_value() && now >= *looked_up_ &&
      now - *looked_up_ < max_age_) {
    return false;
  }
  // Stamped before the lookup: a change during it shows at the next Refresh.
  struct timespec started;
  clock_gettime(CLOCK_REALTIME, &started);
  HomeDirectoryLookup lookup = look_up_();
  std::vector<std::string> homes = std::move(lookup.homes);
  if (!lookup.complete) homes.insert(homes.end(), homes_.begin(), homes_.end());
  std::sort(homes.begin(), homes.end());
  homes.erase(std::unique(homes.begin(), homes.end()), homes.end());
  bool changed = !looked_up_.has_value() || homes != homes_;
  homes_ = std::move(homes);
  looked_up_ = now;
  seen_ = std::move(stamps);
  // Unsettled: a source stamped within a tick either side of the lookup.
  // One stamped later than that (a clock stepped back, a time kept by a
  // package manager) is left to the age limit, or every Refresh would
  // look up again.
  const int64_t tick = absl::ToInt64Nanoseconds(timestamp_tick_);
  const int64_t lookup_ns = Nanoseconds(started);
  auto near_lookup = [&](int64_t stamp_ns) {
    return stamp_ns >= lookup_ns - tick && stamp_ns <= lookup_ns + tick;
  };
  for (const Stamp& stamp : *seen_) {
    if (near_lookup(stamp.modified_ns) || near_lookup(stamp.changed_ns)) {
      seen_.reset();
      break;
    }
  }
  return changed;
}

}  // namespace tether::broker
