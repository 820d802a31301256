// Attacks on `tether run` that must fail: planted report and event files,
// a working directory that would open a home or the whole filesystem for
// writing, socket families outside the allow-list, and a stub that is
// missing or that someone other than root could have rewritten.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/integration/sandbox_fixture.h"
#include "tests/support/report_json.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::testing {
namespace {

constexpr uid_t kTestUser = 1000;  // cloudsdk on the CI machine

RunResult RunProbe(std::vector<std::string> flags, std::vector<std::string> probe_args,
                   const std::string& cwd = "") {
  RunSpec spec;
  spec.cwd = cwd;
  spec.args = {"run"};
  spec.args.insert(spec.args.end(), flags.begin(), flags.end());
  spec.args.push_back("--");
  spec.args.push_back(Binaries().Bin("sandbox_probe"));
  spec.args.insert(spec.args.end(), probe_args.begin(), probe_args.end());
  return RunTether(spec);
}

// A directory every uid can write, like /tmp, and a root-owned file elsewhere
// that an attacker would like the broker to overwrite.
class PlantedOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(chmod(shared_.path().c_str(), 01777), 0);
    victim_ = private_.Child("victim");
    std::ofstream(victim_) << "precious\n";
  }
  void ExpectVictimUntouched() { EXPECT_EQ(ReadFile(victim_), "precious\n"); }

  ScopedTempDir shared_;
  ScopedTempDir private_;
  std::string victim_;
};

TEST_F(PlantedOutputTest, ReportNamePlantedAsSymlinkIsRefusedAndNotFollowed) {
  std::string report = shared_.Child("report.json");
  ASSERT_EQ(symlink(victim_.c_str(), report.c_str()), 0);
  RunResult result = RunProbe({"--report", report}, {"exit", "0"});
  EXPECT_EQ(result.exit_code, 64) << result.err;
  EXPECT_NE(result.err.find("--report: " + report + " is a symbolic link"), std::string::npos)
      << result.err;
  ExpectVictimUntouched();
}

TEST_F(PlantedOutputTest, ReportNamePlantedAsHardLinkIsRefused) {
  std::string report = shared_.Child("report.json");
  ASSERT_EQ(link(victim_.c_str(), report.c_str()), 0);
  RunResult result = RunProbe({"--report", report}, {"exit", "0"});
  EXPECT_EQ(result.exit_code, 64) << result.err;
  EXPECT_NE(result.err.find("hard links"), std::string::npos) << result.err;
  ExpectVictimUntouched();
}

TEST_F(PlantedOutputTest, EventLogPlantedAsSymlinkIsRefusedAndNotFollowed) {
  std::string events = shared_.Child("events.json");
  ASSERT_EQ(symlink(victim_.c_str(), events.c_str()), 0);
  RunResult result = RunProbe({"--events", events}, {"exit", "0"});
  EXPECT_EQ(result.exit_code, 64) << result.err;
  EXPECT_NE(result.err.find("--events: " + events + " is a symbolic link"), std::string::npos)
      << result.err;
  ExpectVictimUntouched();
}

