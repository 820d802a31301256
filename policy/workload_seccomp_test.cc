#include "policy/workload_seccomp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ipc/unique_fd.h"
#include "tests/support/child_outcome.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace tether::policy {
namespace {

// Returned when the child never got to run the operation.
constexpr int kNotRun = INT_MIN;

// The kernel rejects this socket type with EINVAL before it looks at the
// family or the caller's privileges, so an unfiltered call fails the same
// way everywhere and creates nothing, while the filter, which looks only at
// the family and protocol, answers EAFNOSUPPORT.
constexpr int kNoSuchSocketType = 15;

// Set in the upper half of a 32-bit argument, which the kernel ignores.
constexpr unsigned long kUpperBit = 1UL << 32;

// 0 for success, else errno: what each operation below returns.
int Errno(long result) { return result == -1 ? errno : 0; }

using tether::test_support::ChildOutcome;

// Forks a child that, when `program` is given, sets no_new_privs and loads
// it, then runs `operation`. Stages 1 and 2 are prctl and seccomp failing.
ChildOutcome RunChild(const std::vector<sock_filter>* program, absl::FunctionRef<int()> operation) {
  return tether::test_support::RunInChild([&]() -> std::pair<int, int> {
    if (program != nullptr) {
      struct sock_fprog prog = {static_cast<unsigned short>(program->size()),
                                const_cast<sock_filter*>(program->data())};
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return {1, errno};
      if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return {2, errno};
    }
    return {0, operation()};
  });
}

// What `operation` returned in a child, or kNotRun with a test failure.
int ResultIn(const std::vector<sock_filter>* program, absl::FunctionRef<int()> operation) {
  ChildOutcome outcome = RunChild(program, operation);
  if (!outcome.report.has_value()) {
    ADD_FAILURE() << "the child died without reporting (wait status " << outcome.wait_status << ")";
    return kNotRun;
  }
  if (outcome.report->first != 0) {
    ADD_FAILURE() << "the child could not load the filter: "
                  << (outcome.report->first == 1 ? "prctl(PR_SET_NO_NEW_PRIVS)"
                                                 : "seccomp(SECCOMP_SET_MODE_FILTER)")
                  << ": " << std::strerror(outcome.report->second);
    return kNotRun;
  }
  return outcome.report->second;
}

int Unfiltered(absl::FunctionRef<int()> operation) { return ResultIn(nullptr, operation); }

int UnderFilter(const WorkloadSeccompOptions& options, absl::FunctionRef<int()> operation) {
  absl::StatusOr<std::vector<sock_filter>> program = CompileWorkloadFilter(options);
  if (!program.ok()) {
    ADD_FAILURE() << "CompileWorkloadFilter: " << program.status();
    return kNotRun;
  }
  return ResultIn(&*program, operation);
}

int UnderDefaultFilter(absl::FunctionRef<int()> operation) {
  return UnderFilter(WorkloadSeccompOptions(), operation);
}

// A memfd holding `bytes`, with `seals` added after writing them.
UniqueFd MemfdWith(const void* bytes, size_t size, unsigned seals) {
  UniqueFd memfd(memfd_create("test-program", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  EXPECT_TRUE(memfd.valid()) << "memfd_create: " << std::strerror(errno);
  if (size > 0) {
    EXPECT_EQ(pwrite(memfd.get(), bytes, size, 0), static_cast<ssize_t>(size))
        << std::strerror(errno);
  }
  if (seals != 0) {
    EXPECT_EQ(fcntl(memfd.get(), F_ADD_SEALS, seals), 0) << std::strerror(errno);
  }
  return memfd;
}

constexpr unsigned kAllSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

std::vector<sock_filter> DefaultProgram() {
  absl::StatusOr<std::vector<sock_filter>> program = CompileWorkloadFilter({});
  EXPECT_TRUE(program.ok()) << program.status();
  return program.ok() ? *program : std::vector<sock_filter>();
}

bool SameProgram(const std::vector<sock_filter>& a, const std::vector<sock_filter>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0;
}

// --- Filesystem and process isolation ---------------------------------------

TEST(WorkloadSeccompTest, MountFailsWithEperm) {
  // The kernel looks the target up before it checks privilege: ENOENT.
  auto mount_on_missing_target = [] {
    return Errno(mount("none", "/nonexistent-tether-mount-target", "tmpfs", 0, nullptr));
  };
  ASSERT_EQ(Unfiltered(mount_on_missing_target), ENOENT);
  EXPECT_EQ(UnderDefaultFilter(mount_on_missing_target), EPERM);
}

TEST(WorkloadSeccompTest, UnshareFailsWithEperm) {
  // Even unshare(0), a no-op the kernel always allows.
  auto unshare_nothing = [] { return Errno(unshare(0)); };
  ASSERT_EQ(Unfiltered(unshare_nothing), 0);
  EXPECT_EQ(UnderDefaultFilter(unshare_nothing), EPERM);
}

TEST(WorkloadSeccompTest, SetnsFailsWithEperm) {
  auto setns_bad_fd = [] { return Errno(setns(-1, 0)); };
  ASSERT_EQ(Unfiltered(setns_bad_fd), EBADF);
  EXPECT_EQ(UnderDefaultFilter(setns_bad_fd), EPERM);
}

TEST(WorkloadSeccompTest, PtraceFailsWithEperm) {
  // PTRACE_CONT on a process the child does not trace: ESRCH, and harmless.
  auto continue_parent = [] {
    return Errno(syscall(SYS_ptrace, PTRACE_CONT, getppid(), nullptr, nullptr));
  };
  ASSERT_EQ(Unfiltered(continue_parent), ESRCH);
  EXPECT_EQ(UnderDefaultFilter(continue_parent), EPERM);
}

TEST(WorkloadSeccompTest, Clone3FailsWithEnosys) {
  // A NULL, zero-sized clone_args: EINVAL from the kernel.
  auto clone3_without_args = [] { return Errno(syscall(SYS_clone3, nullptr, 0)); };
  ASSERT_EQ(Unfiltered(clone3_without_args), EINVAL);
  EXPECT_EQ(UnderDefaultFilter(clone3_without_args), ENOSYS);
}

struct NamedFlag {
  const char* name;
  unsigned long flag;
};

void PrintTo(const NamedFlag& flag, std::ostream* os) { *os << flag.name; }

class CloneNamespaceFlagTest : public testing::TestWithParam<NamedFlag> {};

TEST_P(CloneNamespaceFlagTest, CloneWithTheFlagFailsWithEperm) {
  // CLONE_THREAD without CLONE_SIGHAND: EINVAL before the kernel creates or
  // checks anything, so the call is harmless however it is answered.
  unsigned long flags = GetParam().flag | CLONE_THREAD;
  auto clone_with_flag = [flags] {
    return Errno(syscall(SYS_clone, flags, nullptr, nullptr, nullptr, nullptr));
  };
  ASSERT_EQ(Unfiltered(clone_with_flag), EINVAL);
  EXPECT_EQ(UnderDefaultFilter(clone_with_flag), EPERM);
}

INSTANTIATE_TEST_SUITE_P(EveryNamespace, CloneNamespaceFlagTest,
                         testing::Values(NamedFlag{"CLONE_NEWNS", CLONE_NEWNS},
                                         NamedFlag{"CLONE_NEWCGROUP", CLONE_NEWCGROUP},
                                         NamedFlag{"CLONE_NEWUTS", CLONE_NEWUTS},
                                         NamedFlag{"CLONE_NEWIPC", CLONE_NEWIPC},
                                         NamedFlag{"CLONE_NEWUSER", CLONE_NEWUSER},
                                         NamedFlag{"CLONE_NEWPID", CLONE_NEWPID},
                                         NamedFlag{"CLONE_NEWNET", CLONE_NEWNET},
                                         NamedFlag{"CLONE_NEWTIME", CLONE_NEWTIME}),
                         [](const testing::TestParamInfo<NamedFlag>& info) {
                           return std::string(info.param.name);
                         });

TEST(WorkloadSeccompTest, PlainForkStillWorks) {
  EXPECT_EQ(UnderDefaultFilter([] {
              pid_t pid = fork();
              if (pid < 0) return errno;
              if (pid == 0) _exit(0);
              int status = 0;
              if (waitpid(pid, &status, 0) != pid) return errno;
              return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : ECHILD;
            }),
            0);
}

void* DoNothing(void*) { return nullptr; }

TEST(WorkloadSeccompTest, ThreadCreationStillWorks) {
  // glibc tries clone3 first and falls back to clone on ENOSYS.
  EXPECT_EQ(UnderDefaultFilter([] {
              pthread_t thread;
              int error = pthread_create(&thread, nullptr, DoNothing, nullptr);
              if (error != 0) return error;
              return pthread_join(thread, nullptr);
            }),
            0);
}

TEST(WorkloadSeccompTest, MemfdCreateStaysAllowed) {
  EXPECT_EQ(UnderDefaultFilter([] {
              int fd = memfd_create("workload", MFD_CLOEXEC);
              if (fd < 0) return errno;
              close(fd);
              return 0;
            }),
            0);
}

// Every syscall the defaults must deny whatever the arguments, called with
// all arguments -1, which the kernel would reject were the filter to let one
// through (and after setsid, so that vhangup would find no terminal). Names
// this architecture lacks are skipped.
TEST(WorkloadSeccompTest, EverySyscallDeniedOutrightFailsWithEperm) {
  std::vector<sock_filter> program = DefaultProgram();
  ASSERT_FALSE(program.empty());
  for (const char* name : {"mount",
                           "umount2",
                           "move_mount",
                           "open_tree",
                           "fsopen",
                           "fsconfig",
                           "fsmount",
                           "fspick",
                           "mount_setattr",
                           "pivot_root",
                           "chroot",
                           "ptrace",
                           "process_vm_readv",
                           "process_vm_writev",
                           "pidfd_getfd",
                           "process_madvise",
                           "kexec_load",
                           "kexec_file_load",
                           "init_module",
                           "finit_module",
                           "delete_module",
                           "bpf",
                           "perf_event_open",
                           "userfaultfd",
                           "add_key",
                           "request_key",
                           "keyctl",
                           "unshare",
                           "setns",
                           "io_uring_setup",
                           "io_uring_enter",
                           "io_uring_register",
                           "open_by_handle_at",
                           "name_to_handle_at",
                           "swapon",
                           "swapoff",
                           "reboot",
                           "acct",
                           "quotactl",
                           "settimeofday",
                           "clock_settime",
                           "clock_adjtime",
                           "adjtimex",
                           "iopl",
                           "ioperm",
                           "lookup_dcookie",
                           "vhangup",
                           "nfsservctl"}) {
    SCOPED_TRACE(name);
    int nr = seccomp_syscall_resolve_name(name);
    if (nr < 0) continue;
    EXPECT_EQ(ResultIn(&program,
                       [nr] {
                         setsid();
                         return Errno(syscall(nr, -1L, -1L, -1L, -1L, -1L, -1L));
                       }),
              EPERM);
  }
}

// --- Sockets -----------------------------------------------------------------

struct NamedFamily {
  const char* name;
  int family;
};

void PrintTo(const NamedFamily& family, std::ostream* os) { *os << family.name; }

class RestrictedFamilyTest : public testing::TestWithParam<NamedFamily> {};

TEST_P(RestrictedFamilyTest, SocketFailsWithEafnosupport) {
  int family = GetParam().family;
  auto create = [family] { return Errno(socket(family, kNoSuchSocketType, 0)); };
  ASSERT_EQ(Unfiltered(create), EINVAL);
  EXPECT_EQ(UnderDefaultFilter(create), EAFNOSUPPORT);
}

TEST_P(RestrictedFamilyTest, SocketpairFailsWithEafnosupport) {
  int family = GetParam().family;
  auto create = [family] {
    int fds[2];
    return Errno(socketpair(family, kNoSuchSocketType, 0, fds));
  };
  ASSERT_EQ(Unfiltered(create), EINVAL);
  EXPECT_EQ(UnderDefaultFilter(create), EAFNOSUPPORT);
}

TEST_P(RestrictedFamilyTest, SocketWithUpperBitsInTheFamilyFailsWithEafnosupport) {
  // The kernel reads the family as an int and would see the same family.
  unsigned long family = kUpperBit | GetParam().family;
  auto create = [family] { return Errno(syscall(SYS_socket, family, kNoSuchSocketType, 0)); };
  ASSERT_EQ(Unfiltered(create), EINVAL);
  EXPECT_EQ(UnderDefaultFilter(create), EAFNOSUPPORT);
}

// Every family but the allowed ones, including those the kernel added
// lately (AF_XDP, AF_MCTP).
INSTANTIATE_TEST_SUITE_P(
    DeniedFamilies, RestrictedFamilyTest,
    testing::Values(NamedFamily{"AF_UNSPEC", 0}, NamedFamily{"AF_AX25", 3},
                    NamedFamily{"AF_APPLETALK", 5}, NamedFamily{"AF_X25", 9},
                    NamedFamily{"AF_KEY", 15}, NamedFamily{"AF_PACKET", AF_PACKET},
                    NamedFamily{"AF_RDS", 21}, NamedFamily{"AF_CAN", 29},
                    NamedFamily{"AF_TIPC", 30}, NamedFamily{"AF_BLUETOOTH", AF_BLUETOOTH},
                    NamedFamily{"AF_ALG", 38}, NamedFamily{"AF_VSOCK", AF_VSOCK},
                    NamedFamily{"AF_KCM", 41}, NamedFamily{"AF_SMC", 43}, NamedFamily{"AF_XDP", 44},
                    NamedFamily{"AF_MCTP", 45}),
    [](const testing::TestParamInfo<NamedFamily>& info) { return std::string(info.param.name); });

// AF_XDP exists on this kernel: with a real socket type the kernel itself
// answers (a socket for root, EPERM without CAP_NET_RAW); EAFNOSUPPORT shows
// that the filter decided.
TEST(WorkloadSeccompTest, XdpSocketIsStoppedByTheFilterNotTheKernel) {
  auto create = [] {
    int fd = socket(44, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    close(fd);
    return 0;
  };
  ASSERT_NE(Unfiltered(create), EAFNOSUPPORT) << "this kernel lacks AF_XDP";
  EXPECT_EQ(UnderDefaultFilter(create), EAFNOSUPPORT);
}

// The kernel reads the family as an int; a register with upper bits set is
// denied outright rather than compared by its low half only.
// The kernel's old spelling of a packet socket, reached through the
// allowed AF_INET family.
TEST(WorkloadSeccompTest, InetSockPacketIsDeniedAsThePacketFamilyItIs) {
  auto create = [] {
    int fd = socket(AF_INET, 10 /* SOCK_PACKET */ | SOCK_CLOEXEC, htons(3 /* ETH_P_ALL */));
    if (fd < 0) return errno;
    close(fd);
    return 0;
  };
  // Unfiltered, the kernel's packet code answers: a socket, or EPERM
  // without CAP_NET_RAW in the initial network namespace.
  int unfiltered = Unfiltered(create);
  ASSERT_NE(unfiltered, EAFNOSUPPORT);
  EXPECT_EQ(UnderDefaultFilter(create), EAFNOSUPPORT);
  WorkloadSeccompOptions options;
  options.allowed_socket_families = {AF_PACKET};
  EXPECT_EQ(UnderFilter(options, create), unfiltered);
}

TEST(WorkloadSeccompTest, AllowedFamilyWithUpperBitsSetIsDenied) {
  auto create = [] {
    long fd = syscall(SYS_socket, kUpperBit | AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    close(static_cast<int>(fd));
    return 0;
  };
  ASSERT_EQ(Unfiltered(create), 0);
  EXPECT_EQ(UnderDefaultFilter(create), EAFNOSUPPORT);
}

TEST(WorkloadSeccompTest, AllowedXdpFamilyReachesTheKernel) {
  auto create = [] { return Errno(socket(44, kNoSuchSocketType, 0)); };
  WorkloadSeccompOptions options;
  options.allowed_socket_families = {44};
  EXPECT_EQ(UnderFilter(options, create), Unfiltered(create));
  EXPECT_NE(UnderFilter(options, create), EAFNOSUPPORT);
}

TEST(WorkloadSeccompTest, IpSocketsAreAllowed) {
  for (int family : {AF_INET, AF_INET6}) {
    EXPECT_EQ(UnderDefaultFilter([family] {
                int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (fd < 0) return errno;
                close(fd);
                return 0;
              }),
              0)
        << "family " << family;
  }
}

TEST(WorkloadSeccompTest, PacketSocketFailsWithEafnosupport) {
  EXPECT_EQ(UnderDefaultFilter([] { return Errno(socket(AF_PACKET, SOCK_RAW, 0)); }), EAFNOSUPPORT);
}

TEST(WorkloadSeccompTest, NetlinkRouteSocketIsAllowed) {
  EXPECT_EQ(UnderDefaultFilter([] {
              int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
              if (fd < 0) return errno;
              close(fd);
              return 0;
            }),
            0);
}

TEST(WorkloadSeccompTest, NetlinkAuditSocketFailsWithEafnosupport) {
  auto create = [] { return Errno(socket(AF_NETLINK, kNoSuchSocketType, NETLINK_AUDIT)); };
  ASSERT_EQ(Unfiltered(create), EINVAL);
  EXPECT_EQ(UnderDefaultFilter(create), EAFNOSUPPORT);
}

TEST(WorkloadSeccompTest, AllowedNetlinkFamilyReachesTheKernel) {
  auto create = [] { return Errno(socket(AF_NETLINK, kNoSuchSocketType, NETLINK_AUDIT)); };
  WorkloadSeccompOptions options;
  options.allowed_socket_families = {AF_NETLINK};
  EXPECT_EQ(UnderFilter(options, create), EINVAL);
}

TEST(WorkloadSeccompTest, AllowingOneFamilyKeepsTheOthersDenied) {
  auto create = [] { return Errno(socket(AF_PACKET, kNoSuchSocketType, 0)); };
  WorkloadSeccompOptions options;
  options.allowed_socket_families = {AF_NETLINK};
  EXPECT_EQ(UnderFilter(options, create), EAFNOSUPPORT);
}

TEST(WorkloadSeccompTest, AllowedPacketFamilyReachesTheKernel) {
  auto create = [] { return Errno(socket(AF_PACKET, kNoSuchSocketType, 0)); };
  int unfiltered = Unfiltered(create);
  ASSERT_NE(unfiltered, 0);
  WorkloadSeccompOptions options;
  options.allowed_socket_families = {AF_PACKET};
  EXPECT_EQ(UnderFilter(options, create), unfiltered);
}

TEST(WorkloadSeccompTest, AnyFamilyCanBeNamed) {
  EXPECT_EQ(*ParseSocketFamily("AF_VSOCK"), 40);
  EXPECT_EQ(*ParseSocketFamily("AF_XDP"), 44);
  EXPECT_EQ(*ParseSocketFamily("AF_INET"), AF_INET);
  absl::StatusOr<int> bogus = ParseSocketFamily("AF_NOPE");
  ASSERT_FALSE(bogus.ok());
  EXPECT_NE(bogus.status().message().find("'AF_NOPE' is not an address family"),
            absl::string_view::npos);
}

TEST(WorkloadSeccompTest, UnixSocketIsAllowed) {
  EXPECT_EQ(UnderDefaultFilter([] {
              int fds[2];
              if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return errno;
              close(fds[0]);
              close(fds[1]);
              return 0;
            }),
            0);
}

// --- ioctl and personality ----------------------------------------------------

TEST(WorkloadSeccompTest, TiocstiIoctlFailsWithEperm) {
  auto inject = [] {
    char c = 'x';
    return Errno(ioctl(-1, TIOCSTI, &c));
  };
  ASSERT_EQ(Unfiltered(inject), EBADF);
  EXPECT_EQ(UnderDefaultFilter(inject), EPERM);
}

TEST(WorkloadSeccompTest, TioclinuxIoctlFailsWithEperm) {
  auto console = [] {
    char subcode = 0;
    return Errno(ioctl(-1, TIOCLINUX, &subcode));
  };
  ASSERT_EQ(Unfiltered(console), EBADF);
  EXPECT_EQ(UnderDefaultFilter(console), EPERM);
}

TEST(WorkloadSeccompTest, TiocstiIoctlWithUpperBitsSetFailsWithEperm) {
  // The kernel reads the request as 32 bits and would see TIOCSTI.
  auto inject = [] {
    char c = 'x';
    return Errno(syscall(SYS_ioctl, -1, kUpperBit | TIOCSTI, &c));
  };
  ASSERT_EQ(Unfiltered(inject), EBADF);
  EXPECT_EQ(UnderDefaultFilter(inject), EPERM);
}

TEST(WorkloadSeccompTest, OtherIoctlsReachTheKernel) {
  int available = 0;
  EXPECT_EQ(UnderDefaultFilter([&available] { return Errno(ioctl(-1, FIONREAD, &available)); }),
            EBADF);
}

TEST(WorkloadSeccompTest, PersonalityQueryIsAllowed) {
  EXPECT_EQ(UnderDefaultFilter([] { return Errno(personality(0xffffffff)); }), 0);
}

TEST(WorkloadSeccompTest, PersonalityLinuxIsAllowed) {
  EXPECT_EQ(UnderDefaultFilter([] { return Errno(personality(PER_LINUX)); }), 0);
}

TEST(WorkloadSeccompTest, PersonalityChangeFailsWithEperm) {
  // The kernel accepts any value: unfiltered, each of these succeeds.
  for (unsigned long persona : {0x1UL, 0x2UL, static_cast<unsigned long>(ADDR_NO_RANDOMIZE),
                                static_cast<unsigned long>(PER_LINUX32), 0x7fffffffUL, 0x80000000UL,
                                0xfffffffeUL, 0x55555555UL, kUpperBit | ADDR_NO_RANDOMIZE}) {
    SCOPED_TRACE(persona);
    auto change = [persona] { return Errno(syscall(SYS_personality, persona)); };
    ASSERT_EQ(Unfiltered(change), 0);
    EXPECT_EQ(UnderDefaultFilter(change), EPERM);
  }
}

// --- Options -------------------------------------------------------------------

TEST(WorkloadSeccompTest, ExtraDeniedSyscallIsDenied) {
  auto call_uname = [] {
    struct utsname name;
    return Errno(uname(&name));
  };
  ASSERT_EQ(UnderDefaultFilter(call_uname), 0);
  WorkloadSeccompOptions options;
  options.extra_denied_syscalls = {"uname"};
  EXPECT_EQ(UnderFilter(options, call_uname), EPERM);
}

TEST(WorkloadSeccompTest, UnknownExtraSyscallIsAnError) {
  WorkloadSeccompOptions options;
  options.extra_denied_syscalls = {"uname", "no_such_syscall"};
  absl::StatusOr<std::vector<sock_filter>> program = CompileWorkloadFilter(options);
  EXPECT_EQ(program.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(program.status().message().find("no_such_syscall"), std::string::npos)
      << program.status();
}

TEST(WorkloadSeccompTest, ExtraDenialOfASyscallTheStubMakesUnderTheFilterIsAnError) {
  for (const std::string& name : SyscallsTheStubMakesUnderTheFilter()) {
    ASSERT_GE(seccomp_syscall_resolve_name(name.c_str()), 0) << name << " is no syscall here";
    WorkloadSeccompOptions options;
    options.extra_denied_syscalls = {"uname", name};
    absl::StatusOr<std::vector<sock_filter>> program = CompileWorkloadFilter(options);
    EXPECT_EQ(program.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_NE(program.status().message().find("'" + name + "' cannot be denied"), std::string::npos)
        << program.status();
  }
}

TEST(WorkloadSeccompTest, ExtraDenialOfSendmmsgIsAccepted) {
  WorkloadSeccompOptions options;
  options.extra_denied_syscalls = {"sendmmsg"};
  EXPECT_TRUE(CompileWorkloadFilter(options).ok());
}

TEST(WorkloadSeccompTest, ExtraSyscallWithNulByteIsAnError) {
  WorkloadSeccompOptions options;
  options.extra_denied_syscalls = {std::string("uname\0mount", 11)};
  EXPECT_EQ(CompileWorkloadFilter(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WorkloadSeccompTest, ExtraSyscallThisArchitectureLacksIsIgnored) {
  // x86_64, where the project runs, has no socketcall (i386 does).
  ASSERT_LT(seccomp_syscall_resolve_name("socketcall"), 0)
      << "this test needs an architecture without socketcall";
  WorkloadSeccompOptions options;
  options.extra_denied_syscalls = {"socketcall"};
  absl::StatusOr<std::vector<sock_filter>> program = CompileWorkloadFilter(options);
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_TRUE(SameProgram(*program, DefaultProgram()));
}

TEST(WorkloadSeccompTest, ExtraDenialOfClone3KeepsEnosys) {
  WorkloadSeccompOptions options;
  options.extra_denied_syscalls = {"clone3"};
  EXPECT_EQ(UnderFilter(options, [] { return Errno(syscall(SYS_clone3, nullptr, 0)); }), ENOSYS);
}

#if defined(__x86_64__)
TEST(WorkloadSeccompTest, X32SyscallKillsTheProcess) {
  // x32 syscall numbers would match none of the rules, which are written
  // for x86_64 numbers.
  constexpr long kX32SyscallBit = 0x40000000;
  std::vector<sock_filter> program = DefaultProgram();
  ChildOutcome outcome =
      RunChild(&program, [] { return Errno(syscall(kX32SyscallBit | SYS_getpid)); });
  EXPECT_FALSE(outcome.report.has_value());
  ASSERT_TRUE(WIFSIGNALED(outcome.wait_status)) << "wait status " << outcome.wait_status;
  EXPECT_EQ(WTERMSIG(outcome.wait_status), SIGSYS);
}
#endif

// --- The program and its memfd ---------------------------------------------------

TEST(WorkloadSeccompTest, DefaultProgramFitsTheKernelLimit) {
  std::vector<sock_filter> program = DefaultProgram();
  EXPECT_GT(program.size(), 0u);
  EXPECT_LE(program.size(), 4096u);
}

TEST(WorkloadSeccompTest, DefaultDeniedSyscallsAreSyscallsOfThisArchitecture) {
  const std::vector<std::string>& names = DefaultDeniedSyscalls();
  for (const char* expected : {"mount", "ptrace", "bpf", "unshare", "clone", "clone3",
                               "io_uring_setup", "personality", "ioctl", "socket"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  for (const std::string& name : names) {
    EXPECT_GE(seccomp_syscall_resolve_name(name.c_str()), 0) << name;
  }
  EXPECT_EQ(std::find(names.begin(), names.end(), "memfd_create"), names.end());
}

TEST(WorkloadSeccompTest, SealedProgramRoundTrips) {
  std::vector<sock_filter> program = DefaultProgram();
  absl::StatusOr<UniqueFd> sealed = SealProgram(program);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  absl::StatusOr<std::vector<sock_filter>> read_back = ReadSealedProgram(sealed->get());
  ASSERT_TRUE(read_back.ok()) << read_back.status();
  EXPECT_TRUE(SameProgram(*read_back, program));
}

TEST(WorkloadSeccompTest, SealedProgramIsReadFromOffsetZero) {
  std::vector<sock_filter> program = DefaultProgram();
  absl::StatusOr<UniqueFd> sealed = SealProgram(program);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_EQ(lseek(sealed->get(), 0, SEEK_CUR), 0);
  ASSERT_TRUE(ReadSealedProgram(sealed->get()).ok());
  // Reading back leaves the offset where the receiver expects it.
  EXPECT_EQ(lseek(sealed->get(), 0, SEEK_CUR), 0);
  sock_filter first;
  ASSERT_EQ(read(sealed->get(), &first, sizeof(first)), static_cast<ssize_t>(sizeof(first)));
  EXPECT_EQ(std::memcmp(&first, &program[0], sizeof(first)), 0);
}

TEST(WorkloadSeccompTest, SealedProgramIsCloseOnExec) {
  absl::StatusOr<UniqueFd> sealed = SealProgram(DefaultProgram());
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_NE(fcntl(sealed->get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(WorkloadSeccompTest, SealedProgramCannotBeWritten) {
  absl::StatusOr<UniqueFd> sealed = SealProgram(DefaultProgram());
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  sock_filter allow_all = {BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW};
  EXPECT_EQ(Errno(pwrite(sealed->get(), &allow_all, sizeof(allow_all), 0)), EPERM);
  EXPECT_EQ(Errno(write(sealed->get(), &allow_all, sizeof(allow_all))), EPERM);
  void* mapping =
      mmap(nullptr, sizeof(allow_all), PROT_READ | PROT_WRITE, MAP_SHARED, sealed->get(), 0);
  EXPECT_EQ(mapping, MAP_FAILED);
  EXPECT_EQ(errno, EPERM);
  if (mapping != MAP_FAILED) munmap(mapping, sizeof(allow_all));
}

TEST(WorkloadSeccompTest, SealedProgramCannotBeResized) {
  std::vector<sock_filter> program = DefaultProgram();
  absl::StatusOr<UniqueFd> sealed = SealProgram(program);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  off_t size = program.size() * sizeof(sock_filter);
  EXPECT_EQ(Errno(ftruncate(sealed->get(), size - sizeof(sock_filter))), EPERM);
  EXPECT_EQ(Errno(ftruncate(sealed->get(), size + sizeof(sock_filter))), EPERM);
  EXPECT_EQ(Errno(fallocate(sealed->get(), 0, size, sizeof(sock_filter))), EPERM);
}

TEST(WorkloadSeccompTest, SealedProgramSealsAreFinal) {
  absl::StatusOr<UniqueFd> sealed = SealProgram(DefaultProgram());
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_EQ(Errno(fcntl(sealed->get(), F_ADD_SEALS, F_SEAL_FUTURE_WRITE)), EPERM);
}

TEST(WorkloadSeccompTest, ProgramReadBackFromItsMemfdLoadsAndDenies) {
  absl::StatusOr<UniqueFd> sealed = SealProgram(DefaultProgram());
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  absl::StatusOr<std::vector<sock_filter>> program = ReadSealedProgram(sealed->get());
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ(ResultIn(&*program, [] { return Errno(unshare(0)); }), EPERM);
}

TEST(WorkloadSeccompTest, SealProgramRejectsAnEmptyProgram) {
  EXPECT_EQ(SealProgram({}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WorkloadSeccompTest, SealProgramRejectsAProgramOverTheKernelLimit) {
  std::vector<sock_filter> program(4097, sock_filter{BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW});
  EXPECT_EQ(SealProgram(program).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WorkloadSeccompTest, ReadSealedProgramRejectsUnsealedMemfd) {
  std::vector<sock_filter> program = DefaultProgram();
  UniqueFd memfd = MemfdWith(program.data(), program.size() * sizeof(sock_filter), 0);
  absl::StatusOr<std::vector<sock_filter>> read_back = ReadSealedProgram(memfd.get());
  EXPECT_EQ(read_back.status().code(), absl::StatusCode::kFailedPrecondition) << read_back.status();
}

TEST(WorkloadSeccompTest, ReadSealedProgramRejectsMemfdStillWritable) {
  std::vector<sock_filter> program = DefaultProgram();
  UniqueFd memfd = MemfdWith(program.data(), program.size() * sizeof(sock_filter),
                             F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW);
  absl::StatusOr<std::vector<sock_filter>> read_back = ReadSealedProgram(memfd.get());
  EXPECT_EQ(read_back.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(read_back.status().message().find("F_SEAL_WRITE"), std::string::npos)
      << read_back.status();
}

TEST(WorkloadSeccompTest, ReadSealedProgramRejectsEmptyMemfd) {
  UniqueFd memfd = MemfdWith(nullptr, 0, kAllSeals);
  EXPECT_EQ(ReadSealedProgram(memfd.get()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WorkloadSeccompTest, ReadSealedProgramRejectsPartialInstruction) {
  std::vector<sock_filter> program = DefaultProgram();
  UniqueFd memfd = MemfdWith(program.data(), sizeof(sock_filter) + 4, kAllSeals);
  EXPECT_EQ(ReadSealedProgram(memfd.get()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WorkloadSeccompTest, ReadSealedProgramRejectsProgramOverTheKernelLimit) {
  std::vector<sock_filter> program(4097, sock_filter{BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW});
  UniqueFd memfd = MemfdWith(program.data(), program.size() * sizeof(sock_filter), kAllSeals);
  EXPECT_EQ(ReadSealedProgram(memfd.get()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WorkloadSeccompTest, ReadSealedProgramRejectsAPipe) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  EXPECT_FALSE(ReadSealedProgram(read_end.get()).ok());
}

}  // namespace
}  // namespace tether::policy
