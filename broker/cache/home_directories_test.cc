#include "broker/cache/home_directories.h"

#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/scoped_temp_dir.h"

using tether::testing::ScopedTempDir;

namespace tether::broker {
namespace {

using ::testing::ElementsAre;

// Each run is a fresh HomeDirectoryCache over one "passwd" file (one home
// per line), as each `tether run` is a fresh broker; what they share is the
// launch cache in a directory of the test's.
class HomeDirectoriesThroughCacheTest : public ::testing::Test {
 protected:
  HomeDirectoriesThroughCacheTest() : cache_(*LaunchCache::OpenAt(cache_dir_.Child("cache"))) {
    Write("/home/alice\n");
    // Older than the stamps' tick, so that the first lookup is settled.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  void Write(const std::string& text) const { std::ofstream(source_dir_.Child("passwd")) << text; }

  // One run's lookup at `now`; `complete` false: the lookup fails part way.
  std::vector<std::string> Run(absl::Duration now, bool complete = true) {
    HomeDirectoryCache homes(
        {source_dir_.Child("passwd")}, absl::Seconds(1),
        [this, complete] {
          ++lookups_;
          HomeDirectoryLookup lookup;
          std::ifstream file(source_dir_.Child("passwd"));
          for (std::string line; std::getline(file, line);) lookup.homes.push_back(line);
          lookup.complete = complete;
          return lookup;
        },
        absl::Milliseconds(20));
    return UserDatabaseHomesThroughCache(&cache_, &homes, now);
  }

  // Every entry of the launch cache replaced by bytes that are no entry.
  void CorruptEveryEntry() const {
    DIR* dir = opendir(cache_dir_.Child("cache").c_str());
    ASSERT_NE(dir, nullptr);
    while (struct dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      std::ofstream(cache_dir_.Child("cache") + "/" + entry->d_name, std::ios::trunc)
          << "not an entry";
    }
    closedir(dir);
  }

  ScopedTempDir source_dir_;
  ScopedTempDir cache_dir_;
  LaunchCache cache_;
  int lookups_ = 0;
  const absl::Duration start_ = HomeDirectoryCache::MonotonicNow();
};

TEST_F(HomeDirectoriesThroughCacheTest, ARunSoonAfterAnotherUsesItsListWithoutALookup) {
  EXPECT_THAT(Run(start_), ElementsAre("/home/alice"));
  EXPECT_THAT(Run(start_ + absl::Milliseconds(500)), ElementsAre("/home/alice"));
  EXPECT_EQ(lookups_, 1);
}

TEST_F(HomeDirectoriesThroughCacheTest, AUserAddedBetweenRunsIsSeenByTheNextRun) {
  Run(start_);
  Write("/home/alice\n/home/mallory\n");
  EXPECT_THAT(Run(start_ + absl::Milliseconds(1)), ElementsAre("/home/alice", "/home/mallory"));
  EXPECT_EQ(lookups_, 2);
}

TEST_F(HomeDirectoriesThroughCacheTest, AListASecondOldIsLookedUpAgain) {
  Run(start_);
  Run(start_ + absl::Seconds(1));
  EXPECT_EQ(lookups_, 2);
}

// A stored time later than now (another boot's clock, a planted entry)
// proves nothing about the list's age.
TEST_F(HomeDirectoriesThroughCacheTest, AListStoredInTheFutureIsLookedUpAgain) {
  Run(start_ + absl::Seconds(30));
  Run(start_);
  EXPECT_EQ(lookups_, 2);
}

TEST_F(HomeDirectoriesThroughCacheTest, AnEntryThatIsNoEntryIsLookedUpAgain) {
  Run(start_);
  CorruptEveryEntry();
  EXPECT_THAT(Run(start_ + absl::Milliseconds(1)), ElementsAre("/home/alice"));
  EXPECT_EQ(lookups_, 2);
}

// A lookup that stops part way (a directory server out of reach) must not
// make writable a home the last run's list had.
TEST_F(HomeDirectoriesThroughCacheTest, ALookupThatFailsPartWayKeepsTheStoredHomes) {
  Write("/home/alice\n/home/bob\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Run(start_);
  Write("/home/carol\n");
  EXPECT_THAT(Run(start_ + absl::Milliseconds(1), /*complete=*/false),
              ElementsAre("/home/alice", "/home/bob", "/home/carol"));
}

// The file changed within a tick of the lookup: its stamp might not show
// the next change, so the list is not kept for the next run.
TEST_F(HomeDirectoriesThroughCacheTest, AListReadFromAFileChangedJustBeforeIsNotKept) {
  Write("/home/alice\n/home/bob\n");
  Run(start_);
  Run(start_ + absl::Milliseconds(1));
  EXPECT_EQ(lookups_, 2);
}

TEST_F(HomeDirectoriesThroughCacheTest, WithoutACacheEveryRunLooksUp) {
  HomeDirectoryCache homes({source_dir_.Child("passwd")}, absl::Seconds(1), [this] {
    ++lookups_;
    return HomeDirectoryLookup{{"/home/alice"}, true};
  });
  UserDatabaseHomesThroughCache(nullptr, &homes, start_);
  HomeDirectoryCache again({source_dir_.Child("passwd")}, absl::Seconds(1), [this] {
    ++lookups_;
    return HomeDirectoryLookup{{"/home/alice"}, true};
  });
  UserDatabaseHomesThroughCache(nullptr, &again, start_);
  EXPECT_EQ(lookups_, 2);
}

// $HOME is the caller's, not the database's: one caller's must not stand
// for the next caller's (whose home would then be writable).
TEST(CachedHomeDirectoriesTest, EachRunAddsItsOwnHomeVariableNotTheLastRuns) {
  ScopedTempDir cache_dir;
  ASSERT_EQ(setenv("TETHER_CACHE_DIR", cache_dir.path().c_str(), 1), 0);
  ASSERT_EQ(setenv("HOME", "/nonexistent/first-caller", 1), 0);
  std::vector<std::string> first = CachedHomeDirectories();
  ASSERT_EQ(setenv("HOME", "/nonexistent/second-caller", 1), 0);
  std::vector<std::string> second = CachedHomeDirectories();
  EXPECT_NE(std::find(first.begin(), first.end(), "/nonexistent/first-caller"), first.end());
  EXPECT_NE(std::find(second.begin(), second.end(), "/nonexistent/second-caller"), second.end());
  EXPECT_EQ(std::find(second.begin(), second.end(), "/nonexistent/first-caller"), second.end());
  // The database's homes are in both (root's, on any host).
  EXPECT_NE(std::find(second.begin(), second.end(), "/root"), second.end());
}

}  // namespace
}  // namespace tether::broker
