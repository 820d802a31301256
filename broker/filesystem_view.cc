#include "broker/filesystem_view.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/files.h"
#include "base/status.h"
#include "broker/working_directory.h"

namespace tether::broker {
namespace {

constexpr uint64_t kReadOnlyAttributes = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
constexpr uint64_t kReadWriteAttributes = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
constexpr uint64_t kDeviceAttributes = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
constexpr uint64_t kKernelFsAttributes = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;

// Parents sort before what is under them: "/dev" < "/dev/null", and a
// sibling with a longer name ("/dev-x") never sits between the two.
bool MountOrder(const ViewMount& a, const ViewMount& b) {
  std::vector<absl::string_view> left = absl::StrSplit(a.target, '/', absl::SkipEmpty());
  std::vector<absl::string_view> right = absl::StrSplit(b.target, '/', absl::SkipEmpty());
  return left < right;
}

class Planner {
 public:
  explicit Planner(const ViewInput& input) : input_(input) {}

  absl::StatusOr<ViewPlan> Plan() {
    const SandboxPolicy& policy = *input_.policy;
    Add(Special(ViewMountKind::kRoot, "/", "a fresh, empty root: only what follows exists"));
    plan_.mounts.back().read_only = true;
    plan_.mounts.back().attributes = kReadOnlyAttributes;
    plan_.mounts.back().tmpfs_size = uint64_t{1} << 20;
    ViewMount tmp = Special(ViewMountKind::kTmpfs, "/tmp", "private: no other tenant's files");
    tmp.attributes = kReadWriteAttributes;
    tmp.tmpfs_size = policy.tmpfs_size_bytes;
    tmp.mode = 01777;
    Add(tmp);
    RETURN_IF_ERROR(PlanProc());
    PlanDev();
    for (const std::string& path : policy.read_only) {
      RETURN_IF_ERROR(AddHostPath(path, /*writable=*/false, false));
    }
    for (const std::string& path : policy.read_write) {
      RETURN_IF_ERROR(AddHostPath(path, /*writable=*/true, false));
    }
    for (const std::string& path : policy.devices) {
      RETURN_IF_ERROR(AddHostPath(path, /*writable=*/true, true));
    }
    if (input_.working_directory != "/") {
      RETURN_IF_ERROR(AddHostPath(
          input_.working_directory, input_.working_directory_writable, false,
          input_.working_directory_writable
              ? "the working directory, read-write"
              : "the working directory, read-only (see working_directory_not_writable)"));
    }
    DropWhatBindsHold();
    std::stable_sort(plan_.mounts.begin(), plan_.mounts.end(), MountOrder);
    // The root holds a mount point (and its parents) for every mount.
    plan_.mounts.front().tmpfs_size =
        (uint64_t{1} << 20) + plan_.mounts.size() * (uint64_t{64} << 10);
    return plan_;
  }

 private:
  ViewMount Special(ViewMountKind kind, std::string target, std::string reason) {
    ViewMount mount;
    mount.kind = kind;
    mount.target = std::move(target);
    mount.reason = std::move(reason);
    return mount;
  }

  void Add(ViewMount mount) {
    taken_.insert(mount.target);
    plan_.mounts.push_back(std::move(mount));
  }

  absl::Status PlanProc() {
    if (input_.fresh_procfs.ok) {
      ViewMount proc = Special(ViewMountKind::kProc, "/proc",
                               "a procfs of the sandbox's pid namespace: only its processes");
      proc.attributes = kKernelFsAttributes;
      Add(proc);
      return absl::OkStatus();
    }
    std::string why =
        absl::StrCat("the host refuses a fresh /proc: ", input_.fresh_procfs.evidence);
    if (!input_.best_effort) {
      return MechanismError(Mechanism::kFilesystemView, absl::StatusCode::kFailedPrecondition, why);
    }
    ViewMount proc = Special(ViewMountKind::kBind, "/proc",
                             absl::StrCat("best effort: ", why,
                                          "; the host's /proc is bound read-only instead: the "
                                          "workload can read the host's processes"));
    proc.source = "/proc";
    proc.read_only = true;
    proc.attributes = kReadOnlyAttributes | MOUNT_ATTR_NOEXEC;
    Add(proc);
    plan_.outer_proc = true;
    return absl::OkStatus();
  }

