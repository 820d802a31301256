#ifndef TETHER_BROKER_FILESYSTEM_VIEW_H_
#define TETHER_BROKER_FILESYSTEM_VIEW_H_

// The workload's filesystem view, decided by the broker: a fresh read-only
// tmpfs root into which exactly the policy's paths are bound, each once,
// private tmpfs /tmp and /dev/shm, a fresh /proc, a minimal /dev. The
// mounts are made by the broker's cloned child in the stub's new mount
// namespace (view_builder.h); each one is a reported step, checked
// afterwards against /proc/<stub>/mountinfo.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/default_policy.h"
#include "broker/host/probe_result.h"
#include "broker/report/posture_report.h"
#include "ipc/unique_fd.h"

namespace tether::broker {

enum class ViewMountKind {
  kRoot,     // the tmpfs that becomes "/", read-only once everything is in
  kBind,     // a host path at the same path
  kTmpfs,    // a private, empty tmpfs
  kProc,     // a procfs of the sandbox's pid namespace
  kDevpts,   // a new devpts instance
  kSymlink,  // a symbolic link (source is its text)
};

struct ViewMount {
  ViewMountKind kind = ViewMountKind::kBind;
  std::string target;  // absolute path in the view
  std::string source;  // kBind: the host path; kSymlink: the link's text
  // kBind: the host path opened (O_PATH, not through a final link) when it
  // was planned; the child clones this, not the path again. Shared by
  // copies of the plan.
  std::shared_ptr<const UniqueFd> source_fd;
  bool directory = true;
  bool read_only = false;
  uint64_t attributes = 0;  // MOUNT_ATTR_* it gets
  uint64_t tmpfs_size = 0;  // kTmpfs and kRoot
  uint32_t mode = 0755;     // kTmpfs and kRoot: the root directory's mode
  std::string reason;       // for the report and `policy explain`
};

struct ViewPlan {
  std::vector<ViewMount> mounts;  // in order: parents before what is under them
  // Best effort: a fresh procfs was refused, the host's /proc is bound
  // read-only instead (and the report says what that reveals).
  bool outer_proc = false;
  std::vector<std::string> absent;  // listed paths the host lacks: not in the view
};

struct ViewInput {
  const SandboxPolicy* policy = nullptr;
  std::string working_directory;  // canonical
  bool working_directory_writable = false;
  // Whether the host allows a fresh procfs in a new pid namespace; when it
  // does not, strict refuses and best effort binds the host's /proc.
  ProbeResult fresh_procfs{true, 0, ""};
  bool best_effort = false;
};

// Decides the mounts from the policy and what lstat says of each path on
// the host. Strict and no fresh procfs: an error naming filesystem_view.
absl::StatusOr<ViewPlan> PlanFilesystemView(const ViewInput& input);

// "bind_read_only", "mount_tmpfs", ...: the report's action for a mount.
std::string ViewMountAction(const ViewMount& mount);
// "ro,nosuid,nodev" and the like, for `policy explain` and the report.
std::string ViewMountOptions(const ViewMount& mount);

// One record per mount, in plan order, each enforced once `errors` (one
// per mount, 0 or an errno, from the builder) says so; verified only by
// VerifyView. Mounts the builder never reached (-1, or beyond `errors`)
// are not_reached.
std::vector<MechanismRecord> ViewRecords(const ViewPlan& plan, const std::vector<int>& errors);

// Compares /proc/<stub>/mountinfo with the plan: every mount is there, of
// its type and with its read-only, nosuid and nodev flags, the root is a
// read-only tmpfs and nothing else is mounted (except under recursive
// binds). Marks the records verified.
absl::Status VerifyView(pid_t stub, const ViewPlan& plan, std::vector<MechanismRecord>* records);

}  // namespace tether::broker

#endif  // TETHER_BROKER_FILESYSTEM_VIEW_H_
