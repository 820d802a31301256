#include "broker/view_builder.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace tether::broker {
namespace {

int SetAttributes(int fd, uint64_t set, bool recursive, bool make_private = false) {
  struct mount_attr attr = {};
  attr.attr_set = set;
  // A clone keeps its source's peer group: mounts made in it would then
  // appear on the host, and the host's later mounts in the view.
  if (make_private) attr.propagation = MS_PRIVATE;
  unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
  return syscall(SYS_mount_setattr, fd, "", flags, &attr, sizeof(attr)) == 0 ? 0 : errno;
}

// The host path opened again in this (copied) mount namespace, through no
// link (the planner resolved and checked those), and checked to be the very
// file or directory the broker opened when it planned: the kernel clones
// only mounts of the caller's own namespace (may_copy_tree), and that fd's
// mount is the host's. fstat works across namespaces.
int ReopenHere(const ViewMount& mount, UniqueFd* out) {
  struct open_how how = {};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  UniqueFd here(
      static_cast<int>(syscall(SYS_openat2, AT_FDCWD, mount.source.c_str(), &how, sizeof(how))));
  if (!here.valid()) return errno;
  if (mount.source_fd != nullptr && mount.source_fd->valid()) {
    struct stat planned, seen;
    if (fstat(mount.source_fd->get(), &planned) != 0 || fstat(here.get(), &seen) != 0) return errno;
    // Replaced since it was planned: not what the policy's check saw.
    if (planned.st_dev != seen.st_dev || planned.st_ino != seen.st_ino) return ESTALE;
  }
  *out = std::move(here);
  return 0;
}

// A detached clone of a host path with its attributes already set. Setting
// them only adds flags: a mount that came from a more privileged user
// namespace is locked, and may be made read-only, never read-write again.
int CloneHostPath(const ViewMount& mount, UniqueFd* out) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH |
                   (mount.directory ? AT_RECURSIVE : 0);
  UniqueFd source;
  if (int error = ReopenHere(mount, &source); error != 0) return error;
  UniqueFd tree(static_cast<int>(syscall(SYS_open_tree, source.get(), "", flags)));
  if (!tree.valid()) return errno;
  if (int error = SetAttributes(tree.get(), mount.attributes, mount.directory,
                                /*make_private=*/true);
      error != 0) {
    return error;
  }
  *out = std::move(tree);
  return 0;
}

int Configure(int fs, const char* key, const std::string& value) {
  return syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, key, value.c_str(), 0) == 0 ? 0 : errno;
}

// A new filesystem instance (tmpfs, proc, devpts), detached.
int NewFilesystem(const ViewMount& mount, UniqueFd* out) {
  const char* type = mount.kind == ViewMountKind::kProc     ? "proc"
                     : mount.kind == ViewMountKind::kDevpts ? "devpts"
                                                            : "tmpfs";
  UniqueFd fs(static_cast<int>(syscall(SYS_fsopen, type, FSOPEN_CLOEXEC)));
  if (!fs.valid()) return errno;
  int error = 0;
  if (mount.kind == ViewMountKind::kTmpfs || mount.kind == ViewMountKind::kRoot) {
    char mode[8];
    snprintf(mode, sizeof(mode), "%o", mount.mode);
    error = Configure(fs.get(), "mode", mode);
    if (error == 0) error = Configure(fs.get(), "size", std::to_string(mount.tmpfs_size));
    // Inodes cost kernel memory that `size` does not count: one per page.
    if (error == 0) {
      error = Configure(fs.get(), "nr_inodes", std::to_string(mount.tmpfs_size / 4096 + 16));
    }
  } else if (mount.kind == ViewMountKind::kDevpts) {
    error = Configure(fs.get(), "ptmxmode", "0666");
    if (error == 0) error = Configure(fs.get(), "mode", "0620");
  }
  if (error != 0) return error;
  if (syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) return errno;
  // The root is made read-only only once everything is mounted into it.
  uint64_t attributes = mount.kind == ViewMountKind::kRoot
                            ? mount.attributes & ~static_cast<uint64_t>(MOUNT_ATTR_RDONLY)
                            : mount.attributes;
  UniqueFd mounted(static_cast<int>(syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, attributes)));
  if (!mounted.valid()) return errno;
  *out = std::move(mounted);
  return 0;
}

