#include "policy/workload_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "ipc/limits.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

namespace tether::policy {
namespace {

constexpr unsigned kRequiredSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                     CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                     CLONE_NEWNET | CLONE_NEWTIME;

constexpr int kDeniedSocketFamilies[] = {AF_PACKET, AF_VSOCK, AF_BLUETOOTH};

// TIOCSTI fakes terminal input to the controlling terminal's owner;
// TIOCLINUX can do the same on virtual consoles.
constexpr unsigned long kDeniedIoctls[] = {TIOCSTI, TIOCLINUX};

using ContextPtr = std::unique_ptr<void, void (*)(scmp_filter_ctx)>;

absl::Status SeccompError(int rc, absl::string_view what) {
  return absl::ErrnoToStatus(-rc, absl::StrCat("libseccomp: ", what));
}

absl::Status Deny(scmp_filter_ctx ctx, int nr, absl::string_view name, int error,
                  std::initializer_list<scmp_arg_cmp> args = {}) {
  int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(error), nr, args.size(),
                                  args.size() ? args.begin() : nullptr);
  if (rc != 0) return SeccompError(rc, absl::StrCat("seccomp_rule_add(", name, ")"));
  return absl::OkStatus();
}

// Resolves a name for this architecture; nothing when the arch lacks it.
int Resolve(const std::string& name) { return seccomp_syscall_resolve_name(name.c_str()); }

absl::Status AddDefaultRules(scmp_filter_ctx ctx) {
  for (const std::string& name : DefaultDeniedSyscalls()) {
    int nr = Resolve(name);
    if (nr == __NR_SCMP_ERROR) continue;
    absl::Status status = Deny(ctx, nr, name, EPERM);
    if (!status.ok()) return status;
  }
  // clone3 passes its flags in memory, which BPF cannot read: ENOSYS makes
  // libcs fall back to clone, whose flags are an argument.
  absl::Status status = Deny(ctx, SCMP_SYS(clone3), "clone3", ENOSYS);
  for (int bit = 0; status.ok() && bit < 64; ++bit) {
    uint64_t flag = uint64_t{1} << bit;
    if (!(kNamespaceFlags & flag)) continue;
    status = Deny(ctx, SCMP_SYS(clone), "clone", EPERM, {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)});
  }
  // Only personality(PER_LINUX) passes. libseccomp allows one comparison
  // per argument in a rule, so the query value 0xffffffff cannot be carved
  // out of the denied range and is denied too. The kernel reads the
  // argument as 32 bits, so only those are compared.
  if (status.ok()) {
    status = Deny(ctx, SCMP_SYS(personality), "personality", EPERM,
                  {SCMP_A0_32(SCMP_CMP_NE, 0)});
  }
  for (unsigned long request : kDeniedIoctls) {
    if (!status.ok()) break;
    status = Deny(ctx, SCMP_SYS(ioctl), "ioctl", EPERM,
                  {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, request)});
  }
  for (int family : kDeniedSocketFamilies) {
    if (!status.ok()) break;
    status = Deny(ctx, SCMP_SYS(socket), "socket", EPERM,
                  {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family))});
    if (status.ok()) {
      status = Deny(ctx, SCMP_SYS(socketpair), "socketpair", EPERM,
                    {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family))});
    }
  }
  if (status.ok()) {
    status = Deny(ctx, SCMP_SYS(socket), "socket", EPERM,
                  {SCMP_A0(SCMP_CMP_EQ, AF_NETLINK), SCMP_A2(SCMP_CMP_NE, NETLINK_ROUTE)});
  }
  return status;
}

}  // namespace

const std::vector<std::string>& DefaultDeniedSyscalls() {
  static const std::vector<std::string>* names = new std::vector<std::string>{
      // Filesystem namespace changes.
      "mount", "umount", "umount2", "move_mount", "open_tree", "fsopen", "fsconfig",
      "fsmount", "fspick", "mount_setattr", "pivot_root", "chroot",
      // Other processes' memory.
      "ptrace", "process_vm_readv", "process_vm_writev",
      // The kernel itself.
      "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
      "bpf", "perf_event_open", "userfaultfd", "add_key", "request_key", "keyctl",
      // New namespaces.
      "unshare", "setns",
      // io_uring bypasses the syscall filter for what it submits.
      "io_uring_setup", "io_uring_enter", "io_uring_register",
      // Host state.
      "open_by_handle_at", "name_to_handle_at", "swapon", "swapoff", "reboot", "acct",
      "quotactl", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "iopl",
      "ioperm", "lookup_dcookie", "vhangup", "nfsservctl"};
  return *names;
}

