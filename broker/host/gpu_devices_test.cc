#include "broker/host/gpu_devices.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::broker {
namespace {

// What a host with the driver, UVM and MIG capabilities loaded shows; the
// blank line and block section prove only character devices count.
constexpr char kProcDevices[] =
    "Character devices:\n"
    "  1 mem\n"
    " 10 misc\n"
    "195 nvidia-frontend\n"
    "508 nvidia-uvm\n"
    "509 nvidia-caps\n"
    "\n"
    "Block devices:\n"
    "  7 loop\n";

constexpr unsigned kUvmMajor = 508;
constexpr unsigned kCapsMajor = 509;

// Passes when `status` failed with `code` and its message contains `part`.
::testing::AssertionResult FailsWith(const absl::Status& status, absl::StatusCode code,
                                     absl::string_view part) {
  if (status.code() == code && status.message().find(part) != absl::string_view::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "got " << status << ", want " << absl::StatusCodeToString(code) << " containing \""
         << part << "\"";
}

std::vector<std::string> Paths(const GpuGrant& grant) {
  std::vector<std::string> paths;
  for (const GpuDeviceNode& node : grant.nodes) paths.push_back(node.path);
  return paths;
}

const GpuDeviceNode* FindRole(const GpuGrant& grant, absl::string_view role) {
  for (const GpuDeviceNode& node : grant.nodes) {
    if (node.role == role) return &node;
  }
  return nullptr;
}

TEST(ParseGpuSelectionTest, ParsesAll) {
  absl::StatusOr<GpuSelection> selection = ParseGpuSelection("all");
  ASSERT_TRUE(selection.ok()) << selection.status();
  EXPECT_TRUE(selection->all);
  EXPECT_TRUE(selection->indexes.empty());
}

TEST(ParseGpuSelectionTest, ParsesNone) {
  absl::StatusOr<GpuSelection> selection = ParseGpuSelection("none");
  ASSERT_TRUE(selection.ok()) << selection.status();
  EXPECT_FALSE(selection->all);
  EXPECT_TRUE(selection->indexes.empty());
}

TEST(ParseGpuSelectionTest, ParsesVoidAsNone) {
  absl::StatusOr<GpuSelection> selection = ParseGpuSelection("void");
  ASSERT_TRUE(selection.ok()) << selection.status();
  EXPECT_FALSE(selection->all);
  EXPECT_TRUE(selection->indexes.empty());
}

TEST(ParseGpuSelectionTest, ParsesIndexList) {
  absl::StatusOr<GpuSelection> selection = ParseGpuSelection("0,2");
  ASSERT_TRUE(selection.ok()) << selection.status();
  EXPECT_FALSE(selection->all);
  EXPECT_EQ(selection->indexes, (std::vector<int>{0, 2}));
}

TEST(ParseGpuSelectionTest, RejectsGarbageToken) {
  EXPECT_TRUE(FailsWith(ParseGpuSelection("0,gpu1").status(), absl::StatusCode::kInvalidArgument,
                        "\"gpu1\""));
}

TEST(ParseGpuSelectionTest, RejectsDuplicateIndex) {
  EXPECT_TRUE(FailsWith(ParseGpuSelection("1,0,1").status(), absl::StatusCode::kInvalidArgument,
                        "GPU index 1 is listed twice"));
}

TEST(ParseGpuSelectionTest, RejectsNegativeIndex) {
  EXPECT_TRUE(FailsWith(ParseGpuSelection("-1").status(), absl::StatusCode::kInvalidArgument,
                        "\"-1\" is negative"));
}

// A throwaway device root with real character devices (mknod needs root),
// a fake /proc/devices and a fake /run.
class DiscoverGpusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    top_ = scratch_.path();
    dev_ = top_ + "/dev";
    ASSERT_EQ(mkdir(dev_.c_str(), 0755), 0) << "mkdir: " << strerror(errno);
    ASSERT_EQ(mkdir((top_ + "/run").c_str(), 0755), 0) << "mkdir: " << strerror(errno);
    options_.device_root = dev_;
    options_.proc_devices = top_ + "/proc_devices";
    options_.run_root = top_ + "/run";
    options_.wsl_lib_dir = top_ + "/usr/lib/wsl";
    std::ofstream(options_.proc_devices) << kProcDevices;
  }

