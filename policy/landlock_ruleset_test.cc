#include "policy/landlock_ruleset.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <climits>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "ipc/unique_fd.h"
#include "tests/support/child_outcome.h"
#include "tests/support/scoped_temp_dir.h"

namespace tether::policy {
namespace {

// Returned by RunConfined when the child never got to run the operation.
constexpr int kNotRun = INT_MIN;

// Forks a child that sets no_new_privs, restricts itself with `ruleset_fd`
// and runs `operation`. Returns what the operation returned: 0 for success or
// the errno of the step under test; a negative value is the negated errno of
// a preparatory step, so that it cannot pass for the errno under test.
int RunConfined(int ruleset_fd, absl::FunctionRef<int()> operation) {
  tether::test_support::ChildOutcome outcome =
      tether::test_support::RunInChild([&]() -> std::pair<int, int> {
        // Stages 1 and 2 are the confinement steps failing.
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return {1, errno};
        if (syscall(SYS_landlock_restrict_self, ruleset_fd, 0U) != 0) return {2, errno};
        return {0, operation()};
      });
  if (!outcome.report.has_value()) {
    ADD_FAILURE() << "the confined child died without reporting (wait status "
                  << outcome.wait_status << ")";
    return kNotRun;
  }
  if (outcome.report->first != 0) {
    ADD_FAILURE() << "the child could not confine itself: "
                  << (outcome.report->first == 1 ? "prctl(PR_SET_NO_NEW_PRIVS)"
                                                 : "landlock_restrict_self")
                  << ": " << std::strerror(outcome.report->second);
    return kNotRun;
  }
  return outcome.report->second;
}

int OpenAndClose(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

// Reads one byte: 0 when the file could be opened and read.
int ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char byte;
  int error = read(fd, &byte, 1) == 1 ? 0 : -EIO;
  close(fd);
  return error;
}

// Runs `path` in a grandchild: 0 when it ran and exited 0, else execve's
// errno.
int Execute(const std::string& path) {
  pid_t pid = fork();
  if (pid < 0) return -errno;
  if (pid == 0) {
    execl(path.c_str(), path.c_str(), static_cast<char*>(nullptr));
    _exit(errno);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -errno;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
}

// TCGETS is not in Landlock's always-allowed list (FIOCLEX, FIONCLEX,
// FIONBIO, FIOASYNC, FIOQSIZE, ...), so it reaches the driver only with
// IOCTL_DEV: /dev/null then answers ENOTTY, Landlock otherwise EACCES.
int TcgetsOnDevNull() {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct termios termios;
  int error = ioctl(fd, TCGETS, &termios) == 0 ? 0 : errno;
  close(fd);
  return error;
}

class LandlockRulesetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<int> abi = QueryLandlockAbi();
    ASSERT_TRUE(abi.ok()) << abi.status();
    abi_ = *abi;
    root_ = scratch_.path();
  }

  // The tests exercise the running kernel; one too old is a failure, not a
  // skip, because CI must prove every right is enforced.
  void RequireAbi(int needed, absl::string_view feature) {
    ASSERT_GE(abi_, needed) << feature << " needs Landlock ABI " << needed
                            << "; the running kernel offers ABI " << abi_;
  }

  std::string MakeDir(absl::string_view name) {
    std::string path = absl::StrCat(root_, "/", name);
    EXPECT_EQ(mkdir(path.c_str(), 0755), 0) << "mkdir " << path << ": " << std::strerror(errno);
    return path;
  }

  std::string MakeFile(const std::string& dir, absl::string_view name, int mode = 0644) {
    std::string path = absl::StrCat(dir, "/", name);
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    EXPECT_GE(fd, 0) << "create " << path << ": " << std::strerror(errno);
    if (fd >= 0) {
      EXPECT_EQ(write(fd, "content\n", 8), 8);
      close(fd);
    }
    return path;
  }

  void Build(const LandlockRules& rules, UniqueFd* ruleset,
             MissingPath missing = MissingPath::kError) {
    absl::StatusOr<UniqueFd> built = BuildLandlockRuleset(rules, abi_, missing);
    ASSERT_TRUE(built.ok()) << built.status();
    *ruleset = std::move(*built);
  }

