#include "broker/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/files.h"
#include "base/status.h"
#include "broker/host/proc_status.h"

namespace tether::broker {
namespace {

constexpr char kNamePrefix[] = "tether-";
constexpr const char* kControllers[] = {"memory", "pids", "cpu"};

std::string Join(const std::string& directory, absl::string_view name) {
  return absl::StrCat(directory, directory.size() > 0 && directory.back() == '/' ? "" : "/", name);
}

// 0, or the errno of writing `value` to `path` (one write, as the kernel
// takes cgroup files).
int WriteFile(const std::string& path, absl::string_view value) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return errno;
  ssize_t written = write(fd.get(), value.data(), value.size());
  if (written < 0) return errno;
  return static_cast<size_t>(written) == value.size() ? 0 : EIO;
}

std::optional<std::string> ReadTrimmed(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(*text));
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Whether the host has swap at all: a memory limit without a swap limit is
// half a limit only where there is swap to spill into.
bool HostHasSwap() {
  absl::StatusOr<std::string> swaps = ReadSmallFile("/proc/swaps");
  if (!swaps.ok()) return true;  // unknown: assume the worst
  std::vector<absl::string_view> lines = absl::StrSplit(*swaps, '\n', absl::SkipEmpty());
  return lines.size() > 1;  // a header, then one line per swap area
}

// The start time of `pid`, or 0 when no such process exists.
uint64_t StartTime(pid_t pid) {
  constexpr int kStartTimeField = 22;
  return ReadProcStatField(absl::StrCat(pid), kStartTimeField);
}

uint64_t PidNamespaceInode() {
  struct stat st;
  return stat("/proc/self/ns/pid", &st) == 0 ? st.st_ino : 0;
}

std::vector<pid_t> Members(const std::string& directory) {
  std::vector<pid_t> pids;
  absl::StatusOr<std::string> procs = ReadSmallFile(Join(directory, "cgroup.procs"));
  if (!procs.ok()) return pids;
  for (absl::string_view line : absl::StrSplit(*procs, '\n', absl::SkipEmpty())) {
    pid_t pid;
    if (absl::SimpleAtoi(line, &pid) && pid > 0) pids.push_back(pid);
  }
  return pids;
}

// SIGKILL to every member (cgroup.kill first where the directory has it),
// again until none is left or `deadline` passes.
void KillMembers(const std::vector<std::string>& directories, absl::Time deadline) {
  for (const std::string& directory : directories) {
    if (Exists(Join(directory, "cgroup.kill"))) WriteFile(Join(directory, "cgroup.kill"), "1");
  }
  while (true) {
    // Members that cannot be signalled (another uid's) stop the wait.
    bool killed = false;
    for (const std::string& directory : directories) {
      for (pid_t pid : Members(directory)) killed |= kill(pid, SIGKILL) == 0;
    }
    if (!killed || absl::Now() > deadline) return;
    usleep(1000);
  }
}

// rmdir, again while the last members are still exiting.
void RemoveDirectory(const std::string& directory, absl::Time deadline) {
  while (rmdir(directory.c_str()) != 0 && errno == EBUSY && absl::Now() < deadline) {
    usleep(1000);
  }
}

}  // namespace

const char* CgroupVersionName(CgroupVersion version) {
  return version == CgroupVersion::kV1 ? "v1" : "v2";
}

std::string CgroupHierarchy::OwnDirectory() const {
  return own_path == "/" ? mount_point : absl::StrCat(mount_point, own_path);
}

bool CgroupHierarchy::Offers(absl::string_view controller) const {
  return std::find(controllers.begin(), controllers.end(), controller) != controllers.end();
}

const CgroupHierarchy* CgroupLayout::For(absl::string_view controller) const {
  if (unified.has_value() && unified->Offers(controller)) return &*unified;
  for (const CgroupHierarchy& hierarchy : v1) {
    if (hierarchy.Offers(controller)) return &hierarchy;
  }
  return nullptr;
}