  // `name` is relative to the device root.
  void CharDevice(const std::string& name, unsigned major_number, unsigned minor_number) {
    std::string path = dev_ + "/" + name;
    ASSERT_EQ(mknod(path.c_str(), S_IFCHR | 0600, makedev(major_number, minor_number)), 0)
        << "mknod(" << path << "): " << strerror(errno);
  }

  // nvidiactl and /dev/nvidiaN for each index, as the driver makes them.
  void NativeDriver(const std::vector<int>& gpus) {
    ASSERT_NO_FATAL_FAILURE(CharDevice("nvidiactl", 195, 255));
    for (int index : gpus) {
      ASSERT_NO_FATAL_FAILURE(CharDevice("nvidia" + std::to_string(index), 195, index));
    }
  }

  absl::StatusOr<GpuGrant> Discover(absl::string_view selection_text) {
    absl::StatusOr<GpuSelection> selection = ParseGpuSelection(selection_text);
    if (!selection.ok()) return selection.status();
    return DiscoverGpus(*selection, options_);
  }

  tether::testing::ScopedTempDir scratch_{getenv("TEST_TMPDIR") != nullptr ? getenv("TEST_TMPDIR")
                                                                           : "/tmp"};
  std::string top_;
  std::string dev_;
  GpuDiscoveryOptions options_;
};

TEST_F(DiscoverGpusTest, NoneSelectsNothing) {
  // A device root that does not exist proves nothing was looked at.
  options_.device_root = top_ + "/absent";
  options_.proc_devices = top_ + "/absent_proc_devices";
  absl::StatusOr<GpuGrant> grant = Discover("none");
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_TRUE(grant->nodes.empty());
  EXPECT_TRUE(grant->gpu_indexes.empty());
  EXPECT_TRUE(grant->read_only_paths.empty());
}

TEST_F(DiscoverGpusTest, AllSelectsEveryGpuNode) {
  ASSERT_NO_FATAL_FAILURE(NativeDriver({0, 1}));
  absl::StatusOr<GpuGrant> grant = Discover("all");
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(Paths(*grant),
            (std::vector<std::string>{dev_ + "/nvidiactl", dev_ + "/nvidia0", dev_ + "/nvidia1"}));
  EXPECT_EQ(grant->gpu_indexes, (std::vector<int>{0, 1}));
  ASSERT_EQ(grant->nodes.size(), 3u);
  EXPECT_EQ(grant->nodes[0].role, "control");
  EXPECT_EQ(grant->nodes[0].major, 195u);
  EXPECT_EQ(grant->nodes[0].minor, 255u);
  EXPECT_EQ(grant->nodes[2].role, "gpu");
  EXPECT_EQ(grant->nodes[2].minor, 1u);
}

TEST_F(DiscoverGpusTest, IndexListSelectsOnlyThoseGpus) {
  ASSERT_NO_FATAL_FAILURE(NativeDriver({0, 1, 2}));
  absl::StatusOr<GpuGrant> grant = Discover("2,0");
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(grant->gpu_indexes, (std::vector<int>{0, 2}));
  EXPECT_EQ(Paths(*grant),
            (std::vector<std::string>{dev_ + "/nvidiactl", dev_ + "/nvidia0", dev_ + "/nvidia2"}));
}

TEST_F(DiscoverGpusTest, IncludesUvmWithItsMajorFromProcDevices) {
  ASSERT_NO_FATAL_FAILURE(NativeDriver({0}));
  ASSERT_NO_FATAL_FAILURE(CharDevice("nvidia-uvm", kUvmMajor, 0));
  ASSERT_NO_FATAL_FAILURE(CharDevice("nvidia-uvm-tools", kUvmMajor, 1));
  absl::StatusOr<GpuGrant> grant = Discover("all");
  ASSERT_TRUE(grant.ok()) << grant.status();
  const GpuDeviceNode* uvm = FindRole(*grant, "uvm");
  ASSERT_NE(uvm, nullptr);
  EXPECT_EQ(uvm->path, dev_ + "/nvidia-uvm");
  EXPECT_EQ(uvm->major, kUvmMajor);
  const GpuDeviceNode* tools = FindRole(*grant, "uvm-tools");
  ASSERT_NE(tools, nullptr);
  EXPECT_EQ(tools->path, dev_ + "/nvidia-uvm-tools");
  EXPECT_EQ(tools->minor, 1u);
}