// Opens `target` under `root`, one component at a time and never through a
// link, making what is missing: directories, or an empty file to bind a
// file or a device node onto. A link (kSymlink) is made, and no fd returned.
int PrepareMountPoint(int root, const ViewMount& mount, UniqueFd* out) {
  std::vector<std::string> parts;
  size_t start = 1;
  while (start < mount.target.size()) {
    size_t end = mount.target.find('/', start);
    if (end == std::string::npos) end = mount.target.size();
    if (end > start) parts.push_back(mount.target.substr(start, end - start));
    start = end + 1;
  }
  UniqueFd directory(openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!directory.valid()) return errno;
  for (size_t i = 0; i < parts.size(); ++i) {
    const char* name = parts[i].c_str();
    bool last = i + 1 == parts.size();
    if (last && mount.kind == ViewMountKind::kSymlink) {
      return symlinkat(mount.source.c_str(), directory.get(), name) == 0 ? 0 : errno;
    }
    bool want_directory = !last || mount.directory;
    if (want_directory) {
      if (mkdirat(directory.get(), name, 0755) != 0 && errno != EEXIST) return errno;
      UniqueFd next(openat(directory.get(), name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next.valid()) return errno;
      directory = std::move(next);
      continue;
    }
    UniqueFd file(openat(directory.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!file.valid() && errno == ENOENT) {
      UniqueFd created(openat(directory.get(), name,
                              O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
      if (!created.valid()) return errno;
      file = UniqueFd(openat(directory.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!file.valid()) return errno;
    *out = std::move(file);
    return 0;
  }
  *out = std::move(directory);
  return 0;
}

int Attach(int mount_fd, int point_fd) {
  return syscall(SYS_move_mount, mount_fd, "", point_fd, "",
                 MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0
             ? 0
             : errno;
}

// A directory to attach the new root to before the pivot: any will do, the
// mount namespace is private and the host's paths were cloned already.
const char* StagingDirectory() {
  for (const char* candidate : {"/tmp", "/mnt", "/dev", "/"}) {
    struct stat st;
    if (lstat(candidate, &st) == 0 && S_ISDIR(st.st_mode)) return candidate;
  }
  return "/";
}

}  // namespace

int CloneViewSources(const ViewPlan& plan, std::vector<UniqueFd>* sources, size_t* failed) {
  sources->clear();
  for (size_t i = 0; i < plan.mounts.size(); ++i) {
    UniqueFd tree;
    if (plan.mounts[i].kind == ViewMountKind::kBind) {
      if (int error = CloneHostPath(plan.mounts[i], &tree); error != 0) {
        *failed = i;
        sources->clear();
        return error;
      }
    }
    sources->emplace_back(tree.release());
  }
  return 0;
}

int BuildView(const ViewPlan& plan, std::vector<ViewMountOutcome>* outcomes) {
  auto report = [outcomes](size_t index, int error) {
    outcomes->push_back({static_cast<uint32_t>(index), error});
  };
  // Nothing done here may reach the host's mount namespace.
  struct mount_attr make_private = {};
  make_private.propagation = MS_PRIVATE;
  if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &make_private,
              sizeof(make_private)) != 0) {
    int error = errno;
    report(0, error);
    return error;
  }
  // Every host path first, before anything is mounted over them.
  std::vector<UniqueFd> sources;
  size_t failed = 0;
  if (int error = CloneViewSources(plan, &sources, &failed); error != 0) {
    report(failed, error);
    return error;
  }
  size_t root_index = 0;
  while (root_index < plan.mounts.size() && plan.mounts[root_index].kind != ViewMountKind::kRoot) {
    ++root_index;
  }
  if (root_index == plan.mounts.size()) return EINVAL;
  UniqueFd root;
  int error = NewFilesystem(plan.mounts[root_index], &root);
  if (error == 0) {
    error = syscall(SYS_move_mount, root.get(), "", AT_FDCWD, StagingDirectory(),
                    MOVE_MOUNT_F_EMPTY_PATH) == 0
                ? 0
                : errno;
  }
  if (error != 0) {
    report(root_index, error);
    return error;
  }
  for (size_t i = 0; i < plan.mounts.size(); ++i) {
    const ViewMount& mount = plan.mounts[i];
    if (i == root_index) continue;
    UniqueFd point;
    error = PrepareMountPoint(root.get(), mount, &point);
    if (error == 0 && mount.kind != ViewMountKind::kSymlink) {
      UniqueFd fresh;
      if (mount.kind != ViewMountKind::kBind) error = NewFilesystem(mount, &fresh);
      if (error == 0) {
        error = Attach(mount.kind == ViewMountKind::kBind ? sources[i].get() : fresh.get(),
                       point.get());
      }
    }
    report(i, error);
    if (error != 0) return error;
  }
  // Read-only once complete, then the pivot: the old root is detached, so
  // no path leads back to the host's tree.
  error = SetAttributes(root.get(), plan.mounts[root_index].attributes, false);
  UniqueFd old_root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (error == 0 && !old_root.valid()) error = errno;
  if (error == 0 && fchdir(root.get()) != 0) error = errno;
  if (error == 0 && syscall(SYS_pivot_root, ".", ".") != 0) error = errno;
  if (error == 0 && fchdir(old_root.get()) != 0) error = errno;
  if (error == 0 && umount2(".", MNT_DETACH) != 0) error = errno;
  if (error == 0 && chdir("/") != 0) error = errno;
  report(root_index, error);
  return error;
}

}  // namespace tether::broker