  // What a dynamically linked system binary needs to load.
  static LandlockRules SystemReadOnly() {
    LandlockRules rules;
    rules.read_only = {"/usr", "/bin", "/lib", "/lib64", "/etc"};
    return rules;
  }

  int abi_ = 0;
  tether::testing::ScopedTempDir scratch_{getenv("TEST_TMPDIR") != nullptr ? getenv("TEST_TMPDIR")
                                                                           : "/tmp"};
  std::string root_;
};

TEST_F(LandlockRulesetTest, QueryReportsAbiOfRunningKernel) {
  long direct = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  ASSERT_GE(direct, 1) << "landlock_create_ruleset: " << std::strerror(errno);
  EXPECT_EQ(abi_, direct);
}

TEST(LandlockAccessMasksTest, FsAccessGrowsWithEachAbi) {
  EXPECT_EQ(HandledFsAccess(0), 0u);
  EXPECT_EQ(HandledFsAccess(1), 0x1fffu);  // EXECUTE .. MAKE_SYM
  EXPECT_EQ(HandledFsAccess(2), 0x3fffu);  // + REFER
  EXPECT_EQ(HandledFsAccess(3), 0x7fffu);  // + TRUNCATE
  EXPECT_EQ(HandledFsAccess(4), 0x7fffu);
  EXPECT_EQ(HandledFsAccess(5), 0xffffu);  // + IOCTL_DEV
  EXPECT_EQ(HandledFsAccess(7), 0xffffu);
}

TEST(LandlockAccessMasksTest, TcpIsHandledFromAbi4) {
  EXPECT_EQ(HandledNetAccess(3), 0u);
  EXPECT_EQ(HandledNetAccess(4), 0x3u);  // BIND_TCP | CONNECT_TCP
  EXPECT_EQ(HandledNetAccess(7), 0x3u);
}

TEST(LandlockAccessMasksTest, ScopesAreHandledFromAbi6) {
  EXPECT_EQ(HandledScopes(5), 0u);
  EXPECT_EQ(HandledScopes(6), 0x3u);  // ABSTRACT_UNIX_SOCKET | SIGNAL
  EXPECT_EQ(HandledScopes(7), 0x3u);
}

// The working directory's rule is added to a ruleset built earlier from
// the policy: what it adds is granted, nothing else is.
TEST_F(LandlockRulesetTest, RulesAddedLaterGrantTheirPathsAlone) {
  LandlockRules rules;
  rules.read_only = {MakeDir("policy")};
  std::string added = MakeDir("added");
  std::string outside = MakeFile(MakeDir("outside"), "file");
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset));
  LandlockRules more;
  more.read_write = {added};
  ASSERT_TRUE(AddLandlockRules(ruleset.get(), more, abi_, MissingPath::kError).ok());

  std::string created = absl::StrCat(added, "/new");
  EXPECT_EQ(RunConfined(ruleset.get(), [&] { return OpenAndClose(created, O_WRONLY | O_CREAT); }),
            0);
  EXPECT_EQ(RunConfined(ruleset.get(), [&] { return OpenAndClose(outside, O_WRONLY); }), EACCES);
  EXPECT_EQ(
      RunConfined(
          ruleset.get(),
          [&] { return OpenAndClose(absl::StrCat(rules.read_only[0], "/x"), O_WRONLY | O_CREAT); }),
      EACCES);
}

TEST_F(LandlockRulesetTest, AddedRulesAreCheckedAsBuiltOnesAre) {
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(LandlockRules{}, &ruleset));
  LandlockRules relative;
  relative.read_only = {"relative/path"};
  EXPECT_EQ(AddLandlockRules(ruleset.get(), relative, abi_, MissingPath::kSkip).code(),
            absl::StatusCode::kInvalidArgument);
  LandlockRules missing;
  missing.read_only = {root_ + "/missing"};
  EXPECT_EQ(AddLandlockRules(ruleset.get(), missing, abi_, MissingPath::kError).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(AddLandlockRules(ruleset.get(), missing, abi_, MissingPath::kSkip).ok());
}

