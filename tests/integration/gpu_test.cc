// GPU workloads on the real kernel with real character devices made by
// mknod in a device root outside every granted path: the selected nodes
// pass Landlock (the missing driver answers ENXIO), the unselected ones do
// not (EACCES), fake nodes refuse the run, and /proc/<pid>/task/<tid>/comm
// is writable exactly when the promotion applies.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/report_json.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeNode("nvidiactl", 195, 255);
    MakeNode("nvidia0", 195, 0);
    MakeNode("nvidia1", 195, 1);
  }

  void MakeNode(const std::string& name, unsigned major, unsigned minor) {
    std::string path = root_ + "/" + name;
    ASSERT_EQ(mknod(path.c_str(), S_IFCHR | 0666, makedev(major, minor)), 0) << path;
    chmod(path.c_str(), 0666);
  }

  RunResult Run(const std::string& policy_json, std::vector<std::string> flags,
                std::vector<std::string> probe) {
    std::ofstream(config_ + "/policy.json") << policy_json;
    RunSpec spec;
    spec.args = {"run", "--network", "host", "--policy", config_ + "/policy.json"};
    spec.args.insert(spec.args.end(), flags.begin(), flags.end());
    spec.args.push_back("--");
    spec.args.push_back("./sandbox_probe");
    spec.args.insert(spec.args.end(), probe.begin(), probe.end());
    return RunTether(spec);
  }

  std::string DeviceRootPolicy(const std::string& extra = "") {
    return R"({"gpu": {"device_root": ")" + root_ + "\"" + extra + "}" +
           (extra_sections_.empty() ? "" : ", " + extra_sections_) + "}";
  }

  // Outside /tmp, which is read-write: only the GPU grant may open these.
  ScopedTempDir root_scope_{"/var/tmp", 0755};
  ScopedTempDir config_scope_{"/tmp", 0755};
  const std::string& root_ = root_scope_.path();
  const std::string& config_ = config_scope_.path();
  std::string extra_sections_;
};

TEST_F(GpuTest, SelectedGpuNodePassesLandlock) {
  RunResult result = Run(DeviceRootPolicy(), {"--gpus", "0"}, {"open", root_ + "/nvidia0"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "open="), "ENXIO") << "no driver behind 195:0, but allowed";
}