  // /dev: only the policy's device nodes (bound one by one, below), a new
  // devpts instance, a private /dev/shm and the usual links.
  void PlanDev() {
    ViewMount dev = Special(ViewMountKind::kTmpfs, "/dev", "a minimal /dev");
    dev.attributes = kKernelFsAttributes;
    dev.tmpfs_size = uint64_t{64} << 10;
    Add(dev);
    ViewMount pts = Special(ViewMountKind::kDevpts, "/dev/pts",
                            "a new devpts instance: no other terminal is reachable");
    pts.attributes = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
    Add(pts);
    ViewMount shm = Special(ViewMountKind::kTmpfs, "/dev/shm", "private: no other tenant's files");
    shm.attributes = kReadWriteAttributes;
    shm.tmpfs_size = input_.policy->tmpfs_size_bytes;
    shm.mode = 01777;
    Add(shm);
    const struct {
      const char* name;
      const char* text;
    } links[] = {{"/dev/ptmx", "pts/ptmx"},
                 {"/dev/fd", "/proc/self/fd"},
                 {"/dev/stdin", "/proc/self/fd/0"},
                 {"/dev/stdout", "/proc/self/fd/1"},
                 {"/dev/stderr", "/proc/self/fd/2"}};
    for (const auto& link : links) {
      ViewMount mount = Special(ViewMountKind::kSymlink, link.name, "a standard link");
      mount.source = link.text;
      mount.directory = false;
      Add(mount);
    }
  }

  // A host path at its own path: a directory or file bound once, a link
  // recreated (and what it names bound too, so that it resolves). Links on
  // the way are followed only where root or the broker's uid owns them;
  // anyone else's could name any directory of the host.
  absl::Status AddHostPath(const std::string& listed, bool writable, bool device,
                           std::string reason = "", bool via_link = false) {
    absl::StatusOr<std::string> resolved = ResolveTrusted(NormalizeLexically(listed));
    if (absl::IsNotFound(resolved.status())) {
      plan_.absent.push_back(listed);
      return absl::OkStatus();
    }
    if (!resolved.ok()) return resolved.status();
    const std::string& path = *resolved;
    // The fresh /proc (or its stand-in) and the private tmpfs already hold these.
    if (IsUnderPath(path, "/proc") || path == "/tmp" || path == "/dev/shm") return absl::OkStatus();
    // Opened once, through no link at all: what is decided here (kind, link
    // text) is what gets cloned, whatever the path names by then.
    struct open_how how = {};
    how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    auto opened = std::make_shared<UniqueFd>(
        static_cast<int>(syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof(how))));
    struct stat st;
    if (!opened->valid() || fstat(opened->get(), &st) != 0) {
      if (errno == ENOENT) {
        plan_.absent.push_back(listed);
        return absl::OkStatus();
      }
      if (errno == EMFILE || errno == ENFILE) {
        return MechanismError(Mechanism::kFilesystemView, absl::StatusCode::kResourceExhausted,
                              absl::StrCat("opening '", listed, "': ", strerrorname_np(errno),
                                           ": too many paths for this broker's fd limit"));
      }
      return ViewError(
          absl::StrCat("'", listed, "' changed while it was opened: ", strerrorname_np(errno)));
    }
    if (S_ISLNK(st.st_mode)) return AddLink(listed, path, *opened, st, writable, device, reason);
    // Neither a read-only mount nor Landlock stops a connect or a write to
    // these: listed read-only, they would be writable all the same.
    if ((S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)) && !writable) {
      return ViewError(absl::StrCat("'", listed, "' is a ",
                                    S_ISSOCK(st.st_mode) ? "unix socket" : "FIFO",
                                    ": a read-only listing cannot stop writes to it; list it "
                                    "read-write if the workload may use it"));
    }
    if (taken_.count(path) != 0) {
      // Bound once: a read-write listing wins over a read-only one, but
      // never through a link (a link must not widen another listing).
      for (ViewMount& mount : plan_.mounts) {
        if (mount.target == path && mount.kind == ViewMountKind::kBind && writable &&
            mount.read_only && !via_link) {
          mount.read_only = false;
          mount.attributes = device ? kDeviceAttributes : kReadWriteAttributes;
          mount.reason = "read-write in the policy";
        }
      }
      return absl::OkStatus();
    }
    ViewMount bind = Special(ViewMountKind::kBind, path, "");
    bind.source = path;
    bind.source_fd = std::move(opened);
    bind.directory = S_ISDIR(st.st_mode);
    bool is_device = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
    bind.read_only = !writable;
    // A read-only mount does not stop writes to a device node (Landlock
    // does), but the mount says what the policy says.
    bind.attributes = (device || is_device) ? kDeviceAttributes | (writable ? 0 : MOUNT_ATTR_RDONLY)
                      : writable            ? kReadWriteAttributes
                                            : kReadOnlyAttributes;
    if (!reason.empty()) {
      bind.reason = std::move(reason);
    } else if (device || is_device) {
      bind.reason = "a device node the policy lists";
    } else {
      bind.reason = writable ? "read-write in the policy" : "read-only in the policy";
    }
    Add(bind);
    return absl::OkStatus();
  }