CgroupLayout ParseCgroupLayout(absl::string_view mountinfo, absl::string_view proc_cgroup) {
  // hierarchy id's controllers ("" for v2) -> the broker's path in it.
  std::vector<std::pair<std::vector<std::string>, std::string>> own;
  for (absl::string_view line : absl::StrSplit(proc_cgroup, '\n', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    std::vector<std::string> controllers;
    for (absl::string_view controller : absl::StrSplit(parts[1], ',', absl::SkipEmpty())) {
      controllers.emplace_back(controller);
    }
    own.emplace_back(controllers, parts[2]);
  }
  CgroupLayout layout;
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    auto separator = std::find(fields.begin(), fields.end(), "-");
    if (fields.size() < 5 || separator == fields.end() || fields.end() - separator < 4) continue;
    const std::string& root = fields[3];
    const std::string& mount_point = fields[4];
    const std::string& type = *(separator + 1);
    std::vector<std::string> options = absl::StrSplit(*(separator + 3), ',');
    CgroupHierarchy hierarchy;
    hierarchy.mount_point = mount_point;
    const std::string* path = nullptr;
    if (type == "cgroup2") {
      if (layout.unified.has_value()) continue;  // the first mount serves
      hierarchy.version = CgroupVersion::kV2;
      for (const auto& [controllers, own_path] : own) {
        if (controllers.empty()) path = &own_path;
      }
    } else if (type == "cgroup") {
      hierarchy.version = CgroupVersion::kV1;
      for (const std::string& option : options) {
        for (const char* wanted : kControllers) {
          if (option == wanted) hierarchy.controllers.push_back(option);
        }
      }
      if (hierarchy.controllers.empty()) continue;
      bool known = false;
      for (const CgroupHierarchy& existing : layout.v1) {
        known |= existing.controllers == hierarchy.controllers;
      }
      if (known) continue;
      for (const auto& [controllers, own_path] : own) {
        if (std::find(controllers.begin(), controllers.end(), hierarchy.controllers.front()) !=
            controllers.end()) {
          path = &own_path;
        }
      }
    } else {
      continue;
    }
    if (path == nullptr) continue;
    // The mount shows the tree from `root` down: the broker's cgroup must be
    // in it.
    if (root == "/") {
      hierarchy.own_path = *path;
    } else if (*path == root) {
      hierarchy.own_path = "/";
    } else if (absl::StartsWith(*path, root + "/")) {
      hierarchy.own_path = path->substr(root.size());
    } else {
      continue;
    }
    if (hierarchy.version == CgroupVersion::kV2) {
      layout.unified = hierarchy;
    } else {
      layout.v1.push_back(hierarchy);
    }
  }
  return layout;
}

absl::StatusOr<CgroupLayout> DiscoverCgroupLayout() {
  ASSIGN_OR_RETURN(std::string mountinfo, ReadSmallFile("/proc/self/mountinfo"));
  ASSIGN_OR_RETURN(std::string proc_cgroup, ReadSmallFile("/proc/self/cgroup"));
  CgroupLayout layout = ParseCgroupLayout(mountinfo, proc_cgroup);
  if (layout.unified.has_value()) {
    if (std::optional<std::string> controllers =
            ReadTrimmed(Join(layout.unified->OwnDirectory(), "cgroup.controllers"))) {
      for (absl::string_view controller : absl::StrSplit(*controllers, ' ', absl::SkipEmpty())) {
        layout.unified->controllers.emplace_back(controller);
      }
    }
  }
  return layout;
}

std::string CgroupLimit::Setting() const {
  std::vector<std::string> parts;
  for (const auto& [file, value] : writes) parts.push_back(absl::StrCat(file, "=", value));
  return absl::StrJoin(parts, ", ");
}

std::vector<CgroupLimit> PlanCgroupLimits(const policy::ResourceLimits& limits) {
  std::vector<CgroupLimit> planned;
  auto add = [&](const char* name, const char* controller, bool asked) {
    CgroupLimit limit;
    limit.name = name;
    limit.controller = controller;
    limit.asked = asked;
    planned.push_back(limit);
  };
  if (limits.memory_bytes.has_value()) {
    add("memory", "memory", true);
    add("swap", "memory", true);
  } else if (limits.swap_bytes.has_value()) {
    add("swap", "memory", true);
  }
  add("pids", "pids", limits.pids.has_value());
  if (limits.cpus.has_value()) add("cpu", "cpu", true);
  return planned;
}

