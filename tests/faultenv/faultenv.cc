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
//   no-pidns         clone and unshare with CLONE_NEWPID give EPERM, clone3
//                    gives ENOSYS (seccomp cannot read its flags, so callers
//                    fall back to clone)
//   no-mountns       the same for CLONE_NEWNS
//   no-ipc-uts-cgroupns  the same for CLONE_NEWIPC, CLONE_NEWUTS and
//                    CLONE_NEWCGROUP
//   masked-proc      a container (Docker, Kubernetes) whose /proc has masked
//                    paths: CMD runs as uid 0 with every capability in a new
//                    user, mount and network namespace (ids 0..4294967294 map
//                    to themselves), where the kernel refuses a fresh procfs
//                    mount as "too revealing"; no seccomp filter
//   ro-cgroup        a container whose cgroup tree is mounted read-only (as
//                    Docker and Kubernetes mount it for unprivileged
//                    containers on cgroup v1): CMD runs as root with every
//                    capability in a private mount namespace where every
//                    mount at or under /sys/fs/cgroup (each v1 hierarchy, the
//                    cgroup2 mount and the tmpfs holding them) is read-only,
//                    so mkdir and writes there give EROFS; the host's own
//                    mounts stay writable; no seccomp filter
//   no-userns        a runtime's seccomp profile: clone and unshare with
//                    CLONE_NEWUSER give EPERM, clone3 gives ENOSYS; then as
//                    predropped (uid 1000), so no namespace can be made
//   max-userns-0     a user namespace (identity maps) whose
//                    user.max_user_namespaces is 0, CMD as uid 1000 in it as
//                    predropped: a new user namespace gives ENOSPC
//
// Filters are installed as root, which needs no no_new_privs, so that the
// broker starts in exactly the state the mode describes.
//
// Exit codes when a mode cannot be set up (CMD never runs):
//   64   usage or unknown mode
//   116  max-userns-0: user.max_user_namespaces could not be set to 0
//   117  ro-cgroup: the private mount namespace, no cgroup mount found, or
//        one that could not be made read-only
//   118  masked-proc: the private mount namespace or the masks over /proc
//   119  masked-proc, max-userns-0: the user namespace or its id maps
//   120  seccomp filter refused
//   121  rootless: CAP_SETPCAP could not be dropped
//   122  predropped: could not become uid/gid 1000
//   123  nnp: no_new_privs could not be set
//   127  CMD could not be executed

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <initializer_list>
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

// The host refuses to create namespaces of type `flag`. clone3 passes its
// flags in memory, out of seccomp's reach, so it is refused outright with
// ENOSYS, which glibc and tether treat as "use clone".
void DenyNamespaces(std::initializer_list<uint32_t> flags) {
  std::vector<Rule> rules;
  for (uint32_t flag : flags) {
    rules.push_back({SYS_clone, Errno(EPERM), 0, flag, flag});
    rules.push_back({SYS_unshare, Errno(EPERM), 0, flag, flag});
  }
  rules.push_back({SYS_clone3, Errno(ENOSYS)});
  InstallFilter(rules);
}

constexpr int kExitReadOnlyCgroupFailed = 117;
constexpr int kExitSysctlFailed = 116;
constexpr int kExitMaskFailed = 118;
constexpr int kExitUserNsFailed = 119;

bool WriteFile(const std::string& path, const std::string& contents) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size());
  return close(fd) == 0 && ok;
}

std::string ReadFile(const std::string& path) {
  std::string contents;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return contents;
  char buffer[256];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) contents.append(buffer, n);
  close(fd);
  return contents;
}

// Docker's masked paths: files are covered with /dev/null, directories with
// an empty read-only tmpfs. Done in a private mount namespace of the initial
// user namespace, so that the host is untouched and the masks become locked
// (MNT_LOCKED) once copied into the container's mount namespace: only locked
// mounts make /proc "not fully visible" to the kernel.
void MaskProc() {
  if (unshare(CLONE_NEWNS) != 0) {
    std::perror("faultenv: unshare(CLONE_NEWNS)");
    _exit(kExitMaskFailed);
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::perror("faultenv: make / private");
    _exit(kExitMaskFailed);
  }
  int masked = 0;
  for (const char* path :
       {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats",
        "/proc/timer_stats", "/proc/acpi", "/proc/scsi", "/proc/asound"}) {
    struct stat st;
    if (lstat(path, &st) != 0) continue;
    int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs",
                                         MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr)
                                 : mount("/dev/null", path, nullptr, MS_BIND, nullptr);
    if (rc != 0) {
      std::fprintf(stderr, "faultenv: mask %s: %s\n", path, std::strerror(errno));
      _exit(kExitMaskFailed);
    }
    ++masked;
  }
  if (masked == 0) {
    std::fprintf(stderr, "faultenv: no /proc path to mask\n");
    _exit(kExitMaskFailed);
  }
}