  // A link the policy lists (or one on the way to what it lists): made in
  // the view with its own text, and what it names added too.
  absl::Status AddLink(const std::string& listed, const std::string& path, const UniqueFd& opened,
                       const struct stat& st, bool writable, bool device,
                       const std::string& reason) {
    if (!Trusted(st)) {
      return ViewError(absl::StrCat("'", listed, "' is a link owned by uid ", st.st_uid,
                                    ": list the path it names instead"));
    }
    char text[PATH_MAX];
    ssize_t length = readlinkat(opened.get(), "", text, sizeof(text) - 1);
    if (length <= 0) return absl::OkStatus();
    std::string named(text, length);
    if (taken_.count(path) == 0) {
      ViewMount link = Special(ViewMountKind::kSymlink, path, "a link, as on the host");
      link.source = named;
      link.directory = false;
      Add(link);
    }
    if (++link_depth_ > 40) return absl::OkStatus();
    size_t slash = path.rfind('/');
    std::string next = named[0] == '/' ? named : path.substr(0, slash + 1) + named;
    return AddHostPath(next, writable, device, reason, /*via_link=*/true);
  }

  // Root's and the broker's own links are the host's; anyone else's could
  // be planted or swapped.
  static bool Trusted(const struct stat& st) { return st.st_uid == 0 || st.st_uid == geteuid(); }

  // A listed path the view cannot take as it is: the policy's (or the
  // flag's) problem, not the host's.
  static absl::Status ViewError(absl::string_view why) {
    return MechanismError(Mechanism::kFilesystemView, absl::StatusCode::kInvalidArgument, why);
  }

  // `path` with every link before its last component resolved, following
  // only trusted links (NotFound when something on the way is missing).
  absl::StatusOr<std::string> ResolveTrusted(const std::string& path) {
    std::vector<std::string> pending = absl::StrSplit(path, '/', absl::SkipEmpty());
    std::reverse(pending.begin(), pending.end());
    std::string resolved;
    int links = 0;
    while (!pending.empty()) {
      std::string part = std::move(pending.back());
      pending.pop_back();
      if (part == ".") continue;
      if (part == "..") {
        resolved = resolved.substr(0, resolved.rfind('/'));
        continue;
      }
      std::string candidate = absl::StrCat(resolved, "/", part);
      struct stat st;
      if (lstat(candidate.c_str(), &st) != 0) {
        return absl::NotFoundError(absl::StrCat(candidate, " does not exist"));
      }
      if (!S_ISLNK(st.st_mode) || pending.empty()) {
        resolved = std::move(candidate);
        continue;
      }
      if (!Trusted(st)) {
        return ViewError(absl::StrCat("'", path, "' passes through ", candidate,
                                      ", a link owned by uid ", st.st_uid,
                                      ": list the path it names instead"));
      }
      char text[PATH_MAX];
      ssize_t length = readlink(candidate.c_str(), text, sizeof(text) - 1);
      if (length <= 0 || ++links > 40)
        return ViewError(absl::StrCat("'", path, "': too many links"));
      std::vector<std::string> target =
          absl::StrSplit(absl::string_view(text, length), '/', absl::SkipEmpty());
      if (text[0] == '/') resolved.clear();
      for (auto it = target.rbegin(); it != target.rend(); ++it) pending.push_back(*it);
    }
    return resolved.empty() ? std::string("/") : resolved;
  }

  // The mount a target lies strictly inside, the nearest one (a link is no
  // mount).
  const ViewMount* NearestEnclosing(const ViewMount& inner) const {
    const ViewMount* nearest = nullptr;
    for (const ViewMount& outer : plan_.mounts) {
      if (&outer == &inner || outer.kind == ViewMountKind::kSymlink ||
          outer.target == inner.target || !IsUnderPath(inner.target, outer.target)) {
        continue;
      }
      if (nearest == nullptr || outer.target.size() > nearest->target.size()) nearest = &outer;
    }
    return nearest;
  }

