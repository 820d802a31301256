#include "broker/namespaces.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "ipc/unique_fd.h"

namespace tether::broker {
namespace {

// A process's /proc/<pid>/ns, opened once: each namespace is then looked up
// in it, not from /proc down again.
class NamespaceDirectory {
 public:
  static absl::StatusOr<NamespaceDirectory> Open(std::string path) {
    UniqueFd fd(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open(", path, ")"));
    return NamespaceDirectory(std::move(path), std::move(fd));
  }

  absl::StatusOr<ino_t> Inode(const char* name) const {
    struct stat st;
    if (fstatat(fd_.get(), name, &st, 0) != 0) {
      return ErrnoStatus(errno, absl::StrCat("stat(", path_, "/", name, ")"));
    }
    return st.st_ino;
  }

 private:
  NamespaceDirectory(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
};

}  // namespace

namespace {

// The fallback a refused user namespace leaves a non-root broker: no
// namespace at all, and no way to clear the bounding set.
constexpr char kWithoutNamespaces[] =
    "--best-effort user_namespace,pid_namespace,mount_namespace,ipc_namespace,uts_namespace,"
    "cgroup_namespace,filesystem_view,bounding_set --network host";

}  // namespace

absl::StatusOr<NamespaceDecision> DecideNamespaces(const HostFacts& facts,
                                                   const Enforcement& enforcement) {
  NamespaceDecision decision;
  if (facts.needs_user_namespace) {
    MechanismRecord record;
    record.mechanism = Mechanism::kUserNamespace;
    if (facts.user_namespace.ok) {
      decision.clone_flags |= CLONE_NEWUSER;
      record.action = "clone_new_namespace";
      record.state = MechanismState::kEnforced;
      record.reason =
          "the broker has no CAP_SYS_ADMIN: the sandbox's namespaces belong to a new user "
          "namespace that maps only the invoking ids, and no capability in it reaches the host";
      record.evidence = Evidence::kNone;  // until the maps and /proc/<pid>/ns/user are read
    } else {
      std::string why = absl::StrCat(
          "the broker has no CAP_SYS_ADMIN, so its namespaces must be made in a new user "
          "namespace, and the host refuses one: ",
          facts.user_namespace.evidence);
      if (!enforcement.best_effort(Mechanism::kUserNamespace)) {
        return MechanismError(Mechanism::kUserNamespace, absl::StatusCode::kFailedPrecondition,
                              absl::StrCat(why, ". To allow it: ", facts.user_namespace_remedy,
                                           "; to run without any namespace: ", kWithoutNamespaces));
      }
      record.action = "not_planned";
      record.state = MechanismState::kDegraded;
      record.reason = absl::StrCat("best effort: ", why,
                                   "; no namespace can be made, the workload sees the host");
      record.errno_value = facts.user_namespace.errno_value;
    }
    decision.user_namespace = std::move(record);
  }
  for (size_t i = 0; i < kSandboxNamespaceCount; ++i) {
    const NamespaceKind& kind = kSandboxNamespaces[i];
    const ProbeResult& probe = facts.*kind.probe;
    MechanismRecord record;
    record.mechanism = kind.mechanism;
    if (probe.ok) {
      decision.clone_flags |= kind.clone_flag;
      record.action = "clone_new_namespace";
      record.state = MechanismState::kEnforced;
      record.reason = absl::StrCat("a new ", kind.proc_name, " namespace hides ", kind.hides);
      record.evidence = Evidence::kNone;  // until VerifyNamespaces
    } else {
      std::string why = absl::StrCat("the host denies a new ", kind.proc_name, " namespace (",
                                     probe.evidence, ")");
      if (!enforcement.best_effort(kind.mechanism)) {
        return MechanismError(kind.mechanism, absl::StatusCode::kFailedPrecondition, why);
      }
      record.action = "not_planned";
      record.state = MechanismState::kDegraded;
      record.reason = absl::StrCat("best effort: ", why, "; the workload sees ", kind.hides);
      record.errno_value = probe.errno_value;
    }
    decision.records.push_back(std::move(record));
  }
  return decision;
}

absl::Status VerifyNamespaces(pid_t stub, int clone_flags, std::vector<MechanismRecord>* records) {
  ASSIGN_OR_RETURN(NamespaceDirectory own_namespaces, NamespaceDirectory::Open("/proc/self/ns"));
  ASSIGN_OR_RETURN(NamespaceDirectory stub_namespaces,
                   NamespaceDirectory::Open(absl::StrCat("/proc/", stub, "/ns")));
  for (size_t i = 0; i < kSandboxNamespaceCount; ++i) {
    const NamespaceKind& kind = kSandboxNamespaces[i];
    ASSIGN_OR_RETURN(ino_t own, own_namespaces.Inode(kind.proc_name));
    ASSIGN_OR_RETURN(ino_t stubs, stub_namespaces.Inode(kind.proc_name));
    bool asked = (clone_flags & kind.clone_flag) != 0;
    if (asked == (own == stubs)) {
      return MechanismError(
          kind.mechanism, absl::StatusCode::kFailedPrecondition,
          absl::StrCat("/proc/", stub, "/ns/", kind.proc_name, " is ", kind.proc_name, ":[", stubs,
                       "], the broker's is ", kind.proc_name, ":[", own, "]: ",
                       asked ? "the stub is not in a new namespace" : "unexpected namespace"));
    }
    if (asked && i < records->size()) {
      (*records)[i].evidence = Evidence::kVerified;
      (*records)[i].reason += absl::StrCat(" (", kind.proc_name, ":[", stubs, "])");
    }
  }
  const struct {
    Mechanism mechanism;
    int clone_flag;
    const char* proc_name;
  } at_clone_only[] = {{Mechanism::kUserNamespace, CLONE_NEWUSER, "user"},
                       {Mechanism::kNetworkNamespace, CLONE_NEWNET, "net"}};
  for (const auto& kind : at_clone_only) {
    if ((clone_flags & kind.clone_flag) == 0) continue;
    ASSIGN_OR_RETURN(ino_t own, own_namespaces.Inode(kind.proc_name));
    ASSIGN_OR_RETURN(ino_t stubs, stub_namespaces.Inode(kind.proc_name));
    if (own == stubs) {
      return MechanismError(
          kind.mechanism, absl::StatusCode::kFailedPrecondition,
          absl::StrCat("/proc/", stub, "/ns/", kind.proc_name, " is the broker's ", kind.proc_name,
                       ":[", own, "]: the stub is not in a new namespace"));
    }
  }
  return absl::OkStatus();
}

pid_t CloneWithNamespaces(int clone_flags, int* pidfd, int cgroup_fd, bool* into_cgroup) {
  *pidfd = -1;
  if (into_cgroup != nullptr) *into_cgroup = false;
  struct clone_args args;
  std::memset(&args, 0, sizeof(args));
  args.flags = static_cast<uint64_t>(clone_flags) | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  long pid = -1;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
    pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid >= 0) {
      if (into_cgroup != nullptr) *into_cgroup = true;
      return static_cast<pid_t>(pid);
    }
    // Refused (a kernel before 5.7, clone3 filtered, the cgroup's own
    // rules): the child is moved there after the clone instead.
    args.flags &= ~static_cast<uint64_t>(CLONE_INTO_CGROUP);
    args.cgroup = 0;
  }
  pid = syscall(SYS_clone3, &args, sizeof(args));
  if (pid < 0 && errno == ENOSYS) {
    // Old kernels, and hosts whose seccomp filter hides clone3 to make
    // libcs use clone, whose flags it can read.
    pid = syscall(SYS_clone, static_cast<unsigned long>(clone_flags) | SIGCHLD, nullptr, nullptr,
                  nullptr, nullptr);
    if (pid > 0) *pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  }
  return static_cast<pid_t>(pid);
}

}  // namespace tether::broker