TEST_F(DiscoverGpusTest, RejectsRegularFilePosingAsDevice) {
  ASSERT_NO_FATAL_FAILURE(NativeDriver({}));
  std::ofstream(dev_ + "/nvidia0") << "not a device";
  EXPECT_TRUE(FailsWith(Discover("all").status(), absl::StatusCode::kFailedPrecondition,
                        dev_ + "/nvidia0 is a regular file, expected a "
                               "character device with major 195"));
}

TEST_F(DiscoverGpusTest, RejectsWrongMajor) {
  ASSERT_NO_FATAL_FAILURE(NativeDriver({}));
  ASSERT_NO_FATAL_FAILURE(CharDevice("nvidia0", 1, 0));  // /dev/mem's major
  EXPECT_TRUE(FailsWith(Discover("all").status(), absl::StatusCode::kFailedPrecondition,
                        dev_ + "/nvidia0 is a character device 1:0, expected "
                               "a character device with major 195"));
}

TEST_F(DiscoverGpusTest, RejectsWrongMinorForControlNode) {
  ASSERT_NO_FATAL_FAILURE(CharDevice("nvidiactl", 195, 3));
  ASSERT_NO_FATAL_FAILURE(CharDevice("nvidia0", 195, 0));
  EXPECT_TRUE(FailsWith(Discover("all").status(), absl::StatusCode::kFailedPrecondition,
                        dev_ + "/nvidiactl is a character device 195:3, "
                               "expected a character device with major 195 "
                               "and minor 255"));
}

TEST_F(DiscoverGpusTest, RejectsSymlink) {
  ASSERT_NO_FATAL_FAILURE(NativeDriver({}));
  // The target is a perfect nvidia0; the link itself is still refused.
  ASSERT_NO_FATAL_FAILURE(CharDevice("elsewhere", 195, 0));
  ASSERT_EQ(symlink("elsewhere", (dev_ + "/nvidia0").c_str()), 0) << "symlink: " << strerror(errno);
  EXPECT_TRUE(FailsWith(Discover("all").status(), absl::StatusCode::kFailedPrecondition,
                        dev_ + "/nvidia0 is a symbolic link, expected a "
                               "character device"));
}

TEST_F(DiscoverGpusTest, RejectsUvmWithWrongMajor) {
  ASSERT_NO_FATAL_FAILURE(NativeDriver({0}));
  ASSERT_NO_FATAL_FAILURE(CharDevice("nvidia-uvm", 195, 0));
  EXPECT_TRUE(FailsWith(Discover("all").status(), absl::StatusCode::kFailedPrecondition,
                        dev_ + "/nvidia-uvm is a character device 195:0, "
                               "expected a character device with major 508"));
}

TEST_F(DiscoverGpusTest, MissingSelectedIndexIsAnErrorListingPresentOnes) {
  ASSERT_NO_FATAL_FAILURE(NativeDriver({0, 1}));
  absl::Status status = Discover("0,3").status();
  EXPECT_TRUE(FailsWith(status, absl::StatusCode::kNotFound, "GPU index 3 not present"));
  EXPECT_TRUE(FailsWith(status, absl::StatusCode::kNotFound, "present: 0, 1"));
}

TEST_F(DiscoverGpusTest, MissingControlNodeIsAnError) {
  ASSERT_NO_FATAL_FAILURE(CharDevice("nvidia0", 195, 0));
  EXPECT_TRUE(FailsWith(Discover("all").status(), absl::StatusCode::kFailedPrecondition,
                        dev_ + "/nvidiactl is missing"));
}

