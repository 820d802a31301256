#include "broker/cache/launch_cache.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "base/status.h"
#include "broker/cache/cache.capnp.h"

namespace tether::broker {
namespace {

// An entry is small (a compiled filter is at most 4096 instructions).
constexpr size_t kMaxEntryBytes = 256 * 1024;

// Mode bits that would let another uid write.
constexpr mode_t kWritableByOthers = S_IWGRP | S_IWOTH;

absl::Status CheckOwnedAndPrivate(const struct stat& st, const std::string& what) {
  if (st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, " belongs to uid ", st.st_uid, ", not to the broker's uid ", geteuid()));
  }
  if ((st.st_mode & kWritableByOthers) != 0) {
    return absl::PermissionDeniedError(
        absl::StrFormat("%s is writable by others (mode %04o)", what, st.st_mode & 07777));
  }
  return absl::OkStatus();
}

// FNV-1a: a stable spread of keys over file names. The key inside the file
// decides a hit, so a collision is only a miss.
uint64_t Fnv1a(absl::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string DefaultDirectory() {
  if (const char* chosen = getenv("TETHER_CACHE_DIR"); chosen != nullptr) return chosen;
  if (geteuid() == 0) return "/run/tether";
  const char* runtime = getenv("XDG_RUNTIME_DIR");
  return runtime != nullptr && runtime[0] == '/' ? absl::StrCat(runtime, "/tether") : "";
}

}  // namespace

absl::StatusOr<LaunchCache> LaunchCache::Open() { return OpenAt(DefaultDirectory()); }

absl::StatusOr<LaunchCache> LaunchCache::OpenAt(const std::string& directory) {
  if (directory.empty() || directory == "off") {
    return absl::NotFoundError("no launch cache (TETHER_CACHE_DIR=off, or no XDG_RUNTIME_DIR)");
  }
  if (directory[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("the launch cache directory must be absolute: ", directory));
  }
  if (mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("mkdir(", directory, ")"));
  }
  UniqueFd fd(open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open(", directory, ")"));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("fstat(", directory, ")"));
  RETURN_IF_ERROR(CheckOwnedAndPrivate(st, absl::StrCat("the launch cache ", directory)));
  return LaunchCache(directory, std::move(fd));
}

std::string LaunchCache::FileName(absl::string_view key) {
  return absl::StrFormat("%016x.entry", Fnv1a(key));
}

std::string LaunchCache::PathFor(absl::string_view key) const {
  return absl::StrCat(directory_, "/", FileName(key));
}

