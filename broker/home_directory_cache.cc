#include "broker/home_directory_cache.h"

#include <sys/stat.h>
#include <time.h>

#include <utility>

namespace tether::broker {
namespace {

int64_t Nanoseconds(const struct timespec& t) {
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// Filesystems stamp files from a coarse clock (one scheduler tick, up to
// 10 ms); a change this close to the lookup may be one the stamp cannot
// tell from a later one.
constexpr int64_t kTimestampTickNs = 20'000'000;

}  // namespace

std::vector<std::string> HomeDirectoryCache::DefaultSources() {
  return {"/etc/passwd",     "/etc/nsswitch.conf",        "/etc/userdb",
          "/run/userdb",     "/run/host/userdb",          "/usr/local/lib/userdb",
          "/usr/lib/userdb", "/var/lib/extrausers/passwd"};
}

HomeDirectoryCache::HomeDirectoryCache(std::vector<std::string> sources, absl::Duration max_age,
                                       std::function<HomeDirectoryLookup()> look_up)
    : sources_(std::move(sources)), max_age_(max_age), look_up_(std::move(look_up)) {}

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

bool HomeDirectoryCache::Refresh(absl::Time now) {
  std::vector<Stamp> stamps = StampSources();
  if (seen_ == stamps && now - looked_up_ < max_age_) return false;
  // Stamped before the lookup: a change during it shows at the next Refresh.
  struct timespec started;
  clock_gettime(CLOCK_REALTIME, &started);
  HomeDirectoryLookup lookup = look_up_();
  bool changed = looked_up_ == absl::InfinitePast() || lookup.homes != homes_;
  homes_ = std::move(lookup.homes);
  looked_up_ = now;
  seen_ = std::move(stamps);
  bool settled = lookup.complete;
  for (const Stamp& stamp : *seen_) {
    settled &= stamp.modified_ns < Nanoseconds(started) - kTimestampTickNs &&
               stamp.changed_ns < Nanoseconds(started) - kTimestampTickNs;
  }
  if (!settled) seen_.reset();
  return changed;
}

}  // namespace tether::broker
