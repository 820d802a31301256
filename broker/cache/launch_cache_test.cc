#include "broker/cache/launch_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

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
