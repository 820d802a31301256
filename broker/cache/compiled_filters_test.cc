#include "broker/cache/compiled_filters.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "broker/cache/cache.capnp.h"
#include "gtest/gtest.h"
#include "policy/supervisor_seccomp.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::broker {
namespace {

using ::tether::testing::ScopedTempDir;

bool Same(const std::vector<struct sock_filter>& a, const std::vector<struct sock_filter>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(struct sock_filter)) == 0;
}

std::vector<std::string> Entries(const std::string& directory) {
  std::vector<std::string> names;
  DIR* dir = opendir(directory.c_str());
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') names.push_back(directory + "/" + entry->d_name);
  }
  closedir(dir);
  return names;
}

// Rewrites the entry's program as a lone "allow everything", keeping its
// key: what an attacker who could write the cache would plant.
void PlantAllowAll(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  capnp::StreamFdMessageReader reader(fd);
  std::string key = reader.getRoot<cache::Entry>().getKey();
  close(fd);
  capnp::MallocMessageBuilder message;
  auto entry = message.initRoot<cache::Entry>();
  entry.setKey(key);
  struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  entry.setPayload(kj::arrayPtr(reinterpret_cast<const kj::byte*>(&allow), sizeof(allow)));
  fd = open(path.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  capnp::writeMessageToFd(fd, message);
  close(fd);
}

class CompiledFiltersTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("TETHER_CACHE_DIR", cache_.path().c_str(), 1); }
  void TearDown() override { unsetenv("TETHER_CACHE_DIR"); }
  ScopedTempDir cache_;
};

TEST_F(CompiledFiltersTest, TheFirstLaunchCompilesAndKeepsTheProgramTheNextReadsIt) {
  absl::StatusOr<std::vector<struct sock_filter>> compiled = policy::CompileWorkloadFilter({});
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  absl::StatusOr<std::vector<struct sock_filter>> first = CompiledWorkloadFilter({});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(Same(*first, *compiled));
  ASSERT_EQ(Entries(cache_.path()).size(), 1u);
  absl::StatusOr<std::vector<struct sock_filter>> second = CompiledWorkloadFilter({});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(Same(*second, *compiled));
}

TEST_F(CompiledFiltersTest, EachPolicyAndTheSupervisorHaveTheirOwnProgram) {
  policy::WorkloadSeccompOptions stricter;
  stricter.extra_denied_syscalls = {"uname"};
  ASSERT_TRUE(CompiledWorkloadFilter({}).ok());
  absl::StatusOr<std::vector<struct sock_filter>> cached = CompiledWorkloadFilter(stricter);
  absl::StatusOr<std::vector<struct sock_filter>> compiled =
      policy::CompileWorkloadFilter(stricter);
  ASSERT_TRUE(cached.ok() && compiled.ok());
  EXPECT_TRUE(Same(*cached, *compiled));
  absl::StatusOr<std::vector<struct sock_filter>> supervisor = CompiledSupervisorFilter();
  absl::StatusOr<std::vector<struct sock_filter>> supervisor_compiled =
      policy::CompileSupervisorFilter();
  ASSERT_TRUE(supervisor.ok() && supervisor_compiled.ok());
  EXPECT_TRUE(Same(*supervisor, *supervisor_compiled));
  EXPECT_EQ(Entries(cache_.path()).size(), 3u);
}

TEST_F(CompiledFiltersTest, AProgramPlantedByAnotherUidIsNeverUsed) {
  ASSERT_TRUE(CompiledWorkloadFilter({}).ok());
  std::vector<std::string> entries = Entries(cache_.path());
  ASSERT_EQ(entries.size(), 1u);
  PlantAllowAll(entries[0]);
  ASSERT_EQ(chown(entries[0].c_str(), 1000, 1000), 0);
  absl::StatusOr<std::vector<struct sock_filter>> program = CompiledWorkloadFilter({});
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_GT(program->size(), 1u);  // compiled again, not the planted allow-all
  EXPECT_TRUE(Same(*program, *policy::CompileWorkloadFilter({})));
}

TEST_F(CompiledFiltersTest, AnUnusableCacheDirectoryMeansCompilingEveryTime) {
  setenv("TETHER_CACHE_DIR", "off", 1);
  absl::StatusOr<std::vector<struct sock_filter>> program = CompiledWorkloadFilter({});
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_TRUE(Same(*program, *policy::CompileWorkloadFilter({})));
  EXPECT_TRUE(Entries(cache_.path()).empty());
}

}  // namespace
}  // namespace tether::broker