TEST_F(GpuTest, UnselectedGpuNodeIsDenied) {
  RunResult result = Run(DeviceRootPolicy(), {"--gpus", "0"}, {"open", root_ + "/nvidia1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Only selected nodes are bound into the view's /dev.
  EXPECT_EQ(FindLine(result.out, "open="), "ENOENT");
}

TEST_F(GpuTest, WithoutGpusNoNodeIsReachable) {
  RunResult result = Run(DeviceRootPolicy(), {}, {"open", root_ + "/nvidia0"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "open="), "ENOENT");
}

TEST_F(GpuTest, ProcCommIsWritableWhenPromoted) {
  RunResult result = Run(DeviceRootPolicy(), {"--gpus", "all"}, {"comm"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "comm="), "ok");
}

TEST_F(GpuTest, ReportNamesTheGrantedNodesAndThePromotion) {
  RunResult result =
      Run(DeviceRootPolicy(), {"--gpus", "0", "--report", config_ + "/r.json"}, {"exit", "0"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string text = ReadFile(config_ + "/r.json");
  PostureReport report = ParseReport(text);
  const MechanismRecord* grant = report.Find("gpu", "grant_device_nodes");
  ASSERT_NE(grant, nullptr) << text;
  EXPECT_EQ(grant->state, "enforced") << text;
  EXPECT_NE(grant->reason.find(root_ + "/nvidia0"), std::string::npos) << text;
  EXPECT_FALSE(report.Mentions(root_ + "/nvidia1")) << "not selected";
  const MechanismRecord* proc = report.Find("gpu", "proc_write_file");
  ASSERT_NE(proc, nullptr) << text;
  EXPECT_EQ(proc->state, "enforced") << text;
}

TEST_F(GpuTest, ProcCommIsNotWritableWithoutGpus) {
  RunResult result = Run(DeviceRootPolicy(), {}, {"comm"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "comm="), "EACCES");
}

TEST_F(GpuTest, KeepUserHonoursAReadOnlyProcAndWarns) {
  extra_sections_ = R"("filesystem": {"read_only": ["/proc"]})";
  RunResult result =
      Run(DeviceRootPolicy(R"(, "proc_conflict": "keep_user")"), {"--gpus", "all"}, {"comm"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "comm="), "EACCES");
  EXPECT_NE(result.err.find("CUDA start-up may fail"), std::string::npos) << result.err;
}

TEST_F(GpuTest, RejectRefusesAReadOnlyProcWithGpus) {
  extra_sections_ = R"("filesystem": {"read_only": ["/proc"]})";
  RunResult result =
      Run(DeviceRootPolicy(R"(, "proc_conflict": "reject")"), {"--gpus", "all"}, {"comm"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("remove /proc from filesystem.read_only"), std::string::npos)
      << result.err;
}

TEST_F(GpuTest, FakeNodeRefusesTheRun) {
  std::filesystem::remove(root_ + "/nvidia1");
  std::ofstream(root_ + "/nvidia1") << "not a device";
  RunResult result = Run(DeviceRootPolicy(), {"--gpus", "all"}, {"exit", "0"});
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_NE(result.err.find("nvidia1 is a regular file"), std::string::npos) << result.err;
}

TEST_F(GpuTest, WrongMajorRefusesTheRun) {
  std::filesystem::remove(root_ + "/nvidia0");
  MakeNode("nvidia0", 1, 3);
  RunResult result = Run(DeviceRootPolicy(), {"--gpus", "0"}, {"exit", "0"});
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_NE(result.err.find("major 195"), std::string::npos) << result.err;
}

TEST_F(GpuTest, MissingSelectedGpuRefusesTheRun) {
  RunResult result = Run(DeviceRootPolicy(), {"--gpus", "5"}, {"exit", "0"});
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_NE(result.err.find("5"), std::string::npos) << result.err;
}

TEST_F(GpuTest, ExplainShowsGpuBaselineNodesAndThePromotion) {
  std::ofstream(config_ + "/policy.json") << DeviceRootPolicy();
  RunSpec spec;
  spec.args = {"policy", "explain", config_ + "/policy.json", "--gpus", "0"};
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  Decoded<schema::PolicyExplanation> explanation(result.out);
  ASSERT_TRUE(explanation.ok()) << explanation.error();
  EXPECT_TRUE(HasOrigin(explanation.get(), root_ + "/nvidia0", "gpu-baseline")) << result.out;
  EXPECT_FALSE(Mentions(explanation.get(), root_ + "/nvidia1")) << "unselected";
  EXPECT_TRUE(HasOrigin(explanation.get(), "/proc", "promoted", "write_file")) << result.out;
}

// WSL2's /dev/dxg may have any major, so a null device stands in for it:
// the workload can open and ioctl the granted node (the driver answers
// ENOTTY), and cannot open an ungranted one.
TEST_F(GpuTest, GrantedNodeCanBeOpenedAndIoctledAndOthersCannot) {
  std::filesystem::remove_all(root_);
  std::filesystem::create_directories(root_);
  chmod(root_.c_str(), 0755);
  MakeNode("dxg", 1, 3);
  MakeNode("other", 1, 3);
  RunResult granted = Run(DeviceRootPolicy(), {"--gpus", "all"}, {"ioctl", root_ + "/dxg"});
  ASSERT_EQ(granted.exit_code, 0) << granted.err;
  EXPECT_EQ(FindLine(granted.out, "open="), "ok");
  EXPECT_EQ(FindLine(granted.out, "ioctl="), "ENOTTY");
  RunResult other = Run(DeviceRootPolicy(), {"--gpus", "all"}, {"ioctl", root_ + "/other"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(FindLine(other.out, "open="), "ENOENT");
}

TEST_F(GpuTest, BadGpuSelectionIsAUsageError) {
  RunResult result = Run(DeviceRootPolicy(), {"--gpus", "zero"}, {"exit", "0"});
  EXPECT_EQ(result.exit_code, 64);
  EXPECT_NE(result.err.find("--gpus"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace tether::testing
