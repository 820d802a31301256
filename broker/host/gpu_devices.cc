#include "broker/host/gpu_devices.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "base/status.h"
#include "broker/host/proc_status.h"
#include "ipc/unique_fd.h"

namespace tether::broker {
namespace {

// Fixed by the NVIDIA driver (NV_MAJOR_DEVICE_NUMBER and the minors that
// nvidia-modprobe creates); the UVM driver registers its two minors itself.
constexpr unsigned kNvidiaMajor = 195;
constexpr unsigned kControlMinor = 255;
constexpr unsigned kModesetMinor = 254;
constexpr unsigned kUvmMinor = 0;
constexpr unsigned kUvmToolsMinor = 1;

constexpr absl::string_view kUvmDriver = "nvidia-uvm";
constexpr absl::string_view kCapsDriver = "nvidia-caps";
constexpr absl::string_view kCapPrefix = "nvidia-cap";

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  while (dir.size() > 1 && absl::EndsWith(dir, "/")) dir.remove_suffix(1);
  if (dir == "/") return absl::StrCat("/", name);
  return absl::StrCat(dir, "/", name);
}

bool AllDigits(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

// Parses a decimal index with no sign and no leading zero, so that every
// index has exactly one spelling (nvidia1 and nvidia01 cannot both count).
std::optional<int> CanonicalIndex(absl::string_view digits) {
  if (!AllDigits(digits) || digits.size() > 3) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  int value = 0;
  if (!absl::SimpleAtoi(digits, &value) || value > kMaxGpuIndex) {
    return std::nullopt;
  }
  return value;
}

std::string DescribeFile(const struct stat& st) {
  switch (st.st_mode & S_IFMT) {
    case S_IFCHR:
      return absl::StrCat("a character device ", major(st.st_rdev), ":", minor(st.st_rdev));
    case S_IFBLK: return absl::StrCat("a block device ", major(st.st_rdev), ":", minor(st.st_rdev));
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFLNK: return "a symbolic link";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    default: return "a file of unknown type";
  }
}

// What a node must be; an unset field accepts any value.
struct Expected {
  std::optional<unsigned> major;
  std::optional<unsigned> minor;
  // Where a dynamic major came from, for the error message.
  std::string major_source;
};

std::string DescribeExpected(const Expected& expected) {
  std::string text = "a character device";
  if (expected.major) {
    absl::StrAppend(&text, " with major ", *expected.major);
    if (!expected.major_source.empty()) {
      absl::StrAppend(&text, " (", expected.major_source, ")");
    }
  }
  if (expected.minor) {
    absl::StrAppend(&text, expected.major ? " and" : " with", " minor ", *expected.minor);
  }
  return text;
}

absl::Status CheckNode(const std::string& path, const struct stat& st, const Expected& expected) {
  bool ok = S_ISCHR(st.st_mode) && (!expected.major || major(st.st_rdev) == *expected.major) &&
            (!expected.minor || minor(st.st_rdev) == *expected.minor);
  if (ok) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(path, " is ", DescribeFile(st), ", expected ", DescribeExpected(expected)));
}

// lstat relative to an open directory: the entry itself, never what a
// symlink points at, and never a path re-resolved from the root.
absl::StatusOr<struct stat> StatEntry(DIR* dir, const std::string& name, const std::string& path) {
  struct stat st;
  if (fstatat(dirfd(dir), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus(errno, absl::StrCat("fstatat(", path, ", AT_SYMLINK_NOFOLLOW)"));
  }
  return st;
}

// Entry names other than "." and "..", sorted so results are stable.
absl::StatusOr<std::vector<std::string>> ReadNames(DIR* dir, const std::string& path) {
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    struct dirent* entry = readdir(dir);
    if (entry == nullptr) {
      if (errno != 0) {
        return ErrnoStatus(errno, absl::StrCat("readdir(", path, ")"));
      }
      break;
    }
    absl::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The "Character devices:" section of /proc/devices, read only when a node
// with a dynamic major is present.
class CharDeviceMajors {
 public:
  explicit CharDeviceMajors(const std::string& path) : path_(path) {}

  // The major the kernel registered for `driver`, or an error naming `node`
  // when it has none (the node cannot belong to that driver).
  absl::StatusOr<unsigned> Major(absl::string_view driver, const std::string& node) {
    if (!majors_) {
      ASSIGN_OR_RETURN(auto majors, Load());
      majors_ = std::move(majors);
    }
    auto it = majors_->find(driver);
    if (it == majors_->end()) {
      return absl::FailedPreconditionError(
          absl::StrCat(node, " exists but ", path_, " lists no \"", driver, "\" character device"));
    }
    return it->second;
  }

 private:
  absl::StatusOr<std::map<std::string, unsigned, std::less<>>> Load() const {
    ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path_));
    std::map<std::string, unsigned, std::less<>> majors;
    bool in_section = false;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      absl::string_view stripped = absl::StripAsciiWhitespace(line);
      if (!in_section) {
        in_section = stripped == "Character devices:";
        continue;
      }
      // A blank line ends the section (the block devices follow).
      if (stripped.empty()) break;
      std::vector<absl::string_view> parts =
          absl::StrSplit(stripped, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      unsigned major_number = 0;
      if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &major_number)) {
        return absl::DataLossError(absl::StrCat(path_, ": malformed line \"", line, "\""));
      }
      // Several drivers may share a name's first registration; keep the
      // first, as nvidia-modprobe does.
      majors.emplace(std::string(parts[1]), major_number);
    }
    if (!in_section) {
      return absl::DataLossError(absl::StrCat(path_, " has no \"Character devices:\" section"));
    }
    return majors;
  }

  std::string path_;
  std::optional<std::map<std::string, unsigned, std::less<>>> majors_;
};

