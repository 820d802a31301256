#include "broker/home_directory_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "tests/support/scoped_temp_dir.h"

namespace tether::broker {
namespace {

// A user database of one file ("passwd", one home per line) and one
// directory ("userdb"), read by the lookup the cache is given; the cache
// stamps both, and a third path that does not exist yet.
class HomeDirectoryCacheTest : public ::testing::Test {
 public:
  explicit HomeDirectoryCacheTest(
      absl::Duration timestamp_tick = HomeDirectoryCache::kDefaultTimestampTick)
      : cache_(
            {Path("passwd"), Path("userdb"), Path("extrausers")}, absl::Seconds(1),
            [this] { return LookUp(); }, timestamp_tick) {
    Write("passwd", "/home/alice\n");
    std::filesystem::create_directory(Path("userdb"));
    WaitPastATimestampTick();
  }

  std::string Path(const std::string& name) const { return dir_.Child(name); }

  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name), std::ios::in | std::ios::out | std::ios::trunc) << text;
  }

  // Over the same bytes, so that the size stays the same.
  void Overwrite(const std::string& name, const std::string& text) const {
    std::fstream file(Path(name), std::ios::in | std::ios::out);
    file << text;
  }

  // So that what the test wrote is older than the cache's default tick.
  static void WaitPastATimestampTick() {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  // The homes the lookup finds, in its order, after those in "passwd".
  std::vector<std::string> also_found_;

 protected:
  HomeDirectoryLookup LookUp() {
    ++lookups_;
    HomeDirectoryLookup lookup;
    std::ifstream file(Path("passwd"));
    for (std::string line; std::getline(file, line);) lookup.homes.push_back(line);
    lookup.homes.insert(lookup.homes.end(), also_found_.begin(), also_found_.end());
    lookup.complete = complete_;
    return lookup;
  }

  tether::testing::ScopedTempDir dir_;
  HomeDirectoryCache cache_;
  const absl::Duration start_ = HomeDirectoryCache::MonotonicNow();
  int lookups_ = 0;
  bool complete_ = true;
};

TEST_F(HomeDirectoryCacheTest, UnchangedSourcesAreNotLookedUpAgainWithinTheMaxAge) {
  EXPECT_TRUE(cache_.Refresh(start_));
  EXPECT_EQ(cache_.homes(), std::vector<std::string>{"/home/alice"});
  EXPECT_FALSE(cache_.Refresh(start_ + absl::Milliseconds(900)));
  EXPECT_EQ(lookups_, 1);
}

TEST_F(HomeDirectoryCacheTest, AListOlderThanTheMaxAgeIsLookedUpAgain) {
  cache_.Refresh(start_);
  // A directory server's new user shows in no file this cache stamps.
  EXPECT_FALSE(cache_.Refresh(start_ + absl::Seconds(1)));
  EXPECT_EQ(lookups_, 2);
}

struct SourceChange {
  const char* name;
  std::function<void(HomeDirectoryCacheTest&)> change;
  std::vector<std::string> homes_after;
};

class HomeDirectoryCacheChangeTest : public HomeDirectoryCacheTest,
                                     public ::testing::WithParamInterface<SourceChange> {};

TEST_P(HomeDirectoryCacheChangeTest, AChangedSourceIsLookedUpAgainAtOnce) {
  cache_.Refresh(start_);
  GetParam().change(*this);
  bool changed = cache_.Refresh(start_ + absl::Milliseconds(1));
  EXPECT_EQ(lookups_, 2);
  EXPECT_EQ(cache_.homes(), GetParam().homes_after);
  EXPECT_EQ(changed, GetParam().homes_after != std::vector<std::string>{"/home/alice"});
}

INSTANTIATE_TEST_SUITE_P(
    Sources, HomeDirectoryCacheChangeTest,
    ::testing::Values(
        SourceChange{"LineAppended",
                     [](HomeDirectoryCacheTest& test) {
                       std::ofstream(test.Path("passwd"), std::ios::app) << "/srv/bob\n";
                     },
                     {"/home/alice", "/srv/bob"}},
        // Same size, same inode: only the timestamps tell.
        SourceChange{"EditedInPlaceToTheSameSize",
                     [](HomeDirectoryCacheTest& test) { test.Overwrite("passwd", "/home/carol"); },
                     {"/home/carol"}},
        SourceChange{"ReplacedByRename",
                     [](HomeDirectoryCacheTest& test) {
                       std::ofstream(test.Path("passwd.new")) << "/home/dave\n";
                       std::filesystem::rename(test.Path("passwd.new"), test.Path("passwd"));
                     },
                     {"/home/dave"}},
        SourceChange{"FileAddedToASourceDirectory",
                     [](HomeDirectoryCacheTest& test) {
                       std::ofstream(test.Path("userdb") + "/erin.user") << "{}";
                     },
                     {"/home/alice"}},
        SourceChange{"MissingSourceCreated",
                     [](HomeDirectoryCacheTest& test) {
                       std::ofstream(test.Path("extrausers")) << "frank\n";
                     },
                     {"/home/alice"}}),
    [](const ::testing::TestParamInfo<SourceChange>& info) { return info.param.name; });