TEST_F(PlantedOutputTest, NewReportIsOwnerOnly) {
  std::string report = shared_.Child("report.json");
  RunResult result = RunProbe({"--report", report}, {"exit", "0"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  struct stat st;
  ASSERT_EQ(stat(report.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600);
  EXPECT_EQ(ParseReport(ReadFile(report)).outcome, "running");
}

// A user who owns one component of a listed path swaps it for a link to
// "/": the view would then hold the host's /run (its daemons' sockets). A
// link only root or the broker owns is followed; this one refuses the run.
TEST(ViewPathTest, LinkOwnedByAnotherUserInAListedPathIsRefused) {
  ScopedTempDir shared("/tmp", 01777);
  std::string link = shared.Child("job");
  pid_t child = fork();
  if (child == 0) {
    if (setresgid(kTestUser, kTestUser, kTestUser) != 0 ||
        setresuid(kTestUser, kTestUser, kTestUser) != 0 || symlink("/", link.c_str()) != 0) {
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(status, 0) << "the other user could not plant the link";
  struct stat st;
  ASSERT_EQ(lstat(link.c_str(), &st), 0);
  ASSERT_EQ(st.st_uid, kTestUser);
  ASSERT_TRUE(std::filesystem::is_directory(link + "/run")) << "the link reaches the host's /run";
  RunResult result = RunProbe({"--read-write", link + "/run"}, {"exit", "0"});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("a link owned by uid 1000"), std::string::npos) << result.err;
  EXPECT_EQ(result.out, "") << "the workload must not have run";
}

// A socket or FIFO listed read-only would still take the workload's writes
// (neither a read-only mount nor Landlock stops them): refused, exit 2.
TEST(ViewPathTest, SocketListedReadOnlyIsRefused) {
  ScopedTempDir dir("/tmp", 0755);
  std::string path = dir.Child("daemon.sock");
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(address.sun_path));
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  RunResult result = RunProbe({"--read-only", path}, {"exit", "0"});
  close(listener);
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("is a unix socket"), std::string::npos) << result.err;
  EXPECT_EQ(result.out, "");
}

// On a host whose mounts are shared (systemd's default), the view's binds
// must neither appear in the caller's mount namespace nor pile up there.
TEST(ViewPathTest, ViewMountsDoNotPropagateToTheCaller) {
  ScopedTempDir project("/opt", 0777);
  std::string script = "mount --make-rshared / && cd " + project.path() +
                       " && for i in 1 2 3; do " + Binaries().Bin("tether") +
                       " run -- /bin/true || exit 9; done; echo mounts=$(grep -c " +
                       project.path() + " /proc/self/mountinfo)";
  RunSpec spec;
  spec.command = {"/usr/bin/unshare", "-m", "--propagation", "unchanged", "/bin/sh", "-c", script};
  RunResult result = RunTether(spec);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "mounts="), "0") << result.out;
}

// Without a view (a host that denies mount namespaces) only Landlock
// stands, and it cannot narrow a read-write listing: a read-only entry
// under one is refused in strict mode, never silently writable.
TEST(ViewPathTest, ReadOnlyInsideReadWriteWithoutAViewIsRefused) {
  ScopedTempDir outer("/var/tmp", 0777);
  std::string inner = outer.Child("sub");
  ASSERT_EQ(mkdir(inner.c_str(), 0777), 0);
  RunSpec spec;
  spec.wrapper = {Binaries().Bin("faultenv"), "no-mountns", "--"};
  spec.args = {"run",
               "--best-effort",
               "mount_namespace,filesystem_view",
               "--read-write",
               outer.path(),
               "--read-only",
               inner,
               "--",
               "/bin/sh",
               "-c",
               "touch " + inner + "/planted"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 125) << result.err;
  EXPECT_NE(result.err.find("Landlock cannot make a path read-only inside a read-write one"),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(std::filesystem::exists(inner + "/planted"));
}

// From the user's own home, the workload must not get ~/.bashrc or ~/.ssh.
TEST(WorkingDirectoryTest, HomeDirectoryStaysReadOnly) {
  std::string home = "/home/cloudsdk";
  ASSERT_TRUE(std::filesystem::is_directory(home)) << "the test user's home is missing";
  std::string planted = home + "/.tether-attack-" + std::to_string(getpid());
  ScopedTempDir scratch;
  std::string report = scratch.Child("report.json");
  RunResult result =
      RunProbe({"--user", std::to_string(kTestUser), "--report", report}, {"write", planted}, home);
  bool created = std::filesystem::remove(planted);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Bound read-only into the view (Landlock would say EACCES behind it).
  EXPECT_EQ(FindLine(result.out, "write="), "EROFS");
  EXPECT_FALSE(created);
  EXPECT_NE(result.err.find("warning: the working directory /home/cloudsdk is a home directory"),
            std::string::npos)
      << result.err;
  PostureReport written = ParseReport(ReadFile(report));
  EXPECT_NE(written.FindAction("working_directory_not_writable"), nullptr) << ReadFile(report);
}

// "/." is the root: it must not make the whole filesystem writable.
TEST(WorkingDirectoryTest, RootSpelledWithADotDoesNotOpenTheFilesystem) {
  ScopedTempDir scratch;
  ScopedTempDir world_writable("/var/tmp");
  ASSERT_EQ(chmod(world_writable.path().c_str(), 0777), 0);
  std::string policy = scratch.Child("policy.json");
  std::ofstream(policy) << R"({"process": {"working_directory": "/."}})";
  // The probe is elsewhere than the working directory, so it is bound too.
  RunResult result = RunProbe({"--policy", policy, "--read-only", Binaries().path()},
                              {"write", world_writable.Child("planted")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "write="), "ENOENT") << "not in the view";
  EXPECT_FALSE(std::filesystem::exists(world_writable.Child("planted")));
}

TEST(WorkingDirectoryTest, OrdinaryProjectDirectoryIsWritable) {
  ScopedTempDir project("/var/tmp");
  ASSERT_EQ(chmod(project.path().c_str(), 0777), 0);
  RunResult result = RunProbe({}, {"write", project.Child("built")}, project.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "write="), "ok");
}

