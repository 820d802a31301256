#ifndef TETHER_BROKER_CGROUP_H_
#define TETHER_BROKER_CGROUP_H_

// The sandbox's cgroup: one per sandbox, made by the broker under its own
// cgroup in every hierarchy a limit needs (cgroup v2, or the v1 hierarchy
// of the controller where v2 does not offer it, as on hybrid hosts), plus
// one in the unified tree whenever it is mounted, for CLONE_INTO_CGROUP,
// membership and cgroup.kill. Everything in it dies with the run, and the
// directories go with it; those of a broker that was killed are removed by
// the next one (RemoveStaleCgroups).

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ipc/unique_fd.h"
#include "policy/resources.h"

namespace tether::broker {

enum class CgroupVersion { kV1, kV2 };
const char* CgroupVersionName(CgroupVersion version);  // "v1", "v2"

// One cgroup hierarchy the broker is in.
struct CgroupHierarchy {
  CgroupVersion version = CgroupVersion::kV2;
  std::string mount_point;  // "/sys/fs/cgroup/memory"
  std::string own_path;     // the broker's cgroup in it: "/", "/user.slice/x"
  // v1: the mount's controllers; v2: the own cgroup's cgroup.controllers.
  std::vector<std::string> controllers;

  std::string OwnDirectory() const;
  bool Offers(absl::string_view controller) const;
};

struct CgroupLayout {
  std::optional<CgroupHierarchy> unified;
  std::vector<CgroupHierarchy> v1;

  // Where `controller` ("memory", "pids", "cpu") is: v2 when its own cgroup
  // offers it, else the v1 hierarchy mounting it; nullptr: nowhere.
  const CgroupHierarchy* For(absl::string_view controller) const;
};

// From /proc/self/mountinfo and /proc/self/cgroup. A hierarchy whose mount
// does not contain the broker's own cgroup (a bind of another subtree) is
// left out. v2 controllers stay empty: DiscoverCgroupLayout reads them.
CgroupLayout ParseCgroupLayout(absl::string_view mountinfo, absl::string_view proc_cgroup);
absl::StatusOr<CgroupLayout> DiscoverCgroupLayout();

// One limit: where it goes, what it should read back, and whether it holds.
struct CgroupLimit {
  std::string name;                      // "memory", "swap", "pids", "cpu"
  bool asked = true;                     // false: the default pids limit
  std::optional<CgroupVersion> version;  // none: no hierarchy could take it
  std::string controller;
  // file name -> content written, in order; and what each reads back as.
  std::vector<std::pair<std::string, std::string>> writes;
  std::vector<std::string> expected;
  std::string directory;  // the sandbox cgroup's directory in its hierarchy
  int error = 0;          // why it does not hold (0: it does)
  std::string problem;    // the same in words, with the file and the cure
  bool skipped = false;   // nothing to limit (no swap on the host)
  std::string note;       // why skipped

  // "memory.limit_in_bytes=67108864" for reports.
  std::string Setting() const;
};

// The limits a sandbox gets: those asked for, and the default pids limit.
std::vector<CgroupLimit> PlanCgroupLimits(const policy::ResourceLimits& limits);
// What `limit` writes on `version`, and what each file reads back as (the
// kernel rounds memory limits down to pages). Pure: the unit tests' table.
void FillLimitFiles(CgroupVersion version, const policy::ResourceLimits& limits, size_t page_size,
                    CgroupLimit* limit);

// "oom_kill N" from memory.oom_control (v1) or memory.events (v2).
uint64_t ParseOomKills(absl::string_view text);

class SandboxCgroup {
 public:
  // Makes the directories and writes every limit. Per-limit failures are
  // in limits() (each with its errno and cause); the caller decides what
  // strict and best effort make of them.
  static std::unique_ptr<SandboxCgroup> Create(const CgroupLayout& layout,
                                               const policy::ResourceLimits& limits);
  SandboxCgroup(const SandboxCgroup&) = delete;
  SandboxCgroup& operator=(const SandboxCgroup&) = delete;
  // Kills whatever is left in it and removes every directory.
  ~SandboxCgroup();

  // The unified-tree directory for clone3's CLONE_INTO_CGROUP; -1: none.
  int clone_fd() const { return unified_fd_.get(); }
  // Moves `pid` into every directory it did not enter at clone time.
  void Attach(pid_t pid, bool cloned_into_unified);
  // Reads every limit back and checks that `pid` is in each directory
  // (/proc/<pid>/cgroup): a limit that reads back otherwise, or a
  // hierarchy the pid is not in, gets its error here.
  void Verify(pid_t pid);

  const std::vector<CgroupLimit>& limits() const { return limits_; }
  // "v1 memory:/a/tether-…", one per directory made, for the report.
  std::vector<std::string> Describe() const;
  // Whether a directory exists in the unified tree (membership, kill).
  bool has_unified() const { return !unified_directory_.empty(); }

  // Pollable: readable (v1, an eventfd: POLLIN) or POLLPRI (v2,
  // memory.events) when the memory controller acts; -1 without a memory
  // limit.
  int oom_fd() const { return oom_fd_.get(); }
  short oom_poll_events() const { return oom_version_ == CgroupVersion::kV1 ? POLLIN : POLLPRI; }
  void DrainOomFd();
  uint64_t OomKills() const;

  // SIGKILL to every process in it (cgroup.kill where v2 has it), until
  // each directory is empty or two seconds passed.
  void KillAll();

 private:
  SandboxCgroup() = default;
  std::vector<std::string> Paths() const;  // every directory made
  // 0, or mkdir's errno; *directory is the path either way.
  int MakeDirectory(const CgroupHierarchy& hierarchy, std::string* directory);

  std::string name_;
  struct Directory {
    std::string display;  // "v1 memory:/a/tether-…"
    std::string path;
    CgroupVersion version;
  };
  std::vector<Directory> directories_;
  std::string unified_directory_;
  UniqueFd unified_fd_;
  std::vector<CgroupLimit> limits_;
  std::string memory_directory_;
  CgroupVersion oom_version_ = CgroupVersion::kV1;
  UniqueFd oom_fd_;
};

// Removes the sandbox cgroups (killing what is in them) whose broker, of
// this pid namespace, is gone: a broker killed with SIGKILL cannot remove
// its own. Returns how many it removed.
int RemoveStaleCgroups(const CgroupLayout& layout);

}  // namespace tether::broker

#endif  // TETHER_BROKER_CGROUP_H_