// Everything recognised under the device root, each already validated.
struct FoundNodes {
  std::optional<GpuDeviceNode> control;
  std::map<int, GpuDeviceNode> gpus;
  std::optional<GpuDeviceNode> uvm;
  std::optional<GpuDeviceNode> uvm_tools;
  std::optional<GpuDeviceNode> modeset;
  std::vector<GpuDeviceNode> caps;
  std::optional<GpuDeviceNode> dxg;
};

absl::StatusOr<GpuDeviceNode> ValidatedNode(DIR* dir, const std::string& name,
                                            const std::string& path, const Expected& expected,
                                            absl::string_view role) {
  ASSIGN_OR_RETURN(struct stat st, StatEntry(dir, name, path));
  if (absl::Status status = CheckNode(path, st, expected); !status.ok()) {
    return status;
  }
  return GpuDeviceNode{path, major(st.st_rdev), minor(st.st_rdev), std::string(role)};
}

// /dev/nvidia-caps/nvidia-capN (MIG and other capabilities): every entry
// must be a character device of the nvidia-caps driver whose minor is N,
// which is how nvidia-modprobe names them.
absl::Status ScanCaps(DIR* parent, const std::string& caps_path, CharDeviceMajors& majors,
                      FoundNodes& found) {
  ASSIGN_OR_RETURN(struct stat st, StatEntry(parent, "nvidia-caps", caps_path));
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(caps_path, " is ", DescribeFile(st), ", expected a directory"));
  }
  // O_NOFOLLOW closes the window between the fstatat above and this open.
  UniqueFd fd(
      openat(dirfd(parent), "nvidia-caps", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    return ErrnoStatus(errno, absl::StrCat("openat(", caps_path, ", O_DIRECTORY|O_NOFOLLOW)"));
  }
  DirPtr dir(fdopendir(fd.get()));
  if (dir == nullptr) {
    return ErrnoStatus(errno, absl::StrCat("fdopendir(", caps_path, ")"));
  }
  fd.release();  // the DIR owns it now
  ASSIGN_OR_RETURN(std::vector<std::string> names, ReadNames(dir.get(), caps_path));
  for (const std::string& name : names) {
    std::string path = JoinPath(caps_path, name);
    ASSIGN_OR_RETURN(unsigned caps_major, majors.Major(kCapsDriver, path));
    Expected expected{caps_major, std::nullopt,
                      absl::StrCat("\"", kCapsDriver, "\" in /proc/devices")};
    absl::string_view suffix = name;
    if (absl::ConsumePrefix(&suffix, kCapPrefix)) {
      if (std::optional<int> index = CanonicalIndex(suffix)) {
        expected.minor = static_cast<unsigned>(*index);
      }
    }
    ASSIGN_OR_RETURN(GpuDeviceNode node, ValidatedNode(dir.get(), name, path, expected, "caps"));
    found.caps.push_back(std::move(node));
  }
  return absl::OkStatus();
}