TEST_F(DiscoverGpusTest, NoDevicesAtAllIsNotFound) {
  ASSERT_NO_FATAL_FAILURE(CharDevice("null", 1, 3));
  EXPECT_TRUE(FailsWith(Discover("all").status(), absl::StatusCode::kNotFound,
                        "no NVIDIA device nodes under " + dev_));
}

TEST_F(DiscoverGpusTest, WslDxgAloneIsEnough) {
  // dxgkrnl is a misc device (major 10) with a dynamic minor.
  ASSERT_NO_FATAL_FAILURE(CharDevice("dxg", 10, 61));
  absl::StatusOr<GpuGrant> grant = Discover("all");
  ASSERT_TRUE(grant.ok()) << grant.status();
  ASSERT_EQ(grant->nodes.size(), 1u);
  EXPECT_EQ(grant->nodes[0].path, dev_ + "/dxg");
  EXPECT_EQ(grant->nodes[0].role, "dxg");
  EXPECT_TRUE(grant->gpu_indexes.empty());
}

TEST_F(DiscoverGpusTest, IncludesWslDriverStoreReadOnlyWithDxg) {
  ASSERT_NO_FATAL_FAILURE(CharDevice("dxg", 10, 61));
  std::filesystem::create_directories(options_.wsl_lib_dir);
  absl::StatusOr<GpuGrant> grant = Discover("all");
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(grant->read_only_paths, (std::vector<std::string>{options_.wsl_lib_dir}));
}

TEST_F(DiscoverGpusTest, IncludesNvidiaCapsNodes) {
  ASSERT_NO_FATAL_FAILURE(NativeDriver({0}));
  ASSERT_EQ(mkdir((dev_ + "/nvidia-caps").c_str(), 0755), 0) << "mkdir: " << strerror(errno);
  ASSERT_NO_FATAL_FAILURE(CharDevice("nvidia-caps/nvidia-cap1", kCapsMajor, 1));
  ASSERT_NO_FATAL_FAILURE(CharDevice("nvidia-caps/nvidia-cap2", kCapsMajor, 2));
  absl::StatusOr<GpuGrant> grant = Discover("all");
  ASSERT_TRUE(grant.ok()) << grant.status();
  std::vector<std::string> caps;
  for (const GpuDeviceNode& node : grant->nodes) {
    if (node.role == "caps") {
      EXPECT_EQ(node.major, kCapsMajor);
      caps.push_back(node.path);
    }
  }
  EXPECT_EQ(caps, (std::vector<std::string>{dev_ + "/nvidia-caps/nvidia-cap1",
                                            dev_ + "/nvidia-caps/nvidia-cap2"}));
}

TEST_F(DiscoverGpusTest, RejectsCapNodeWhoseMinorDoesNotMatchItsName) {
  ASSERT_NO_FATAL_FAILURE(NativeDriver({0}));
  ASSERT_EQ(mkdir((dev_ + "/nvidia-caps").c_str(), 0755), 0) << "mkdir: " << strerror(errno);
  ASSERT_NO_FATAL_FAILURE(CharDevice("nvidia-caps/nvidia-cap2", kCapsMajor, 1));
  EXPECT_TRUE(FailsWith(Discover("all").status(), absl::StatusCode::kFailedPrecondition,
                        dev_ + "/nvidia-caps/nvidia-cap2 is a character "
                               "device 509:1"));
}

TEST_F(DiscoverGpusTest, IncludesPersistencedSocketDirReadOnlyWhenPresent) {
  ASSERT_NO_FATAL_FAILURE(NativeDriver({0}));
  absl::StatusOr<GpuGrant> without = Discover("all");
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_TRUE(without->read_only_paths.empty());

  std::string persistenced = options_.run_root + "/nvidia-persistenced";
  ASSERT_EQ(mkdir(persistenced.c_str(), 0755), 0) << "mkdir: " << strerror(errno);
  absl::StatusOr<GpuGrant> with = Discover("all");
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->read_only_paths, (std::vector<std::string>{persistenced}));
}

}  // namespace
}  // namespace tether::broker