void FillLimitFiles(CgroupVersion version, const policy::ResourceLimits& limits, size_t page_size,
                    CgroupLimit* limit) {
  auto pages = [&](uint64_t bytes) { return absl::StrCat(bytes / page_size * page_size); };
  bool v1 = version == CgroupVersion::kV1;
  limit->writes.clear();
  limit->expected.clear();
  if (limit->name == "memory") {
    uint64_t bytes = *limits.memory_bytes;
    limit->writes.emplace_back(v1 ? "memory.limit_in_bytes" : "memory.max", absl::StrCat(bytes));
    limit->expected.push_back(pages(bytes));
  } else if (limit->name == "swap") {
    uint64_t swap = limits.swap_bytes.value_or(0);
    if (v1) {
      // memsw counts memory and swap together; without a memory limit the
      // swap allowance is the whole of it.
      uint64_t total = limits.memory_bytes.has_value() ? *limits.memory_bytes + swap : swap;
      limit->writes.emplace_back("memory.memsw.limit_in_bytes", absl::StrCat(total));
      limit->expected.push_back(pages(total));
    } else {
      limit->writes.emplace_back("memory.swap.max", absl::StrCat(swap));
      limit->expected.push_back(pages(swap));
    }
  } else if (limit->name == "pids") {
    std::string value = absl::StrCat(limits.PidsOrDefault());
    limit->writes.emplace_back("pids.max", value);
    limit->expected.push_back(value);
  } else if (limit->name == "cpu") {
    std::string quota = absl::StrCat(limits.CpuQuotaMicros());
    std::string period = absl::StrCat(policy::kCpuPeriodMicros);
    if (v1) {
      limit->writes.emplace_back("cpu.cfs_period_us", period);
      limit->writes.emplace_back("cpu.cfs_quota_us", quota);
      limit->expected = {period, quota};
    } else {
      limit->writes.emplace_back("cpu.max", absl::StrCat(quota, " ", period));
      limit->expected.push_back(absl::StrCat(quota, " ", period));
    }
  }
}

uint64_t ParseOomKills(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    uint64_t count = 0;
    if (absl::ConsumePrefix(&line, "oom_kill ") && absl::SimpleAtoi(line, &count)) return count;
  }
  return 0;
}

int SandboxCgroup::MakeDirectory(const CgroupHierarchy& hierarchy, std::string* directory) {
  std::string display =
      absl::StrCat(CgroupVersionName(hierarchy.version), " ",
                   hierarchy.version == CgroupVersion::kV1
                       ? absl::StrCat(absl::StrJoin(hierarchy.controllers, ","), ":")
                       : "",
                   hierarchy.own_path == "/" ? "" : hierarchy.own_path, "/", name_);
  for (const Directory& made : directories_) {
    if (made.display == display) {
      *directory = made.path;
      return 0;
    }
  }
  *directory = Join(hierarchy.OwnDirectory(), name_);
  if (mkdir(directory->c_str(), 0755) != 0) return errno;
  directories_.push_back({display, *directory, hierarchy.version});
  return 0;
}