absl::StatusOr<FoundNodes> ScanDeviceRoot(const GpuDiscoveryOptions& options) {
  const std::string& root = options.device_root;
  DirPtr dir(opendir(root.c_str()));
  if (dir == nullptr) {
    return ErrnoStatus(errno, absl::StrCat("opendir(", root, ")"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> names, ReadNames(dir.get(), root));

  CharDeviceMajors majors(options.proc_devices);
  FoundNodes found;
  auto add = [&](const std::string& name, const Expected& expected, absl::string_view role,
                 std::optional<GpuDeviceNode>& slot) -> absl::Status {
    ASSIGN_OR_RETURN(GpuDeviceNode node,
                     ValidatedNode(dir.get(), name, JoinPath(root, name), expected, role));
    slot = std::move(node);
    return absl::OkStatus();
  };
  auto uvm_expected = [&](const std::string& name,
                          unsigned minor_number) -> absl::StatusOr<Expected> {
    ASSIGN_OR_RETURN(unsigned uvm_major, majors.Major(kUvmDriver, JoinPath(root, name)));
    return Expected{uvm_major, minor_number, absl::StrCat("\"", kUvmDriver, "\" in /proc/devices")};
  };

  for (const std::string& name : names) {
    absl::Status status;
    if (name == "nvidiactl") {
      status = add(name, {kNvidiaMajor, kControlMinor, ""}, "control", found.control);
    } else if (name == "nvidia-modeset") {
      status = add(name, {kNvidiaMajor, kModesetMinor, ""}, "modeset", found.modeset);
    } else if (name == "nvidia-uvm" || name == "nvidia-uvm-tools") {
      bool tools = name == "nvidia-uvm-tools";
      ASSIGN_OR_RETURN(Expected expected, uvm_expected(name, tools ? kUvmToolsMinor : kUvmMinor));
      status =
          add(name, expected, tools ? "uvm-tools" : "uvm", tools ? found.uvm_tools : found.uvm);
    } else if (name == "nvidia-caps") {
      status = ScanCaps(dir.get(), JoinPath(root, name), majors, found);
    } else if (name == "dxg") {
      // dxgkrnl is a misc device with a dynamic minor: any char device.
      status = add(name, {std::nullopt, std::nullopt, ""}, "dxg", found.dxg);
    } else if (absl::string_view suffix = name;
               absl::ConsumePrefix(&suffix, "nvidia") && AllDigits(suffix)) {
      std::optional<int> index = CanonicalIndex(suffix);
      if (!index) {
        return absl::FailedPreconditionError(absl::StrCat(
            JoinPath(root, name), " is not a GPU node the NVIDIA driver creates (nvidia0 to nvidia",
            kMaxGpuIndex, ")"));
      }
      std::optional<GpuDeviceNode> gpu;
      status = add(name, {kNvidiaMajor, static_cast<unsigned>(*index), ""}, "gpu", gpu);
      if (status.ok()) found.gpus.emplace(*index, *std::move(gpu));
    }
    if (!status.ok()) return status;
  }
  return found;
}

// Whether `path` is a real directory; absent is fine, anything else (a
// symlink could point the read-only grant anywhere) is an error.
absl::StatusOr<bool> DirectoryPresent(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus(errno, absl::StrCat("lstat(", path, ")"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is ", DescribeFile(st), ", expected a directory"));
  }
  return true;
}

absl::Status CheckSelection(const GpuSelection& selection) {
  if (selection.all && !selection.indexes.empty()) {
    return absl::InvalidArgumentError("GPU selection is both \"all\" and a list of indexes");
  }
  std::set<int> seen;
  for (int index : selection.indexes) {
    if (index < 0 || index > kMaxGpuIndex) {
      return absl::InvalidArgumentError(
          absl::StrCat("GPU index ", index, " is outside 0 to ", kMaxGpuIndex));
    }
    if (!seen.insert(index).second) {
      return absl::InvalidArgumentError(absl::StrCat("GPU index ", index, " is selected twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GpuGrant> DiscoverGpus(const GpuSelection& selection,
                                      const GpuDiscoveryOptions& options) {
  if (absl::Status status = CheckSelection(selection); !status.ok()) {
    return status;
  }
  // Nothing requested: touch nothing, so hosts without a driver never fail.
  if (!selection.all && selection.indexes.empty()) return GpuGrant{};

  ASSIGN_OR_RETURN(FoundNodes found, ScanDeviceRoot(options));
  const std::string& root = options.device_root;

  if (found.gpus.empty() && !found.dxg) {
    return absl::NotFoundError(absl::StrCat(
        "GPUs were requested but there are no NVIDIA device nodes under ", root,
        found.control ? " (nvidiactl is there, but no nvidiaN)" : " (no nvidiaN, no dxg)"));
  }
  // The driver refuses every GPU ioctl without the control node; WSL2's
  // /dev/dxg stands in for the whole native set.
  if (!found.gpus.empty() && !found.control) {
    return absl::FailedPreconditionError(absl::StrCat(found.gpus.begin()->second.path,
                                                      " is present but ",
                                                      JoinPath(root, "nvidiactl"), " is missing"));
  }

  GpuGrant grant;
  if (selection.all) {
    for (const auto& [index, node] : found.gpus) {
      grant.gpu_indexes.push_back(index);
    }
  } else {
    std::vector<int> missing;
    for (int index : selection.indexes) {
      if (found.gpus.count(index) == 0) missing.push_back(index);
    }
    if (!missing.empty()) {
      std::vector<int> present;
      for (const auto& [index, node] : found.gpus) present.push_back(index);
      return absl::NotFoundError(
          absl::StrCat("GPU index", missing.size() > 1 ? "es " : " ", absl::StrJoin(missing, ", "),
                       " not present under ", root,
                       " (present: ", present.empty() ? "none" : absl::StrJoin(present, ", "),
                       found.dxg ? "; WSL2's dxg cannot be narrowed to single GPUs" : "", ")"));
    }
    grant.gpu_indexes = selection.indexes;
    std::sort(grant.gpu_indexes.begin(), grant.gpu_indexes.end());
  }

  if (found.control) grant.nodes.push_back(*found.control);
  for (int index : grant.gpu_indexes) {
    grant.nodes.push_back(found.gpus.at(index));
  }
  for (const std::optional<GpuDeviceNode>* optional_node :
       {&found.uvm, &found.uvm_tools, &found.modeset}) {
    if (*optional_node) grant.nodes.push_back(**optional_node);
  }
  grant.nodes.insert(grant.nodes.end(), found.caps.begin(), found.caps.end());
  if (found.dxg) grant.nodes.push_back(*found.dxg);

  // Each directory serves only its own driver stack.
  std::vector<std::string> candidates;
  if (found.control) {
    candidates.push_back(JoinPath(options.run_root, "nvidia-persistenced"));
  }
  if (found.dxg) candidates.push_back(options.wsl_lib_dir);
  for (const std::string& path : candidates) {
    ASSIGN_OR_RETURN(bool present, DirectoryPresent(path));
    if (present) grant.read_only_paths.push_back(path);
  }
  return grant;
}

}  // namespace tether::broker