TEST_F(LandlockRulesetTest, WriteOutsideReadWritePathsFailsWithEacces) {
  LandlockRules rules;
  rules.read_write = {MakeDir("granted")};
  std::string outside = MakeFile(MakeDir("outside"), "file");
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset));

  EXPECT_EQ(RunConfined(ruleset.get(), [&] { return OpenAndClose(outside, O_WRONLY); }), EACCES);
}

TEST_F(LandlockRulesetTest, WriteInsideReadWritePathSucceeds) {
  LandlockRules rules;
  std::string dir = MakeDir("granted");
  rules.read_write = {dir};
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset));

  EXPECT_EQ(RunConfined(ruleset.get(),
                        [&] {
                          int fd = open((dir + "/new").c_str(),
                                        O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                          if (fd < 0) return errno;
                          int error = write(fd, "x", 1) == 1 ? 0 : errno;
                          close(fd);
                          return error;
                        }),
            0);
}

TEST_F(LandlockRulesetTest, ReadOnlyPathCanBeReadButNotWritten) {
  LandlockRules rules;
  std::string dir = MakeDir("ro");
  std::string file = MakeFile(dir, "file");
  rules.read_only = {dir};
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset));

  EXPECT_EQ(RunConfined(ruleset.get(), [&] { return ReadFile(file); }), 0);
  EXPECT_EQ(RunConfined(ruleset.get(), [&] { return OpenAndClose(file, O_WRONLY); }), EACCES);
  EXPECT_EQ(
      RunConfined(ruleset.get(), [&] { return OpenAndClose(dir + "/new", O_WRONLY | O_CREAT); }),
      EACCES);
}

TEST_F(LandlockRulesetTest, ExecuteInReadOnlyPathIsAllowed) {
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(SystemReadOnly(), &ruleset, MissingPath::kSkip));

  EXPECT_EQ(RunConfined(ruleset.get(), [] { return Execute("/bin/true"); }), 0);
}

TEST_F(LandlockRulesetTest, ExecuteOutsideGrantedPathsIsDenied) {
  // A copy of /bin/true where no rule reaches; its libraries stay readable.
  std::string copy = absl::StrCat(root_, "/true");
  std::error_code error;
  std::filesystem::copy_file("/bin/true", copy, error);
  ASSERT_FALSE(error) << "copy /bin/true: " << error.message();
  ASSERT_EQ(Execute(copy), 0) << "the copy must run unconfined for the denial to mean anything";
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(SystemReadOnly(), &ruleset, MissingPath::kSkip));

  EXPECT_EQ(RunConfined(ruleset.get(), [&] { return Execute(copy); }), EACCES);
}

TEST_F(LandlockRulesetTest, TruncateOfReadOnlyFileIsDenied) {
  // truncate(2) needs no writable fd: only the TRUNCATE right (ABI 3) stops it.
  ASSERT_NO_FATAL_FAILURE(RequireAbi(3, "LANDLOCK_ACCESS_FS_TRUNCATE"));
  LandlockRules rules;
  std::string dir = MakeDir("ro");
  std::string file = MakeFile(dir, "file");
  rules.read_only = {dir};
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset));

  EXPECT_EQ(RunConfined(ruleset.get(), [&] { return truncate(file.c_str(), 0) == 0 ? 0 : errno; }),
            EACCES);
}

TEST_F(LandlockRulesetTest, TruncateOfReadWriteFileIsAllowed) {
  ASSERT_NO_FATAL_FAILURE(RequireAbi(3, "LANDLOCK_ACCESS_FS_TRUNCATE"));
  LandlockRules rules;
  std::string dir = MakeDir("rw");
  std::string file = MakeFile(dir, "file");
  rules.read_write = {dir};
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset));

  EXPECT_EQ(RunConfined(ruleset.get(), [&] { return truncate(file.c_str(), 0) == 0 ? 0 : errno; }),
            0);
}