absl::StatusOr<std::vector<struct sock_filter>> CompileWorkloadFilter(
    const WorkloadSeccompOptions& options) {
  ContextPtr ctx(seccomp_init(SCMP_ACT_ALLOW), seccomp_release);
  if (ctx == nullptr) return absl::InternalError("libseccomp: seccomp_init failed");
  // The stub sets no_new_privs itself as a planned step.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  if (rc != 0) return SeccompError(rc, "seccomp_attr_set(CTL_NNP)");
  absl::Status status = AddDefaultRules(ctx.get());
  if (!status.ok()) return status;
  for (const std::string& name : options.extra_denied_syscalls) {
    int nr = Resolve(name);
    if (nr == __NR_SCMP_ERROR) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown syscall '", name, "' in the denied syscalls"));
    }
    status = Deny(ctx.get(), nr, name, EPERM);
    if (!status.ok()) return status;
  }
  UniqueFd memfd(memfd_create("tether-seccomp-export", MFD_CLOEXEC));
  if (!memfd.valid()) return absl::ErrnoToStatus(errno, "memfd_create");
  rc = seccomp_export_bpf(ctx.get(), memfd.get());
  if (rc != 0) return SeccompError(rc, "seccomp_export_bpf");
  off_t size = lseek(memfd.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(struct sock_filter) != 0 ||
      static_cast<size_t>(size) > ipc::kMaxSeccompInstructions * sizeof(struct sock_filter)) {
    return absl::InternalError(absl::StrCat("libseccomp exported ", size, " bytes of BPF"));
  }
  std::vector<struct sock_filter> program(size / sizeof(struct sock_filter));
  if (pread(memfd.get(), program.data(), size, 0) != size) {
    return absl::ErrnoToStatus(errno, "pread(seccomp export)");
  }
  return program;
}

absl::StatusOr<UniqueFd> SealProgram(const std::vector<struct sock_filter>& program) {
  UniqueFd memfd(memfd_create("tether-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!memfd.valid()) return absl::ErrnoToStatus(errno, "memfd_create");
  size_t bytes = program.size() * sizeof(struct sock_filter);
  if (write(memfd.get(), program.data(), bytes) != static_cast<ssize_t>(bytes)) {
    return absl::ErrnoToStatus(errno, "write(seccomp memfd)");
  }
  if (fcntl(memfd.get(), F_ADD_SEALS, kRequiredSeals) != 0) {
    return absl::ErrnoToStatus(errno, "fcntl(F_ADD_SEALS)");
  }
  if (lseek(memfd.get(), 0, SEEK_SET) != 0) return absl::ErrnoToStatus(errno, "lseek");
  return memfd;
}

absl::StatusOr<std::vector<struct sock_filter>> ReadSealedProgram(int memfd) {
  int seals = fcntl(memfd, F_GET_SEALS);
  if (seals < 0) return absl::ErrnoToStatus(errno, "fcntl(F_GET_SEALS)");
  if ((static_cast<unsigned>(seals) & kRequiredSeals) != kRequiredSeals) {
    return absl::FailedPreconditionError("seccomp program memfd is not sealed");
  }
  struct stat st;
  if (fstat(memfd, &st) != 0) return absl::ErrnoToStatus(errno, "fstat");
  if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
      static_cast<size_t>(st.st_size) >
          ipc::kMaxSeccompInstructions * sizeof(struct sock_filter)) {
    return absl::InvalidArgumentError(
        absl::StrCat("seccomp program of ", st.st_size, " bytes is not a valid size"));
  }
  std::vector<struct sock_filter> program(st.st_size / sizeof(struct sock_filter));
  if (pread(memfd, program.data(), st.st_size, 0) != st.st_size) {
    return absl::ErrnoToStatus(errno, "pread(seccomp memfd)");
  }
  return program;
}

}  // namespace tether::policy
