// faultenv MODE -- CMD [ARGS...]
//
// Recreates, with the real kernel, a host that denies part of what tether
// wants, then execs CMD (normally the broker) inside it:
//
//   rootless         CAP_SETPCAP gone from the bounding, effective and permitted sets,
//                    so PR_CAPBSET_DROP gives EPERM (rootless Podman)
//   apparmor         CAP_SETPCAP held, but PR_CAPBSET_DROP gives EPERM
//                    (a seccomp errno filter stands in for the LSM)
//   gvisor           unshare(CLONE_NEWNET) and setns give EPERM,
//                    seccomp(SECCOMP_SET_MODE_FILTER) gives EINVAL
//   hardened         unshare(CLONE_NEWNET) gives EPERM, nothing else
//   predropped       uid/gid 1000, empty bounding set, setres*/setgroups kill
//   no-landlock      landlock_* give ENOSYS
//   nnp              no_new_privs already set
//
// Filters are installed as root, which needs no no_new_privs, so that the
// broker starts in exactly the state the mode describes.

#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

// A filter that answers `nr` (and, when arg_index >= 0, only calls whose
// argument equals `arg_value` under `arg_mask`) with `action`.
struct Rule {
  int nr;
  uint32_t action;
  int arg_index = -1;
  uint32_t arg_mask = 0xffffffff;
  uint32_t arg_value = 0;
};

void InstallFilter(const std::vector<Rule>& rules) {
  std::vector<sock_filter> program = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  };
  for (const Rule& rule : rules) {
    program.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
    if (rule.arg_index < 0) {
      program.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(rule.nr), 0, 1));
      program.push_back(BPF_STMT(BPF_RET | BPF_K, rule.action));
    } else {
      program.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(rule.nr), 0, 4));
      program.push_back(BPF_STMT(
          BPF_LD | BPF_W | BPF_ABS,
          static_cast<uint32_t>(offsetof(struct seccomp_data, args) + 8 * rule.arg_index)));
      program.push_back(BPF_STMT(BPF_ALU | BPF_AND | BPF_K, rule.arg_mask));
      program.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, rule.arg_value, 0, 1));
      program.push_back(BPF_STMT(BPF_RET | BPF_K, rule.action));
    }
  }
  program.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  struct sock_fprog prog = {static_cast<unsigned short>(program.size()), program.data()};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    std::perror("faultenv: seccomp");
    _exit(120);
  }
}

uint32_t Errno(int error) { return SECCOMP_RET_ERRNO | static_cast<uint32_t>(error); }

// Out of the bounding set too: a root exec would otherwise grant it again.
void DropSetpcap() {
  if (prctl(PR_CAPBSET_DROP, CAP_SETPCAP, 0, 0, 0) != 0) {
    std::perror("faultenv: PR_CAPBSET_DROP");
    _exit(121);
  }
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) _exit(121);
  data[0].effective &= ~(1u << CAP_SETPCAP);
  data[0].permitted &= ~(1u << CAP_SETPCAP);
  if (syscall(SYS_capset, &header, data) != 0) {
    std::perror("faultenv: capset");
    _exit(121);
  }
}

void BecomePreDropped() {
  for (int cap = 0; cap < 64; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;
    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  if (setgroups(0, nullptr) != 0 || setresgid(1000, 1000, 1000) != 0 ||
      setresuid(1000, 1000, 1000) != 0) {
    std::perror("faultenv: drop to 1000");
    _exit(122);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(122);
  std::vector<Rule> rules;
  for (int nr : {SYS_setresuid, SYS_setresgid, SYS_setuid, SYS_setgid, SYS_setreuid, SYS_setregid,
                 SYS_setgroups, SYS_setfsuid, SYS_setfsgid}) {
    rules.push_back({nr, SECCOMP_RET_KILL_PROCESS});
  }
  InstallFilter(rules);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || std::strcmp(argv[2], "--") != 0) {
    std::fprintf(stderr, "usage: faultenv MODE -- CMD [ARGS...]\n");
    return 64;
  }
  std::string mode = argv[1];
  if (mode == "rootless") {
    DropSetpcap();
  } else if (mode == "apparmor") {
    InstallFilter({{SYS_prctl, Errno(EPERM), 0, 0xffffffff, PR_CAPBSET_DROP}});
  } else if (mode == "gvisor") {
    InstallFilter({{SYS_unshare, Errno(EPERM), 0, CLONE_NEWNET, CLONE_NEWNET},
                   {SYS_setns, Errno(EPERM)},
                   {SYS_seccomp, Errno(EINVAL), 0, 0xffffffff, SECCOMP_SET_MODE_FILTER},
                   {SYS_prctl, Errno(EINVAL), 0, 0xffffffff, PR_SET_SECCOMP}});
  } else if (mode == "hardened") {
    InstallFilter({{SYS_unshare, Errno(EPERM), 0, CLONE_NEWNET, CLONE_NEWNET}});
  } else if (mode == "predropped") {
    BecomePreDropped();
  } else if (mode == "no-landlock") {
    InstallFilter({{SYS_landlock_create_ruleset, Errno(ENOSYS)},
                   {SYS_landlock_add_rule, Errno(ENOSYS)},
                   {SYS_landlock_restrict_self, Errno(ENOSYS)}});
  } else if (mode == "nnp") {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 123;
  } else {
    std::fprintf(stderr, "faultenv: unknown mode '%s'\n", mode.c_str());
    return 64;
  }
  execv(argv[3], argv + 3);
  std::perror("faultenv: execv");
  return 127;
}