  // What a bound host directory already holds is not made again: a bind of
  // the same kind inside it (/usr/bin, reached through the /bin link,
  // inside /usr) adds nothing, and a link inside it is there already (making
  // it would fail). Only the nearest counts: a read-only path inside a
  // writable bind inside a read-only one keeps its own bind.
  void DropWhatBindsHold() {
    std::vector<ViewMount> kept;
    for (const ViewMount& mount : plan_.mounts) {
      const ViewMount* nearest = NearestEnclosing(mount);
      bool in_bound_directory =
          nearest != nullptr && nearest->kind == ViewMountKind::kBind && nearest->directory;
      bool held = in_bound_directory &&
                  (mount.kind == ViewMountKind::kSymlink ||
                   (mount.kind == ViewMountKind::kBind && nearest->attributes == mount.attributes));
      if (!held) kept.push_back(mount);
    }
    plan_.mounts = std::move(kept);
  }

  const ViewInput& input_;
  ViewPlan plan_;
  std::set<std::string> taken_;
  int link_depth_ = 0;  // links followed: a loop ends here
};

// /proc/<pid>/mountinfo: "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER".
struct MountInfo {
  std::string point;
  std::set<std::string> options;
  std::string type;
  bool propagates = false;  // a shared: or master: tag: joined to another namespace
};

std::string Unescape(absl::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

absl::StatusOr<std::vector<MountInfo>> ReadMountInfo(pid_t pid) {
  std::string path = absl::StrCat("/proc/", pid, "/mountinfo");
  // Not an ifstream: its filebuf would build the C++ classic locale, which
  // nothing else in a run asks for (broker/no_iostream_init.cc).
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  std::vector<MountInfo> mounts;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    auto separator = std::find(fields.begin(), fields.end(), "-");
    if (fields.size() < 10 || separator == fields.end() || separator + 1 == fields.end()) {
      return absl::InternalError(absl::StrCat(path, ": cannot parse '", line, "'"));
    }
    MountInfo info;
    info.point = Unescape(fields[4]);
    for (absl::string_view option : absl::StrSplit(fields[5], ',')) {
      info.options.emplace(option);
    }
    info.type = std::string(*(separator + 1));
    for (auto optional = fields.begin() + 6; optional < separator; ++optional) {
      info.propagates |=
          absl::StartsWith(*optional, "shared:") || absl::StartsWith(*optional, "master:");
    }
    mounts.push_back(std::move(info));
  }
  return mounts;
}

const char* ExpectedType(ViewMountKind kind) {
  switch (kind) {
    case ViewMountKind::kRoot:
    case ViewMountKind::kTmpfs: return "tmpfs";
    case ViewMountKind::kProc: return "proc";
    case ViewMountKind::kDevpts: return "devpts";
    default: return nullptr;
  }
}

}  // namespace

absl::StatusOr<ViewPlan> PlanFilesystemView(const ViewInput& input) {
  return Planner(input).Plan();
}

std::string ViewMountAction(const ViewMount& mount) {
  switch (mount.kind) {
    case ViewMountKind::kRoot: return "mount_root_tmpfs";
    case ViewMountKind::kBind:
      if ((mount.attributes & MOUNT_ATTR_NODEV) == 0) return "bind_device";
      return mount.read_only ? "bind_read_only" : "bind_read_write";
    case ViewMountKind::kTmpfs: return "mount_tmpfs";
    case ViewMountKind::kProc: return "mount_proc";
    case ViewMountKind::kDevpts: return "mount_devpts";
    case ViewMountKind::kSymlink: return "symlink";
  }
  return "mount";
}

std::string ViewMountOptions(const ViewMount& mount) {
  if (mount.kind == ViewMountKind::kSymlink) return absl::StrCat("-> ", mount.source);
  std::vector<std::string> options = {(mount.attributes & MOUNT_ATTR_RDONLY) ? "ro" : "rw"};
  if (mount.attributes & MOUNT_ATTR_NOSUID) options.push_back("nosuid");
  if (mount.attributes & MOUNT_ATTR_NODEV) options.push_back("nodev");
  if (mount.attributes & MOUNT_ATTR_NOEXEC) options.push_back("noexec");
  if (mount.tmpfs_size != 0) options.push_back(absl::StrCat("size=", mount.tmpfs_size));
  if (mount.kind == ViewMountKind::kTmpfs || mount.kind == ViewMountKind::kRoot) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%o", mount.mode);
    options.push_back(absl::StrCat("mode=", mode));
  }
  return absl::StrJoin(options, ",");
}

