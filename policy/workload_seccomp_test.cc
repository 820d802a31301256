#include "policy/workload_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
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

#include <functional>

#include <gtest/gtest.h>

namespace tether::policy {
namespace {

// Loads `program` in a forked child and returns the errno `attempt` left
// (0 for success); -1 when loading failed.
int ErrnoUnderFilter(const std::vector<sock_filter>& program,
                     const std::function<long()>& attempt) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return -2;
  pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    struct sock_fprog prog = {static_cast<unsigned short>(program.size()),
                              const_cast<sock_filter*>(program.data())};
    int result = -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0) {
      errno = 0;
      result = attempt() < 0 ? errno : 0;
    }
    (void)!write(pipe_fds[1], &result, sizeof(result));
    _exit(0);
  }
  close(pipe_fds[1]);
  int result = -3;
  (void)!read(pipe_fds[0], &result, sizeof(result));
  close(pipe_fds[0]);
  waitpid(pid, nullptr, 0);
  return result;
}

std::vector<sock_filter> DefaultProgram() {
  absl::StatusOr<std::vector<sock_filter>> program = CompileWorkloadFilter({});
  EXPECT_TRUE(program.ok()) << program.status();
  return program.ok() ? *program : std::vector<sock_filter>{};
}

int ErrnoOf(const std::function<long()>& attempt) {
  return ErrnoUnderFilter(DefaultProgram(), attempt);
}

TEST(WorkloadSeccompTest, MountFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] { return mount("none", "/tmp", "tmpfs", 0, nullptr); }), EPERM);
}

TEST(WorkloadSeccompTest, UnshareFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] { return unshare(CLONE_NEWUSER); }), EPERM);
}

TEST(WorkloadSeccompTest, SetnsFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] { return setns(0, 0); }), EPERM);
}

TEST(WorkloadSeccompTest, PtraceFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] { return ptrace(PTRACE_ATTACH, getppid(), nullptr, nullptr); }), EPERM);
}

TEST(WorkloadSeccompTest, BpfFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] { return syscall(SYS_bpf, 0, nullptr, 0); }), EPERM);
}

TEST(WorkloadSeccompTest, IoUringSetupFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] { return syscall(SYS_io_uring_setup, 1, nullptr); }), EPERM);
}

TEST(WorkloadSeccompTest, Clone3FailsWithEnosys) {
  EXPECT_EQ(ErrnoOf([] { return syscall(SYS_clone3, nullptr, 0); }), ENOSYS);
}

TEST(WorkloadSeccompTest, CloneWithNewNetFlagFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] {
              return syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, nullptr, nullptr, nullptr, 0);
            }),
            EPERM);
}

TEST(WorkloadSeccompTest, PlainForkStillWorks) {
  EXPECT_EQ(ErrnoOf([] {
              pid_t pid = fork();
              if (pid == 0) _exit(0);
              return pid < 0 ? -1L : static_cast<long>(waitpid(pid, nullptr, 0));
            }),
            0);
}

TEST(WorkloadSeccompTest, MemfdCreateStaysAllowed) {
  EXPECT_EQ(ErrnoOf([] { return static_cast<long>(memfd_create("x", 0)); }), 0);
}

TEST(WorkloadSeccompTest, PacketSocketFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] { return socket(AF_PACKET, SOCK_RAW, 0); }), EPERM);
}

TEST(WorkloadSeccompTest, VsockSocketFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] { return socket(40 /* AF_VSOCK */, SOCK_STREAM, 0); }), EPERM);
}

TEST(WorkloadSeccompTest, NetlinkRouteSocketIsAllowed) {
  EXPECT_EQ(ErrnoOf([] { return socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE); }), 0);
}

TEST(WorkloadSeccompTest, NetlinkAuditSocketFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] { return socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT); }), EPERM);
}

TEST(WorkloadSeccompTest, UnixSocketIsAllowed) {
  EXPECT_EQ(ErrnoOf([] { return socket(AF_UNIX, SOCK_STREAM, 0); }), 0);
}

TEST(WorkloadSeccompTest, TiocstiIoctlFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] {
              char c = 'x';
              return ioctl(STDIN_FILENO, TIOCSTI, &c);
            }),
            EPERM);
}

TEST(WorkloadSeccompTest, TiocstiWithHighBitsSetFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] {
              char c = 'x';
              return syscall(SYS_ioctl, STDIN_FILENO, 0xffffffff00000000ul | TIOCSTI, &c);
            }),
            EPERM);
}

TEST(WorkloadSeccompTest, PersonalityLinuxIsAllowed) {
  EXPECT_EQ(ErrnoOf([] { return static_cast<long>(personality(PER_LINUX)); }), 0);
}

TEST(WorkloadSeccompTest, PersonalityChangeHiddenInHighBitsFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] { return syscall(SYS_personality, 0x100000000ul | ADDR_NO_RANDOMIZE); }),
            EPERM);
}

TEST(WorkloadSeccompTest, PersonalityChangeFailsWithEperm) {
  EXPECT_EQ(ErrnoOf([] { return static_cast<long>(personality(ADDR_NO_RANDOMIZE)); }), EPERM);
}

TEST(WorkloadSeccompTest, ExtraDeniedSyscallIsDenied) {
  absl::StatusOr<std::vector<sock_filter>> program = CompileWorkloadFilter({{"uname"}});
  ASSERT_TRUE(program.ok()) << program.status();
  EXPECT_EQ(ErrnoUnderFilter(*program, [] {
              struct utsname name;
              return static_cast<long>(uname(&name));
            }),
            EPERM);
}

TEST(WorkloadSeccompTest, UnknownExtraSyscallIsAnError) {
  absl::StatusOr<std::vector<sock_filter>> program = CompileWorkloadFilter({{"no_such_call"}});
  ASSERT_FALSE(program.ok());
  EXPECT_NE(program.status().message().find("no_such_call"), absl::string_view::npos);
}

TEST(WorkloadSeccompTest, SealedProgramRoundTrips) {
  std::vector<sock_filter> program = DefaultProgram();
  absl::StatusOr<UniqueFd> sealed = SealProgram(program);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  absl::StatusOr<std::vector<sock_filter>> read_back = ReadSealedProgram(sealed->get());
  ASSERT_TRUE(read_back.ok()) << read_back.status();
  ASSERT_EQ(read_back->size(), program.size());
  EXPECT_EQ(memcmp(read_back->data(), program.data(), program.size() * sizeof(sock_filter)), 0);
}

TEST(WorkloadSeccompTest, SealedProgramCannotBeWritten) {
  absl::StatusOr<UniqueFd> sealed = SealProgram(DefaultProgram());
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_EQ(pwrite(sealed->get(), "x", 1, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(fcntl(sealed->get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(WorkloadSeccompTest, ReadSealedProgramRejectsUnsealedMemfd) {
  UniqueFd memfd(memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  std::vector<sock_filter> program = DefaultProgram();
  ASSERT_GT(write(memfd.get(), program.data(), program.size() * sizeof(sock_filter)), 0);
  EXPECT_FALSE(ReadSealedProgram(memfd.get()).ok());
}

}  // namespace
}  // namespace tether::policy
