#include "policy/supervisor_seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "kernel/seccomp.h"
#include "policy/workload_seccomp.h"

namespace tether::policy {

const std::vector<std::string>& SupervisorDeniedSyscalls() {
  static const std::vector<std::string>* names = new std::vector<std::string>{"ptrace",
                                                                              "process_vm_readv",
                                                                              "process_vm_writev",
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
                                                                              "mount",
                                                                              "umount2",
                                                                              "pivot_root",
                                                                              "chroot",
                                                                              "swapon",
                                                                              "swapoff",
                                                                              "reboot",
                                                                              "acct",
                                                                              "io_uring_setup",
                                                                              "io_uring_enter",
                                                                              "io_uring_register",
                                                                              "open_by_handle_at",
                                                                              "personality",
                                                                              "setns",
                                                                              "unshare",
                                                                              "execve",
                                                                              "execveat"};
  return *names;
}

absl::StatusOr<std::vector<struct sock_filter>> CompileSupervisorFilter() {
  std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(seccomp_init(SCMP_ACT_ALLOW),
                                                       seccomp_release);
  if (ctx == nullptr) return absl::InternalError("libseccomp: seccomp_init failed");
  // The broker sets no_new_privs itself; syscalls of another ABI (i386,
  // x32) would bypass every rule, so they end the process.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  if (rc == 0) rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc != 0) return ErrnoStatus(-rc, "libseccomp: seccomp_attr_set");
  for (const std::string& name : SupervisorDeniedSyscalls()) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr < 0) continue;  // not on this architecture
    rc = seccomp_rule_add_exact(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc != 0) {
      return ErrnoStatus(-rc, absl::StrCat("libseccomp: seccomp_rule_add(", name, ")"));
    }
  }
  return ExportBpf(ctx.get());
}

absl::Status RestrictSelfWithSeccomp(const std::vector<struct sock_filter>& program) {
  int error = kernel::SetNoNewPrivsAndLoadSeccompFilter(program.data(), program.size());
  if (error != 0) return ErrnoStatus(error, "seccomp(SECCOMP_SET_MODE_FILTER)");
  return absl::OkStatus();
}

}  // namespace tether::policy