TEST_F(LandlockRulesetTest, IoctlOnDeviceDeniedWithoutDeviceRule) {
  ASSERT_NO_FATAL_FAILURE(RequireAbi(5, "LANDLOCK_ACCESS_FS_IOCTL_DEV"));
  LandlockRules rules;
  rules.read_only = {"/dev/null"};  // opening is allowed, ioctl is not
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset));

  EXPECT_EQ(RunConfined(ruleset.get(), TcgetsOnDevNull), EACCES);
}

TEST_F(LandlockRulesetTest, IoctlOnDeviceAllowedWithDeviceRule) {
  ASSERT_NO_FATAL_FAILURE(RequireAbi(5, "LANDLOCK_ACCESS_FS_IOCTL_DEV"));
  LandlockRules rules;
  rules.devices = {"/dev/null"};
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset));

  // ENOTTY comes from the null driver: the ioctl got past Landlock.
  EXPECT_EQ(RunConfined(ruleset.get(), TcgetsOnDevNull), ENOTTY);
}

TEST_F(LandlockRulesetTest, SignalToProcessOutsideDomainIsDeniedByScope) {
  ASSERT_NO_FATAL_FAILURE(RequireAbi(6, "LANDLOCK_SCOPE_SIGNAL"));
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(LandlockRules(), &ruleset));

  // The parent (this test process) is outside the child's domain.
  EXPECT_EQ(RunConfined(ruleset.get(), [] { return kill(getppid(), 0) == 0 ? 0 : errno; }), EPERM);
}

TEST_F(LandlockRulesetTest, SignalToProcessOutsideDomainIsAllowedWhenScopesAreNotRequested) {
  LandlockRules rules;
  rules.scope_signals_and_abstract_unix = false;
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset));

  EXPECT_EQ(RunConfined(ruleset.get(), [] { return kill(getppid(), 0) == 0 ? 0 : errno; }), 0);
}

TEST_F(LandlockRulesetTest, AbstractUnixConnectOutsideDomainIsDenied) {
  ASSERT_NO_FATAL_FAILURE(RequireAbi(6, "LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET"));
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  // Abstract: leading NUL, named after the unique temp dir.
  std::string name =
      absl::StrCat("tether-landlock-test-", getpid(), "-", root_.substr(root_.rfind('/') + 1));
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  socklen_t length = offsetof(struct sockaddr_un, sun_path) + 1 + name.size();
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener.valid()) << "socket: " << std::strerror(errno);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<struct sockaddr*>(&addr), length), 0)
      << "bind: " << std::strerror(errno);
  ASSERT_EQ(listen(listener.get(), 4), 0) << "listen: " << std::strerror(errno);
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(LandlockRules(), &ruleset));

  EXPECT_EQ(RunConfined(ruleset.get(),
                        [&] {
                          int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                          if (fd < 0) return -errno;
                          int error =
                              connect(fd, reinterpret_cast<struct sockaddr*>(&addr), length) == 0
                                  ? 0
                                  : errno;
                          close(fd);
                          return error;
                        }),
            EPERM);
}

TEST_F(LandlockRulesetTest, TcpBindIsDeniedWhenTcpIsNotAllowed) {
  ASSERT_NO_FATAL_FAILURE(RequireAbi(4, "LANDLOCK_ACCESS_NET_BIND_TCP"));
  LandlockRules rules;
  rules.allow_tcp = false;
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset));

  EXPECT_EQ(RunConfined(ruleset.get(),
                        [] {
                          int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                          if (fd < 0) return -errno;
                          struct sockaddr_in addr = {};
                          addr.sin_family = AF_INET;
                          addr.sin_addr.s_addr = htonl(INADDR_ANY);
                          int error =
                              bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0
                                  ? 0
                                  : errno;
                          close(fd);
                          return error;
                        }),
            EACCES);
}