// AF_XDP is in this kernel: outside the sandbox nobody gets EPERM (no
// CAP_NET_RAW) from the kernel; inside, EAFNOSUPPORT from the filter.
TEST(SocketFamilyTest, XdpSocketIsDeniedByTheFilter) {
  constexpr char kXdp[] = "44";
  constexpr char kRaw[] = "3";
  RunResult result = RunProbe({}, {"socket", kXdp, kRaw});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(FindLine(result.out, "socket="), "EAFNOSUPPORT");
  RunResult inet = RunProbe({}, {"socket", "2", "2"});
  EXPECT_EQ(FindLine(inet.out, "socket="), "ok");
}

TEST(SocketFamilyTest, PolicyMayAllowAFamilyByName) {
  ScopedTempDir scratch;
  std::string policy = scratch.Child("policy.json");
  std::ofstream(policy) << R"({"seccomp": {"allow_socket_families": ["AF_XDP"]}})";
  RunResult result = RunProbe({"--policy", policy}, {"socket", "44", "3"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // The kernel's own answer now: nobody lacks CAP_NET_RAW.
  EXPECT_EQ(FindLine(result.out, "socket="), "EPERM");
}

// A copy of the broker with no stub beside it.
TEST(StubBinaryTest, MissingStubIsRefusedNamingThePathAndTheFlag) {
  ScopedTempDir lonely;
  ASSERT_EQ(chmod(lonely.path().c_str(), 0755), 0);
  std::filesystem::copy_file(Binaries().Bin("tether"), lonely.Child("tether"));
  RunSpec spec;
  spec.command = {lonely.Child("tether"),          "run",  "--",
                  Binaries().Bin("sandbox_probe"), "exit", "0"};
  RunResult result = RunTether(spec);
  EXPECT_EQ(result.exit_code, 125) << result.err;
  EXPECT_NE(result.err.find("the stub " + lonely.Child("tether-stub") + " cannot be opened"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("--stub PATH"), std::string::npos) << result.err;
}

struct UntrustedStub {
  const char* name;
  mode_t mode;
  uid_t owner;
  const char* complaint;
};

class UntrustedStubTest : public ::testing::TestWithParam<UntrustedStub> {};

TEST_P(UntrustedStubTest, RootBrokerRefusesAStubOthersCouldRewrite) {
  ScopedTempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  std::string stub = dir.Child("tether-stub");
  std::filesystem::copy_file(Binaries().Bin("tether-stub"), stub);
  ASSERT_EQ(chown(stub.c_str(), GetParam().owner, 0), 0);
  ASSERT_EQ(chmod(stub.c_str(), GetParam().mode), 0);
  RunResult result = RunProbe({"--stub", stub}, {"exit", "0"});
  EXPECT_EQ(result.exit_code, 125) << result.err;
  EXPECT_NE(result.err.find("the stub " + stub + " " + GetParam().complaint), std::string::npos)
      << result.err;
  EXPECT_EQ(result.out, "");
}

INSTANTIATE_TEST_SUITE_P(
    Stubs, UntrustedStubTest,
    ::testing::Values(UntrustedStub{"GroupWritable", 0775, 0, "is writable by its group"},
                      UntrustedStub{"WorldWritable", 0757, 0, "is writable by others"},
                      UntrustedStub{"OwnedByAUser", 0755, kTestUser, "is owned by uid 1000"}),
    [](const ::testing::TestParamInfo<UntrustedStub>& info) { return info.param.name; });

TEST(StubBinaryTest, DirectoryAsStubIsRefused) {
  ScopedTempDir dir;
  RunResult result = RunProbe({"--stub", dir.path()}, {"exit", "0"});
  EXPECT_EQ(result.exit_code, 125) << result.err;
  EXPECT_NE(result.err.find("is not a regular file"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace tether::testing
