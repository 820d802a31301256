#include "broker/cache/launch_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::broker {
namespace {

using ::tether::testing::ScopedTempDir;

constexpr uid_t kOtherUid = 1000;

TEST(LaunchCacheTest, WhatIsWrittenIsReadBackForTheSameKeyOnly) {
  ScopedTempDir parent;
  absl::StatusOr<LaunchCache> cache = LaunchCache::OpenAt(parent.Child("cache"));
  ASSERT_TRUE(cache.ok()) << cache.status();
  ASSERT_TRUE(cache->Write("key one", std::string("payload\0bytes", 13)).ok());
  EXPECT_EQ(cache->Read("key one"), std::string("payload\0bytes", 13));
  EXPECT_EQ(cache->Read("key two"), std::nullopt);
  // Made private: only the broker's uid may write, or even list it.
  struct stat st;
  ASSERT_EQ(stat(parent.Child("cache").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(cache->PathFor("key one").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  cache->Remove("key one");
  EXPECT_EQ(cache->Read("key one"), std::nullopt);
}

// A file renamed over another's entry (same name, other key) is a miss.
TEST(LaunchCacheTest, AnEntryStoredForAnotherKeyIsAMiss) {
  ScopedTempDir parent;
  absl::StatusOr<LaunchCache> cache = LaunchCache::OpenAt(parent.path());
  ASSERT_TRUE(cache.ok()) << cache.status();
  ASSERT_TRUE(cache->Write("boot A", "facts of boot A").ok());
  ASSERT_EQ(rename(cache->PathFor("boot A").c_str(), cache->PathFor("boot B").c_str()), 0);
  EXPECT_EQ(cache->Read("boot B"), std::nullopt);
}

struct Tamper {
  const char* name;
  void (*apply)(const std::string& path);
};

class TamperedEntryTest : public ::testing::TestWithParam<Tamper> {};

TEST_P(TamperedEntryTest, IsNeverRead) {
  ScopedTempDir parent;
  absl::StatusOr<LaunchCache> cache = LaunchCache::OpenAt(parent.path());
  ASSERT_TRUE(cache.ok()) << cache.status();
  ASSERT_TRUE(cache->Write("the key", "the payload").ok());
  GetParam().apply(cache->PathFor("the key"));
  EXPECT_EQ(cache->Read("the key"), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(
    LaunchCacheTest, TamperedEntryTest,
    ::testing::Values(
        Tamper{"OwnedByAnotherUid",
               [](const std::string& path) { ASSERT_EQ(chown(path.c_str(), kOtherUid, -1), 0); }},
        Tamper{"GroupWritable",
               [](const std::string& path) { ASSERT_EQ(chmod(path.c_str(), 0620), 0); }},
        Tamper{"ASymlinkToAnotherEntry",
               [](const std::string& path) {
                 std::string elsewhere = path + ".real";
                 ASSERT_EQ(rename(path.c_str(), elsewhere.c_str()), 0);
                 ASSERT_EQ(symlink(elsewhere.c_str(), path.c_str()), 0);
               }},
        Tamper{"Garbage",
               [](const std::string& path) {
                 std::ofstream(path, std::ios::trunc) << std::string(64, '\xff');
               }},
        Tamper{"Truncated",
               [](const std::string& path) { ASSERT_EQ(truncate(path.c_str(), 8), 0); }},
        Tamper{"Empty", [](const std::string& path) { ASSERT_EQ(truncate(path.c_str(), 0), 0); }}),
    [](const ::testing::TestParamInfo<Tamper>& info) { return info.param.name; });

TEST(LaunchCacheTest, ADirectoryOthersCouldWriteIsRefused) {
  ScopedTempDir parent;
  std::string shared = parent.Child("shared");
  ASSERT_EQ(mkdir(shared.c_str(), 0777), 0);
  ASSERT_EQ(chmod(shared.c_str(), 01777), 0);
  absl::StatusOr<LaunchCache> cache = LaunchCache::OpenAt(shared);
  ASSERT_FALSE(cache.ok());
  EXPECT_NE(cache.status().message().find("writable by others"), absl::string_view::npos)
      << cache.status();
}

TEST(LaunchCacheTest, ADirectoryOfAnotherUidIsRefused) {
  ScopedTempDir parent;
  std::string theirs = parent.Child("theirs");
  ASSERT_EQ(mkdir(theirs.c_str(), 0700), 0);
  ASSERT_EQ(chown(theirs.c_str(), kOtherUid, kOtherUid), 0);
  absl::StatusOr<LaunchCache> cache = LaunchCache::OpenAt(theirs);
  ASSERT_FALSE(cache.ok());
  EXPECT_NE(cache.status().message().find("belongs to uid 1000"), absl::string_view::npos)
      << cache.status();
}

TEST(LaunchCacheTest, ASymlinkedDirectoryIsRefused) {
  ScopedTempDir parent;
  std::string real = parent.Child("real");
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(symlink(real.c_str(), parent.Child("link").c_str()), 0);
  absl::StatusOr<LaunchCache> cache = LaunchCache::OpenAt(parent.Child("link"));
  ASSERT_FALSE(cache.ok());
  EXPECT_NE(cache.status().message().find("Not a directory"), absl::string_view::npos)
      << cache.status();
}

// Names in `directory`, "." and ".." left out.
std::vector<std::string> Listing(const std::string& directory) {
  std::vector<std::string> names;
  DIR* dir = opendir(directory.c_str());
  if (dir == nullptr) return names;
  while (struct dirent* found = readdir(dir)) {
    std::string name = found->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  return names;
}

void SetModificationTime(const std::string& path, time_t seconds) {
  struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

// Entries of binaries since replaced are never read again: without a
// bound, every rebuild or upgrade would leave its entries in /run for good.
TEST(LaunchCacheTest, AWriteBeyondTheBoundRemovesTheOldestWritten) {
  ScopedTempDir parent;
  absl::StatusOr<LaunchCache> cache = LaunchCache::OpenAt(parent.path());
  ASSERT_TRUE(cache.ok()) << cache.status();
  constexpr size_t kFull = LaunchCache::kMaxEntries;
  for (size_t i = 0; i < kFull; ++i) {
    std::string key = absl::StrCat("key ", i);
    ASSERT_TRUE(cache->Write(key, "payload").ok());
    // Key i written at second 1000 + i, in the order of the keys.
    SetModificationTime(cache->PathFor(key), 1000 + i);
  }
  EXPECT_EQ(Listing(parent.path()).size(), kFull) << "pruned before the bound";
  ASSERT_TRUE(cache->Write("the newest", "payload").ok());

  EXPECT_EQ(Listing(parent.path()).size(), LaunchCache::kEntriesAfterPruning);
  EXPECT_EQ(cache->Read("the newest"), "payload");
  size_t removed = kFull + 1 - LaunchCache::kEntriesAfterPruning;
  for (size_t i = 0; i < kFull; ++i) {
    std::string key = absl::StrCat("key ", i);
    EXPECT_EQ(cache->Read(key).has_value(), i >= removed) << key;
  }
}

TEST(LaunchCacheTest, PruningRemovesAbandonedTemporariesAndNothingElse) {
  ScopedTempDir parent;
  absl::StatusOr<LaunchCache> cache = LaunchCache::OpenAt(parent.path());
  ASSERT_TRUE(cache.ok()) << cache.status();
  std::string entry_name = cache->PathFor("k").substr(parent.path().size() + 1);
  // A writer that died an hour ago, one under way now, and files the
  // cache never made (whatever their names look like).
  std::string abandoned = absl::StrCat(".", entry_name, ".4242");
  std::string under_way = absl::StrCat(".", entry_name, ".4343");
  std::vector<std::string> foreign = {"notes.txt", "0123.entry", ".hidden",
                                      absl::StrCat(entry_name, ".bak")};
  for (const std::string& name : std::vector<std::string>{abandoned, under_way}) {
    std::ofstream(parent.Child(name)) << "half";
  }
  for (const std::string& name : foreign) std::ofstream(parent.Child(name)) << "theirs";
  SetModificationTime(parent.Child(abandoned), time(nullptr) - 3600);
  for (const std::string& name : foreign) SetModificationTime(parent.Child(name), 1);

  ASSERT_TRUE(cache->Write("another key", "payload").ok());
  std::vector<std::string> left = Listing(parent.path());
  EXPECT_EQ(std::count(left.begin(), left.end(), abandoned), 0);
  EXPECT_EQ(std::count(left.begin(), left.end(), under_way), 1);
  for (const std::string& name : foreign) {
    EXPECT_EQ(std::count(left.begin(), left.end(), name), 1) << name;
  }
}

TEST(LaunchCacheTest, OffOrRelativeMeansNoCache) {
  EXPECT_EQ(LaunchCache::OpenAt("off").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(LaunchCache::OpenAt("relative/dir").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LaunchCacheTest, TheHostAndBrokerKeyNamesBootKernelAndBinary) {
  std::string key = HostAndBrokerKey();
  EXPECT_NE(key.find("boot "), std::string::npos);
  EXPECT_NE(key.find("kernel "), std::string::npos);
  EXPECT_NE(key.find("broker "), std::string::npos);
  EXPECT_EQ(key.find("unknown"), std::string::npos) << key;
  EXPECT_EQ(key, HostAndBrokerKey());
}

}  // namespace
}  // namespace tether::broker