// An unreachable directory server must not make a home it listed before
// writable: a lookup that failed part way only adds to the list.
TEST_F(HomeDirectoryCacheTest, ALookupThatFailedPartWayKeepsTheHomesItDidNotReach) {
  also_found_ = {"/srv/ldap-user"};
  cache_.Refresh(start_);
  also_found_ = {};
  complete_ = false;
  Write("passwd", "/home/anna\n");
  cache_.Refresh(start_ + absl::Milliseconds(1));
  EXPECT_EQ(cache_.homes(),
            (std::vector<std::string>{"/home/alice", "/home/anna", "/srv/ldap-user"}));
  complete_ = true;
  cache_.Refresh(start_ + absl::Seconds(2));
  EXPECT_EQ(cache_.homes(), std::vector<std::string>{"/home/anna"})
      << "a complete lookup replaces the list";
}

TEST_F(HomeDirectoryCacheTest, TheSameHomesInAnotherOrderAreNotAChange) {
  also_found_ = {"/srv/b", "/srv/a"};
  cache_.Refresh(start_);
  also_found_ = {"/srv/a", "/srv/b", "/srv/a"};
  EXPECT_FALSE(cache_.Refresh(start_ + absl::Seconds(2)));
  EXPECT_EQ(lookups_, 2);
  EXPECT_EQ(cache_.homes(), (std::vector<std::string>{"/home/alice", "/srv/a", "/srv/b"}));
}

// A source stamped in the future (a clock stepped back, a time a package
// manager kept) is left to the age limit, or every Refresh would look up.
TEST_F(HomeDirectoryCacheTest, ASourceStampedInTheFutureIsLeftToTheAgeLimit) {
  struct timespec future[2];
  clock_gettime(CLOCK_REALTIME, &future[0]);
  future[0].tv_sec += 3600;
  future[1] = future[0];
  ASSERT_EQ(utimensat(AT_FDCWD, Path("passwd").c_str(), future, 0), 0);
  WaitPastATimestampTick();  // the change time utimensat set
  cache_.Refresh(start_);
  cache_.Refresh(start_ + absl::Milliseconds(1));
  EXPECT_EQ(lookups_, 1);
  cache_.Refresh(start_ + absl::Seconds(1));
  EXPECT_EQ(lookups_, 2);
}

// The age is monotonic time: a time before the last lookup (which a wall
// clock stepped back would give) does not postpone the next one.
TEST_F(HomeDirectoryCacheTest, ATimeBeforeTheLastLookupLooksUpAgain) {
  cache_.Refresh(start_);
  cache_.Refresh(start_ - absl::Minutes(5));
  EXPECT_EQ(lookups_, 2);
}

// A change in the same timestamp tick as the lookup could be followed by a
// second one the stamps cannot tell apart: the list is not trusted until a
// lookup follows the last change by more than a tick. (A tick of a minute
// here, so that the test does not depend on how fast it runs.)
class HomeDirectoryCacheLongTickTest : public HomeDirectoryCacheTest {
 public:
  HomeDirectoryCacheLongTickTest() : HomeDirectoryCacheTest(absl::Minutes(1)) {}
};

TEST_F(HomeDirectoryCacheLongTickTest, AChangeWithinATickOfTheLookupIsLookedUpAgain) {
  cache_.Refresh(start_);
  cache_.Refresh(start_ + absl::Milliseconds(1));
  cache_.Refresh(start_ + absl::Milliseconds(2));
  EXPECT_EQ(lookups_, 3);
}

TEST_F(HomeDirectoryCacheTest, AChangeOlderThanATickIsTrusted) {
  Overwrite("passwd", "/home/gina\n");
  WaitPastATimestampTick();
  cache_.Refresh(start_);
  cache_.Refresh(start_ + absl::Milliseconds(1));
  EXPECT_EQ(lookups_, 1);
}

}  // namespace
}  // namespace tether::broker