TEST_F(LandlockRulesetTest, RestrictingTcpBelowAbi4IsAnError) {
  LandlockRules rules;
  rules.allow_tcp = false;
  absl::StatusOr<UniqueFd> ruleset = BuildLandlockRuleset(rules, 3, MissingPath::kError);
  ASSERT_FALSE(ruleset.ok());
  EXPECT_EQ(ruleset.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(LandlockRulesetTest, RulesOnFilesAndDirectoriesAreAcceptedAtEveryAbi) {
  // Files only take file rights, and no rule may grant a right the ABI does
  // not handle: either mistake is EINVAL from landlock_add_rule.
  std::string dir = MakeDir("dir");
  std::string file = MakeFile(dir, "file");
  LandlockRules rules;
  rules.read_only = {dir, file};
  rules.read_write = {dir, file};
  rules.devices = {"/dev/null", dir};
  for (int abi = 1; abi <= abi_; ++abi) {
    absl::StatusOr<UniqueFd> ruleset = BuildLandlockRuleset(rules, abi, MissingPath::kError);
    EXPECT_TRUE(ruleset.ok()) << "ABI " << abi << ": " << ruleset.status();
  }
}

TEST_F(LandlockRulesetTest, MissingPathIsSkippedWhenAllowed) {
  std::string dir = MakeDir("ro");
  std::string file = MakeFile(dir, "file");
  LandlockRules rules;
  // The missing path comes first: the rules after it must still be added.
  rules.read_only = {root_ + "/missing", file + "/not-a-dir", dir};
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset, MissingPath::kSkip));

  EXPECT_EQ(RunConfined(ruleset.get(), [&] { return ReadFile(file); }), 0);
}

TEST_F(LandlockRulesetTest, MissingPathIsAnErrorWhenRequired) {
  std::string missing = root_ + "/missing";
  LandlockRules rules;
  rules.read_write = {missing};
  absl::StatusOr<UniqueFd> ruleset = BuildLandlockRuleset(rules, abi_, MissingPath::kError);
  ASSERT_FALSE(ruleset.ok());
  EXPECT_EQ(ruleset.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(ruleset.status().message().find(missing), absl::string_view::npos) << ruleset.status();
}

TEST_F(LandlockRulesetTest, RelativePathIsRejected) {
  LandlockRules rules;
  rules.read_only = {"usr/lib"};
  absl::StatusOr<UniqueFd> ruleset = BuildLandlockRuleset(rules, abi_, MissingPath::kSkip);
  ASSERT_FALSE(ruleset.ok());
  EXPECT_EQ(ruleset.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ruleset.status().message().find("usr/lib"), absl::string_view::npos)
      << ruleset.status();
}

TEST_F(LandlockRulesetTest, RulesetFdIsCloseOnExec) {
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(SystemReadOnly(), &ruleset, MissingPath::kSkip));

  int flags = fcntl(ruleset.get(), F_GETFD);
  ASSERT_GE(flags, 0) << "fcntl: " << std::strerror(errno);
  EXPECT_TRUE(flags & FD_CLOEXEC);
}

TEST_F(LandlockRulesetTest, BuildingARulesetLeavesTheCallerUnrestricted) {
  std::string outside = MakeDir("outside");
  LandlockRules rules;
  rules.read_only = {MakeDir("ro")};
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(rules, &ruleset));

  EXPECT_EQ(OpenAndClose(outside + "/new", O_WRONLY | O_CREAT), 0);
}

TEST_F(LandlockRulesetTest, RestrictSelfAppliesTheRuleset) {
  std::string outside = MakeFile(MakeDir("outside"), "file");
  UniqueFd ruleset;
  ASSERT_NO_FATAL_FAILURE(Build(LandlockRules(), &ruleset));

  pid_t pid = fork();
  ASSERT_GE(pid, 0) << "fork: " << std::strerror(errno);
  if (pid == 0) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(100);
    if (!RestrictSelf(ruleset.get()).ok()) _exit(101);
    _exit(OpenAndClose(outside, O_RDONLY));
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "wait status " << status;
  EXPECT_EQ(WEXITSTATUS(status), EACCES);
}

}  // namespace
}  // namespace tether::policy