std::optional<std::string> LaunchCache::Read(absl::string_view key) const {
  UniqueFd file(openat(fd_.get(), FileName(key).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!file.valid()) return std::nullopt;
  struct stat st;
  if (fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      !CheckOwnedAndPrivate(st, "entry").ok() || st.st_size <= 0 ||
      static_cast<size_t>(st.st_size) > kMaxEntryBytes || st.st_size % sizeof(capnp::word) != 0) {
    return std::nullopt;
  }
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(st.st_size / sizeof(capnp::word));
  if (!ReadFullyFromStart(file.get(), words.begin(), words.asBytes().size(), "launch cache entry")
           .ok()) {
    return std::nullopt;
  }
  // Garbage (a torn or tampered file) is a miss, never a crash.
  std::optional<std::string> payload;
  kj::runCatchingExceptions([&] {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = words.size();
    options.nestingLimit = 8;
    capnp::FlatArrayMessageReader reader(words, options);
    auto entry = reader.getRoot<cache::Entry>();
    capnp::Text::Reader stored = entry.getKey();
    if (absl::string_view(stored.cStr(), stored.size()) != key) return;
    auto data = entry.getPayload();
    payload = std::string(reinterpret_cast<const char*>(data.begin()), data.size());
  });
  return payload;
}

absl::Status LaunchCache::Write(absl::string_view key, absl::string_view payload) const {
  capnp::MallocMessageBuilder message;
  auto entry = message.initRoot<cache::Entry>();
  std::string key_text(key);
  entry.setKey(key_text.c_str());
  entry.setPayload(kj::arrayPtr(reinterpret_cast<const kj::byte*>(payload.data()), payload.size()));
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  // A private name, then an atomic rename: a reader sees the old entry or
  // the new one, never half of one.
  std::string temporary = absl::StrCat(".", FileName(key), ".", getpid());
  UniqueFd file(openat(fd_.get(), temporary.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!file.valid()) return ErrnoStatus(errno, absl::StrCat("open(", temporary, ")"));
  auto bytes = words.asBytes();
  if (absl::Status written = WriteFully(
          file.get(), absl::string_view(reinterpret_cast<const char*>(bytes.begin()), bytes.size()),
          "launch cache entry");
      !written.ok()) {
    unlinkat(fd_.get(), temporary.c_str(), 0);
    return written;
  }
  if (renameat(fd_.get(), temporary.c_str(), fd_.get(), FileName(key).c_str()) != 0) {
    absl::Status failed = ErrnoStatus(errno, absl::StrCat("rename(", temporary, ")"));
    unlinkat(fd_.get(), temporary.c_str(), 0);
    return failed;
  }
  Prune();
  return absl::OkStatus();
}

namespace {

// "<16 hex digits>.entry", as FileName makes them.
bool IsEntryName(absl::string_view name) {
  constexpr absl::string_view kSuffix = ".entry";
  if (name.size() != 16 + kSuffix.size() || !absl::EndsWith(name, kSuffix)) return false;
  return std::all_of(name.begin(), name.begin() + 16,
                     [](char c) { return absl::ascii_isxdigit(c); });
}

// ".<entry name>.<pid>", a Write's temporary.
bool IsTemporaryName(absl::string_view name) {
  constexpr size_t kEntryName = 22;
  return absl::ConsumePrefix(&name, ".") && name.size() > kEntryName + 1 &&
         IsEntryName(name.substr(0, kEntryName)) && name[kEntryName] == '.';
}

// A temporary older than this was left by a writer that died before its
// rename (a live one renames within microseconds).
constexpr int64_t kAbandonedTemporarySeconds = 600;

}  // namespace

// Only names this class makes are ever removed, and only by unlinkat in
// the directory it holds open: nothing is followed, nothing else touched.
// Failures are ignored: pruning only ever saves space.
void LaunchCache::Prune() const {
  // Counting needs no stat: the sort below runs only when there are too many.
  // A description of its own (a dup would share, and leave, the offset).
  int listed = openat(fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listed < 0) return;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(fdopendir(listed), closedir);
  if (dir == nullptr) {
    close(listed);
    return;
  }
  std::vector<std::string> entries;
  std::vector<std::string> temporaries;
  while (struct dirent* found = readdir(dir.get())) {
    absl::string_view name = found->d_name;
    if (IsEntryName(name)) {
      entries.emplace_back(name);
    } else if (IsTemporaryName(name)) {
      temporaries.emplace_back(name);
    }
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  for (const std::string& name : temporaries) {
    struct stat st;
    if (fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        now.tv_sec - st.st_mtim.tv_sec > kAbandonedTemporarySeconds) {
      unlinkat(fd_.get(), name.c_str(), 0);
    }
  }
  if (entries.size() <= kMaxEntries) return;
  struct Written {
    struct timespec when;
    const std::string* name;
  };
  std::vector<Written> written;
  written.reserve(entries.size());
  for (const std::string& name : entries) {
    struct stat st;
    // Gone meanwhile (another broker pruned it): nothing to do.
    if (fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      written.push_back({st.st_mtim, &name});
    }
  }
  if (written.size() <= kEntriesAfterPruning) return;
  auto older = [](const Written& a, const Written& b) {
    return a.when.tv_sec != b.when.tv_sec ? a.when.tv_sec < b.when.tv_sec
                                          : a.when.tv_nsec < b.when.tv_nsec;
  };
  size_t excess = written.size() - kEntriesAfterPruning;
  std::nth_element(written.begin(), written.begin() + excess, written.end(), older);
  for (size_t i = 0; i < excess; ++i) unlinkat(fd_.get(), written[i].name->c_str(), 0);
}

void LaunchCache::Remove(absl::string_view key) const {
  unlinkat(fd_.get(), FileName(key).c_str(), 0);
}

namespace {

std::string ComputeHostAndBrokerKey() {
  std::string key;
  absl::StatusOr<std::string> boot = ReadSmallFile("/proc/sys/kernel/random/boot_id");
  absl::StrAppend(&key, "boot ", boot.ok() ? absl::StripAsciiWhitespace(*boot) : "unknown", "\n");
  struct utsname name;
  if (uname(&name) == 0) absl::StrAppend(&key, "kernel ", name.release, " ", name.version, "\n");
  struct stat exe;
  if (stat("/proc/self/exe", &exe) == 0) {
    absl::StrAppend(&key, "broker ", exe.st_dev, ":", exe.st_ino, " size ", exe.st_size, " mtime ",
                    exe.st_mtim.tv_sec, ".", exe.st_mtim.tv_nsec, " ctime ", exe.st_ctim.tv_sec,
                    ".", exe.st_ctim.tv_nsec, "\n");
  } else {
    // Without a way to tell this broker from the next, nothing is shared.
    absl::StrAppend(&key, "broker unknown pid ", getpid(), "\n");
  }
  return key;
}

}  // namespace

// None of it changes while the process lives; each cached result asks.
const std::string& HostAndBrokerKey() {
  static const std::string* key = new std::string(ComputeHostAndBrokerKey());
  return *key;
}

}  // namespace tether::broker