std::unique_ptr<SandboxCgroup> SandboxCgroup::Create(const CgroupLayout& layout,
                                                     const policy::ResourceLimits& limits) {
  std::unique_ptr<SandboxCgroup> cgroup(new SandboxCgroup());
  static int sequence = 0;
  cgroup->name_ = absl::StrCat(kNamePrefix, PidNamespaceInode(), "-", getpid(), "-",
                               StartTime(getpid()), "-", sequence++);
  size_t page_size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  // The unified tree's directory: placement at clone time and cgroup.kill,
  // whether or not any controller is there.
  if (layout.unified.has_value()) {
    std::string directory;
    if (cgroup->MakeDirectory(*layout.unified, &directory) == 0) {
      cgroup->unified_directory_ = directory;
      cgroup->unified_fd_.reset(open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    }
  }
  cgroup->limits_ = PlanCgroupLimits(limits);
  for (CgroupLimit& limit : cgroup->limits_) {
    const CgroupHierarchy* hierarchy = layout.For(limit.controller);
    if (hierarchy == nullptr) {
      limit.error = ENOENT;
      limit.problem = absl::StrCat("no cgroup hierarchy of the broker offers the ",
                                   limit.controller, " controller (neither v2 nor v1)");
      continue;
    }
    limit.version = hierarchy->version;
    FillLimitFiles(hierarchy->version, limits, page_size, &limit);
    if (hierarchy->version == CgroupVersion::kV2) {
      // A v2 cgroup gives a controller to its children only through its
      // subtree_control, and only while it has no processes of its own.
      std::string subtree = Join(hierarchy->OwnDirectory(), "cgroup.subtree_control");
      std::optional<std::string> enabled = ReadTrimmed(subtree);
      std::vector<std::string> names = absl::StrSplit(enabled.value_or(""), ' ');
      if (std::find(names.begin(), names.end(), limit.controller) == names.end()) {
        if (int error = WriteFile(subtree, absl::StrCat("+", limit.controller)); error != 0) {
          limit.error = error;
          limit.problem = absl::StrCat(
              "cannot give the ", limit.controller, " controller to child cgroups: ",
              ErrnoStatus(error, absl::StrCat("write(", subtree, ")")).message(),
              error == EBUSY ? " (the broker's cgroup has processes of its own: start the broker "
                               "in a cgroup of its own, e.g. systemd-run --scope -p Delegate=yes)"
                             : "");
          continue;
        }
      }
    }
    if (int error = cgroup->MakeDirectory(*hierarchy, &limit.directory); error != 0) {
      limit.error = error;
      limit.problem =
          absl::StrCat("cannot make the sandbox's cgroup: ",
                       ErrnoStatus(error, absl::StrCat("mkdir(", limit.directory, ")")).message(),
                       error == EACCES || error == EPERM || error == EROFS
                           ? " (the cgroup tree is read-only or not delegated to the broker's uid)"
                           : "");
      continue;
    }
    if (limit.name == "swap" && !Exists(Join(limit.directory, limit.writes[0].first))) {
      if (HostHasSwap()) {
        limit.error = ENOENT;
        limit.problem =
            absl::StrCat("the host has swap but no swap accounting (", limit.writes[0].first,
                         " is missing; boot with swapaccount=1): memory can spill to "
                         "swap without a limit");
      } else {
        limit.skipped = true;
        limit.note = "the host has no swap and no swap accounting: nothing to spill into";
      }
      continue;
    }
    for (const auto& [file, value] : limit.writes) {
      std::string path = Join(limit.directory, file);
      if (int error = WriteFile(path, value); error != 0) {
        limit.error = error;
        limit.problem = std::string(
            ErrnoStatus(error, absl::StrCat("write(", path, ", ", value, ")")).message());
        break;
      }
    }
  }
  // The whole sandbox dies on an OOM kill (v2 does it itself), and the
  // broker hears of it at once.
  for (const CgroupLimit& limit : cgroup->limits_) {
    if (limit.name != "memory" || limit.error != 0) continue;
    cgroup->memory_directory_ = limit.directory;
    cgroup->oom_version_ = *limit.version;
    if (*limit.version == CgroupVersion::kV2) {
      WriteFile(Join(limit.directory, "memory.oom.group"), "1");
      cgroup->oom_fd_.reset(
          open(Join(limit.directory, "memory.events").c_str(), O_RDONLY | O_CLOEXEC));
    } else {
      UniqueFd event(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      UniqueFd control(
          open(Join(limit.directory, "memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC));
      if (event.valid() && control.valid() &&
          WriteFile(Join(limit.directory, "cgroup.event_control"),
                    absl::StrCat(event.get(), " ", control.get())) == 0) {
        cgroup->oom_fd_ = std::move(event);
      }
    }
  }
  return cgroup;
}

std::vector<std::string> SandboxCgroup::Paths() const {
  std::vector<std::string> paths;
  for (const Directory& directory : directories_) paths.push_back(directory.path);
  return paths;
}

SandboxCgroup::~SandboxCgroup() {
  std::vector<std::string> paths = Paths();
  absl::Time deadline = absl::Now() + absl::Seconds(2);
  KillMembers(paths, deadline);
  unified_fd_.reset();
  oom_fd_.reset();
  for (const std::string& path : paths) RemoveDirectory(path, deadline);
}

void SandboxCgroup::KillAll() { KillMembers(Paths(), absl::Now() + absl::Seconds(2)); }

void SandboxCgroup::Attach(pid_t pid, bool cloned_into_unified) {
  std::string text = absl::StrCat(pid);
  for (const Directory& directory : directories_) {
    if (cloned_into_unified && directory.path == unified_directory_) continue;
    int error = WriteFile(Join(directory.path, "cgroup.procs"), text);
    if (error == 0) continue;
    for (CgroupLimit& limit : limits_) {
      if (limit.directory == directory.path && limit.error == 0) {
        limit.error = error;
        limit.problem = absl::StrCat("cannot move the sandbox into ", directory.display, ": ",
                                     ErrnoStatus(error, "write(cgroup.procs)").message());
      }
    }
  }
}

void SandboxCgroup::Verify(pid_t pid) {
  absl::StatusOr<std::string> membership = ReadSmallFile(absl::StrCat("/proc/", pid, "/cgroup"));
  for (CgroupLimit& limit : limits_) {
    if (limit.error != 0 || limit.skipped) continue;
    for (size_t i = 0; i < limit.writes.size(); ++i) {
      std::string path = Join(limit.directory, limit.writes[i].first);
      std::optional<std::string> now = ReadTrimmed(path);
      // v2 writes "max" for what v1 spells as a large number; neither is
      // asked here, so anything else is a mismatch.
      if (!now.has_value() || *now != limit.expected[i]) {
        limit.error = now.has_value() ? EIO : errno;
        limit.problem = absl::StrCat(path, " reads back as '", now.value_or("(unreadable)"),
                                     "', expected '", limit.expected[i], "'");
        break;
      }
    }
    if (limit.error != 0) continue;
    // The sandbox's own line names this directory: "N:memory:/…/tether-…".
    if (!membership.ok() || !absl::StrContains(*membership, absl::StrCat("/", name_, "\n"))) {
      limit.error = ESRCH;
      limit.problem = absl::StrCat("/proc/", pid, "/cgroup does not name ", name_);
    }
  }
}

std::vector<std::string> SandboxCgroup::Describe() const {
  std::vector<std::string> described;
  for (const Directory& directory : directories_) described.push_back(directory.display);
  return described;
}

void SandboxCgroup::DrainOomFd() {
  if (oom_version_ == CgroupVersion::kV1) {
    uint64_t count;
    (void)!read(oom_fd_.get(), &count, sizeof(count));
    return;
  }
  // kernfs reports POLLPRI until the file is read again from the start.
  char events[512];
  (void)!pread(oom_fd_.get(), events, sizeof(events), 0);
}

uint64_t SandboxCgroup::OomKills() const {
  if (memory_directory_.empty()) return 0;
  const char* file = oom_version_ == CgroupVersion::kV1 ? "memory.oom_control" : "memory.events";
  absl::StatusOr<std::string> text = ReadSmallFile(Join(memory_directory_, file));
  return text.ok() ? ParseOomKills(*text) : 0;
}

int RemoveStaleCgroups(const CgroupLayout& layout) {
  std::vector<std::string> parents;
  if (layout.unified.has_value()) parents.push_back(layout.unified->OwnDirectory());
  for (const CgroupHierarchy& hierarchy : layout.v1) parents.push_back(hierarchy.OwnDirectory());
  std::string own_namespace = absl::StrCat(PidNamespaceInode());
  int removed = 0;
  for (const std::string& parent : parents) {
    std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(parent.c_str()), closedir);
    if (dir == nullptr) continue;
    std::vector<std::string> stale;
    while (struct dirent* entry = readdir(dir.get())) {
      absl::string_view name = entry->d_name;
      if (entry->d_type != DT_DIR || !absl::ConsumePrefix(&name, kNamePrefix)) continue;
      // tether-<pid namespace>-<pid>-<start time>-<n>: only this pid
      // namespace's brokers can be told alive or dead from here.
      std::vector<absl::string_view> parts = absl::StrSplit(name, '-');
      pid_t pid = 0;
      uint64_t start = 0;
      if (parts.size() != 4 || parts[0] != own_namespace || !absl::SimpleAtoi(parts[1], &pid) ||
          !absl::SimpleAtoi(parts[2], &start) || pid <= 0) {
        continue;
      }
      if (StartTime(pid) == start) continue;  // its broker is alive
      stale.push_back(Join(parent, entry->d_name));
    }
    if (stale.empty()) continue;
    absl::Time deadline = absl::Now() + absl::Seconds(2);
    KillMembers(stale, deadline);
    for (const std::string& path : stale) {
      RemoveDirectory(path, deadline);
      removed += Exists(path) ? 0 : 1;
    }
  }
  return removed;
}

}  // namespace tether::broker