// A process inside a fresh user namespace may map only its own id, so a
// helper left in the parent namespace, where it holds CAP_SETUID and
// CAP_SETGID, writes the identity maps for us.
void EnterIdentityUserNamespace(int other_namespaces) {
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) {
    std::perror("faultenv: pipe");
    _exit(kExitUserNsFailed);
  }
  pid_t target = getpid();
  pid_t helper = fork();
  if (helper < 0) {
    std::perror("faultenv: fork");
    _exit(kExitUserNsFailed);
  }
  if (helper == 0) {
    close(go[1]);
    char byte;
    if (read(go[0], &byte, 1) != 1) _exit(1);
    std::string proc = "/proc/" + std::to_string(target);
    if (!WriteFile(proc + "/uid_map", "0 0 4294967295\n")) {
      std::perror("faultenv: uid_map");
      _exit(1);
    }
    // Inherited as "deny" only from a parent that denies it, in which case
    // "allow" is refused; a privileged writer otherwise keeps it allowed.
    if (ReadFile(proc + "/setgroups").rfind("allow", 0) != 0 &&
        !WriteFile(proc + "/setgroups", "allow\n")) {
      std::perror("faultenv: setgroups allow");
      _exit(1);
    }
    if (!WriteFile(proc + "/gid_map", "0 0 4294967295\n")) {
      std::perror("faultenv: gid_map");
      _exit(1);
    }
    _exit(0);
  }
  close(go[0]);
  int unshared = unshare(CLONE_NEWUSER | other_namespaces);
  int unshare_errno = errno;
  if (unshared == 0 && write(go[1], "x", 1) != 1) unshared = -1;
  close(go[1]);
  int status = 0;
  while (waitpid(helper, &status, 0) < 0 && errno == EINTR) {
  }
  if (unshared != 0) {
    errno = unshare_errno;
    std::perror("faultenv: unshare(CLONE_NEWUSER)");
    _exit(kExitUserNsFailed);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "faultenv: could not write the id maps\n");
    _exit(kExitUserNsFailed);
  }
}

void BecomeMaskedProcContainer() {
  MaskProc();
  EnterIdentityUserNamespace(CLONE_NEWNS | CLONE_NEWNET);
  // The copied mounts are private already; keep it so whatever the host did.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::perror("faultenv: make / private in the container");
    _exit(kExitMaskFailed);
  }
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountPath(const std::string& field) {
  std::string path;
  for (size_t i = 0; i < field.size(); ++i) {
    auto octal = [&](size_t at) { return field[at] >= '0' && field[at] <= '7'; };
    if (field[i] == '\\' && i + 3 < field.size() && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      path.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                       (field[i + 3] - '0')));
      i += 3;
    } else {
      path.push_back(field[i]);
    }
  }
  return path;
}

struct MountPoint {
  std::string path;
  std::string type;
  unsigned long flags;  // MS_NOSUID, MS_NODEV, MS_NOEXEC as mounted
};

// Every mount at or under /sys/fs/cgroup.
std::vector<MountPoint> CgroupTreeMounts() {
  std::vector<MountPoint> found;
  std::string mountinfo = ReadFile("/proc/self/mountinfo");
  size_t start = 0;
  while (start < mountinfo.size()) {
    size_t end = mountinfo.find('\n', start);
    if (end == std::string::npos) end = mountinfo.size();
    std::vector<std::string> fields;
    size_t field_start = start;
    for (size_t i = start; i <= end; ++i) {
      if (i == end || mountinfo[i] == ' ') {
        fields.push_back(mountinfo.substr(field_start, i - field_start));
        field_start = i + 1;
      }
    }
    start = end + 1;
    size_t separator = 0;
    while (separator < fields.size() && fields[separator] != "-") ++separator;
    if (fields.size() < 6 || separator + 1 >= fields.size()) continue;
    std::string path = UnescapeMountPath(fields[4]);
    if (path != "/sys/fs/cgroup" && path.rfind("/sys/fs/cgroup/", 0) != 0) continue;
    unsigned long flags = 0;
    std::string options = "," + fields[5] + ",";
    if (options.find(",nosuid,") != std::string::npos) flags |= MS_NOSUID;
    if (options.find(",nodev,") != std::string::npos) flags |= MS_NODEV;
    if (options.find(",noexec,") != std::string::npos) flags |= MS_NOEXEC;
    found.push_back({path, fields[separator + 1], flags});
  }
  return found;
}