std::vector<MechanismRecord> ViewRecords(const ViewPlan& plan, const std::vector<int>& errors) {
  std::vector<MechanismRecord> records;
  for (size_t i = 0; i < plan.mounts.size(); ++i) {
    const ViewMount& mount = plan.mounts[i];
    MechanismRecord record;
    record.mechanism = Mechanism::kFilesystemView;
    record.action = absl::StrCat(ViewMountAction(mount), " ", mount.target);
    record.reason = absl::StrCat(mount.reason, " (", ViewMountOptions(mount), ")");
    if (i >= errors.size() || errors[i] < 0) {
      record.state = MechanismState::kNotReached;
    } else if (errors[i] != 0) {
      record.state = MechanismState::kFailed;
      record.errno_value = errors[i];
    } else {
      record.state = plan.outer_proc && mount.target == "/proc" ? MechanismState::kDegraded
                                                                : MechanismState::kEnforced;
      if (record.state == MechanismState::kDegraded) record.errno_value = EPERM;
    }
    records.push_back(std::move(record));
  }
  return records;
}

absl::Status VerifyView(pid_t stub, const ViewPlan& plan, std::vector<MechanismRecord>* records) {
  ASSIGN_OR_RETURN(std::vector<MountInfo> mounts, ReadMountInfo(stub));
  // The stub's root, opened once: each target is then looked up from it,
  // not from /proc down again.
  std::string root_path = absl::StrCat("/proc/", stub, "/root");
  UniqueFd root(open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return ErrnoStatus(errno, absl::StrCat("open(", root_path, ")"));
  // Targets are absolute: "." for the root itself.
  auto relative = [](const std::string& target) {
    return target == "/" ? std::string(".") : target.substr(1);
  };
  auto wrong = [](absl::string_view what) {
    return MechanismError(Mechanism::kFilesystemView, absl::StatusCode::kFailedPrecondition,
                          absl::StrCat("final posture: ", what));
  };
  // The topmost mount at each point is the one the workload sees.
  std::map<std::string, const MountInfo*> top;
  for (const MountInfo& info : mounts) top[info.point] = &info;
  std::vector<std::string> recursive;  // binds whose submounts came along
  for (size_t i = 0; i < plan.mounts.size(); ++i) {
    const ViewMount& mount = plan.mounts[i];
    if (mount.kind == ViewMountKind::kSymlink) {
      struct stat st;
      if (fstatat(root.get(), relative(mount.target).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISLNK(st.st_mode)) {
        return wrong(absl::StrCat(mount.target, " is not a link"));
      }
    } else {
      auto found = top.find(mount.target);
      if (found == top.end()) return wrong(absl::StrCat(mount.target, " is not mounted"));
      const MountInfo& info = *found->second;
      const char* type = ExpectedType(mount.kind);
      if (type != nullptr && info.type != type) {
        return wrong(absl::StrCat(mount.target, " is ", info.type, ", expected ", type));
      }
      bool read_only = (mount.attributes & MOUNT_ATTR_RDONLY) != 0;
      if (info.options.count(read_only ? "ro" : "rw") == 0) {
        return wrong(absl::StrCat(mount.target, " is not ", read_only ? "read-only" : "writable"));
      }
      for (const auto& [flag, name] :
           {std::pair{MOUNT_ATTR_NOSUID, "nosuid"}, std::pair{MOUNT_ATTR_NODEV, "nodev"},
            std::pair{MOUNT_ATTR_NOEXEC, "noexec"}}) {
        if ((mount.attributes & flag) && info.options.count(name) == 0) {
          return wrong(absl::StrCat(mount.target, " lacks ", name));
        }
      }
      if (mount.kind == ViewMountKind::kBind && mount.source_fd != nullptr &&
          mount.source_fd->valid()) {
        // The very file or directory the planner opened, not another one.
        struct stat planned, seen;
        if (fstat(mount.source_fd->get(), &planned) != 0 ||
            fstatat(root.get(), relative(mount.target).c_str(), &seen, 0) != 0 ||
            planned.st_dev != seen.st_dev || planned.st_ino != seen.st_ino) {
          return wrong(absl::StrCat(mount.target, " is not the host's ", mount.source));
        }
      }
      if (mount.kind == ViewMountKind::kBind && mount.directory) recursive.push_back(mount.target);
    }
    if (i < records->size()) (*records)[i].evidence = Evidence::kVerified;
  }
  std::set<std::string> planned;
  for (const ViewMount& mount : plan.mounts) planned.insert(mount.target);
  for (const MountInfo& info : mounts) {
    if (info.propagates) {
      return wrong(absl::StrCat(info.point, " propagates mounts to or from another namespace"));
    }
    if (planned.count(info.point) != 0) continue;
    bool under_bind = std::any_of(recursive.begin(), recursive.end(), [&](const std::string& dir) {
      return IsUnderPath(info.point, dir);
    });
    if (!under_bind) return wrong(absl::StrCat("unplanned mount at ", info.point));
  }
  return absl::OkStatus();
}

}  // namespace tether::broker