// The mount at `path` read-only, for this mount namespace only (a mount's
// own flag, not its superblock's): mount_setattr, or on kernels before 5.12
// a read-only bind remount that keeps the other flags.
bool MakeMountReadOnly(const MountPoint& mount_point) {
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  if (syscall(SYS_mount_setattr, AT_FDCWD, mount_point.path.c_str(), AT_SYMLINK_NOFOLLOW, &attr,
              sizeof(attr)) == 0) {
    return true;
  }
  if (errno != ENOSYS) return false;
  return mount(nullptr, mount_point.path.c_str(), nullptr,
               MS_REMOUNT | MS_BIND | MS_RDONLY | mount_point.flags, nullptr) == 0;
}

void BecomeReadOnlyCgroupContainer() {
  if (unshare(CLONE_NEWNS) != 0) {
    std::perror("faultenv: unshare(CLONE_NEWNS)");
    _exit(kExitReadOnlyCgroupFailed);
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::perror("faultenv: make / private");
    _exit(kExitReadOnlyCgroupFailed);
  }
  int cgroup_mounts = 0;
  for (const MountPoint& mount_point : CgroupTreeMounts()) {
    if (!MakeMountReadOnly(mount_point)) {
      std::fprintf(stderr, "faultenv: make %s read-only: %s\n", mount_point.path.c_str(),
                   std::strerror(errno));
      _exit(kExitReadOnlyCgroupFailed);
    }
    // What the broker will find: the kernel's word, not the call's.
    struct statvfs st;
    if (statvfs(mount_point.path.c_str(), &st) != 0 || (st.f_flag & ST_RDONLY) == 0) {
      std::fprintf(stderr, "faultenv: %s is still writable\n", mount_point.path.c_str());
      _exit(kExitReadOnlyCgroupFailed);
    }
    if (mount_point.type == "cgroup" || mount_point.type == "cgroup2") ++cgroup_mounts;
  }
  if (cgroup_mounts == 0) {
    std::fprintf(stderr, "faultenv: no cgroup mount under /sys/fs/cgroup\n");
    _exit(kExitReadOnlyCgroupFailed);
  }
}

// The limit is per user namespace and counts in every ancestor: set to 0
// in a namespace of our own, it refuses any user namespace made in it
// (ENOSPC), while the host's stays as it is.
void BecomeMaxUserNamespacesZero() {
  EnterIdentityUserNamespace(0);
  if (!WriteFile("/proc/sys/user/max_user_namespaces", "0\n")) {
    std::perror("faultenv: user.max_user_namespaces = 0");
    _exit(kExitSysctlFailed);
  }
  BecomePreDropped();
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
  } else if (mode == "no-pidns") {
    DenyNamespaces({CLONE_NEWPID});
  } else if (mode == "no-mountns") {
    DenyNamespaces({CLONE_NEWNS});
  } else if (mode == "no-ipc-uts-cgroupns") {
    DenyNamespaces({CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP});
  } else if (mode == "masked-proc") {
    BecomeMaskedProcContainer();
  } else if (mode == "ro-cgroup") {
    BecomeReadOnlyCgroupContainer();
  } else if (mode == "no-userns") {
    DenyNamespaces({CLONE_NEWUSER});
    BecomePreDropped();
  } else if (mode == "max-userns-0") {
    BecomeMaxUserNamespacesZero();
  } else {
    std::fprintf(stderr, "faultenv: unknown mode '%s'\n", mode.c_str());
    return 64;
  }
  execv(argv[3], argv + 3);
  std::perror("faultenv: execv");
  return 127;
}
