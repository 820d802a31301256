#include "broker/policy_options.h"

#include <capnp/message.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "broker/cache/home_directories.h"
#include "broker/filesystem_view.h"
#include "broker/report/posture_report.h"
#include "broker/report/report.capnp.h"
#include "broker/working_directory.h"
#include "kernel/landlock.h"
#include "policy/landlock_ruleset.h"

namespace tether::broker {
namespace {

void Append(const std::vector<std::string>& from, std::vector<std::string>* to) {
  to->insert(to->end(), from.begin(), from.end());
}

// Keeps the first of each entry: baselines and the file may name a path twice.
void Dedupe(std::vector<std::string>* entries) {
  std::set<std::string> seen;
  entries->erase(
      std::remove_if(entries->begin(), entries->end(),
                     [&](const std::string& entry) { return !seen.insert(entry).second; }),
      entries->end());
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Landlock's rights by bit, for saying what the kernel enforces.
using kernel::kFsRights;
using kernel::kScopes;
using Right = kernel::LandlockRight;

// The names of the rights `mask` has (`present`) or lacks.
std::vector<std::string> Rights(uint64_t mask, const Right* rights, size_t count, bool present) {
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) {
    if (((mask & rights[i].bit) != 0) == present) names.push_back(rights[i].name);
  }
  return names;
}

void SetStrings(capnp::List<capnp::Text>::Builder list, const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); ++i) list.set(i, values[i]);
}

}  // namespace

absl::Status ApplyPolicyFile(const policy::PolicyFile& file, RunOptions* options) {
  RunOptions updated = *options;
  Append(file.read_only, &updated.policy.read_only);
  Append(file.read_write, &updated.policy.read_write);
  Append(file.devices, &updated.policy.devices);
  Append(file.environment, &updated.policy.environment_allow);
  Append(file.deny_syscalls, &updated.policy.extra_denied_syscalls);
  updated.policy.allowed_socket_families = file.allow_socket_families;
  for (auto* list : {&updated.policy.read_only, &updated.policy.read_write, &updated.policy.devices,
                     &updated.policy.environment_allow}) {
    Dedupe(list);
  }
  if (file.user.has_value()) updated.user = file.user;
  for (const auto& [mechanism, mode] : file.enforcement) {
    updated.enforcement.Set(mechanism, mode, "policy");
  }
  if (file.network_mode.has_value()) updated.network_mode = *file.network_mode;
  updated.egress.rules = file.egress;
  if (file.egress_max_connections.has_value()) {
    updated.egress.limits.max_connections = *file.egress_max_connections;
  }
  if (file.egress_max_bytes.has_value()) updated.egress.limits.max_bytes = *file.egress_max_bytes;
  updated.resources = file.resources;
  if (file.gpu_devices.has_value()) updated.gpus = *file.gpu_devices;
  if (file.gpu_device_root.has_value()) updated.gpu_discovery.device_root = *file.gpu_device_root;
  if (file.gpu_proc_conflict.has_value()) updated.proc_conflict = *file.gpu_proc_conflict;
  updated.user_lists_proc_read_only = Contains(file.read_only, "/proc");
  if (file.landlock_compatibility.has_value()) {
    updated.enforcement.Set(
        Mechanism::kLandlock,
        *file.landlock_compatibility == policy::LandlockCompatibility::kHardRequirement
            ? EnforcementMode::kStrict
            : EnforcementMode::kBestEffort,
        "policy");
  }
  updated.group = file.group;
  updated.supplementary_groups = file.supplementary_groups;
  if (file.working_directory.has_value()) updated.working_directory = file.working_directory;
  if (file.hostname.has_value()) updated.policy.hostname = *file.hostname;
  if (file.tmpfs_size_bytes.has_value()) updated.policy.tmpfs_size_bytes = *file.tmpfs_size_bytes;
  for (const policy::RlimitEntry& limit : file.rlimits) {
    updated.rlimits.push_back(
        {limit.name, static_cast<uint32_t>(limit.resource), limit.soft, limit.hard});
  }
  // Paths the user named must exist where Landlock is a hard requirement;
  // otherwise a missing one is only a warning (baseline paths are skipped).
  bool hard = !updated.enforcement.best_effort(Mechanism::kLandlock);
  const struct {
    const char* key;
    const std::vector<std::string>* paths;
  } lists[] = {
      {"read_only", &file.read_only}, {"read_write", &file.read_write}, {"devices", &file.devices}};
  for (const auto& list : lists) {
    for (size_t i = 0; i < list.paths->size(); ++i) {
      const std::string& path = (*list.paths)[i];
      struct stat st;
      if (stat(path.c_str(), &st) == 0) continue;
      std::string message =
          absl::StrCat("$.filesystem.", list.key, "[", i, "]: '", path, "' does not exist");
      if (hard) {
        return absl::InvalidArgumentError(
            absl::StrCat(message, " (filesystem.landlock_compatibility is hard_requirement)"));
      }
      updated.warnings.push_back(absl::StrCat(message, "; skipped (best effort)"));
    }
  }
  *options = std::move(updated);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ExplainPolicy(const policy::PolicyFile& file, const RunOptions& options,
                                          int landlock_abi) {
  SandboxPolicy effective = options.policy;
  GpuGrant grant;
  GpuPolicyOutcome gpu;
  if (options.gpus.all || !options.gpus.indexes.empty()) {
    ASSIGN_OR_RETURN(grant, DiscoverGpus(options.gpus, options.gpu_discovery));
    ASSIGN_OR_RETURN(gpu, ApplyGpuGrant(grant, options.proc_conflict,
                                        options.user_lists_proc_read_only, &effective));
  }
  std::vector<std::string> gpu_paths = gpu.granted;
  Append(grant.read_only_paths, &gpu_paths);
  auto origin = [&](const std::string& path, const std::vector<std::string>& user_list) {
    if (Contains(user_list, path)) return "user";
    if (Contains(gpu_paths, path)) return "gpu-baseline";
    return "baseline";
  };

  capnp::MallocMessageBuilder message;
  auto json = message.initRoot<schema::PolicyExplanation>();
  auto json_effective = json.initEffective();
  auto filesystem = json_effective.initFilesystem();
  const struct {
    const char* key;
    const std::vector<std::string>* entries;
    const std::vector<std::string>* user;
  } lists[] = {{"read_only", &effective.read_only, &file.read_only},
               {"read_write", &effective.read_write, &file.read_write},
               {"devices", &effective.devices, &file.devices}};
  SetStrings(filesystem.initReadOnly(effective.read_only.size()), effective.read_only);
  SetStrings(filesystem.initReadWrite(effective.read_write.size()), effective.read_write);
  SetStrings(filesystem.initDevices(effective.devices.size()), effective.devices);
  filesystem.setTmpfsSize(absl::StrCat(effective.tmpfs_size_bytes));
  auto process = json_effective.initProcess();
  if (options.user.has_value()) process.setUser(*options.user);
  process.setHostname(effective.hostname);
  SetStrings(process.initEnvironment(effective.environment_allow.size()),
             effective.environment_allow);
  SetStrings(json_effective.initSeccomp().initDenySyscalls(effective.extra_denied_syscalls.size()),
             effective.extra_denied_syscalls);
  auto network = json_effective.initNetwork();
  network.setMode(NetworkModeName(options.network_mode));
  std::vector<std::string> egress;
  for (const policy::EgressRule& rule : options.egress.rules) egress.push_back(rule.text);
  SetStrings(network.initEgress(egress.size()), egress);
  network.setMaxConnections(options.egress.limits.max_connections);
  network.setMaxBytes(absl::StrCat(options.egress.limits.max_bytes));
  const policy::ResourceLimits& limits = options.resources;
  auto resources = json_effective.initResources();
  if (limits.memory_bytes.has_value()) {
    resources.setMemory(policy::FormatBytes(*limits.memory_bytes));
    resources.setMemorySwap(policy::FormatBytes(limits.swap_bytes.value_or(0)));
  } else if (limits.swap_bytes.has_value()) {
    resources.setMemorySwap(policy::FormatBytes(*limits.swap_bytes));
  }
  resources.setPids(static_cast<uint32_t>(limits.PidsOrDefault()));
  if (limits.cpus.has_value()) resources.setCpus(absl::StrCat(*limits.cpus));
  if (limits.timeout.has_value()) resources.setTimeout(absl::FormatDuration(*limits.timeout));
  capnp::DynamicStruct::Builder modes = capnp::toDynamic(json_effective.initEnforcement());
  for (Mechanism mechanism : kRelaxableMechanisms) {
    modes.set(MechanismField(modes.getSchema(), mechanism),
              capnp::Text::Reader(EnforcementModeName(options.enforcement.mode(mechanism))));
  }
  if (file.gpu_devices.has_value() || file.gpu_device_root.has_value() ||
      file.gpu_proc_conflict.has_value()) {
    auto json_gpu = json_effective.initGpu();
    if (file.gpu_devices.has_value()) json_gpu.setDevices(file.gpu_devices_text);
    if (file.gpu_device_root.has_value()) json_gpu.setDeviceRoot(*file.gpu_device_root);
    if (file.gpu_proc_conflict.has_value()) {
      json_gpu.setProcConflict(policy::ProcConflictName(*file.gpu_proc_conflict));
    }
  }

  size_t count = effective.write_file.size();
  for (const auto& list : lists) count += list.entries->size();
  auto origins = json.initOrigins(count);
  size_t next = 0;
  for (const auto& list : lists) {
    for (size_t i = 0; i < list.entries->size(); ++i) {
      const std::string& path = (*list.entries)[i];
      auto entry = origins[next++];
      entry.setPath(absl::StrCat("$.filesystem.", list.key, "[", i, "]"));
      entry.setValue(path);
      entry.setOrigin(origin(path, *list.user));
    }
  }
  for (const std::string& path : effective.write_file) {
    auto entry = origins[next++];
    entry.setPath("write_file");
    entry.setValue(path);
    entry.setOrigin("promoted");
    entry.setReason(gpu.proc_note);
  }

  ViewInput view_input;
  view_input.policy = &effective;
  absl::StatusOr<std::string> cwd = CanonicalDirectory(options.working_directory.value_or("."));
  view_input.working_directory = cwd.ok() ? *cwd : "/";
  view_input.working_directory_writable =
      DecideWorkingDirectoryAccessOnDisk(view_input.working_directory, CachedHomeDirectories(),
                                         effective.read_write)
          .writable;
  ASSIGN_OR_RETURN(ViewPlan view, PlanFilesystemView(view_input));
  auto json_view = json.initView(view.mounts.size());
  for (size_t i = 0; i < view.mounts.size(); ++i) {
    const ViewMount& mount = view.mounts[i];
    auto entry = json_view[i];
    entry.setTarget(mount.target);
    entry.setAction(ViewMountAction(mount));
    entry.setSource(mount.source);
    entry.setOptions(ViewMountOptions(mount));
    entry.setReason(mount.reason);
  }

  auto landlock = json.initLandlock();
  landlock.setAbi(landlock_abi);
  uint64_t fs = landlock_abi > 0 ? policy::HandledFsAccess(landlock_abi) : 0;
  uint64_t scopes = landlock_abi > 0 ? policy::HandledScopes(landlock_abi) : 0;
  std::vector<std::string> enforced_fs = Rights(fs, kFsRights, std::size(kFsRights), true);
  std::vector<std::string> not_enforced_fs = Rights(fs, kFsRights, std::size(kFsRights), false);
  std::vector<std::string> enforced_scopes = Rights(scopes, kScopes, std::size(kScopes), true);
  std::vector<std::string> not_enforced_scopes = Rights(scopes, kScopes, std::size(kScopes), false);
  SetStrings(landlock.initEnforcedFsRights(enforced_fs.size()), enforced_fs);
  SetStrings(landlock.initNotEnforcedFsRights(not_enforced_fs.size()), not_enforced_fs);
  SetStrings(landlock.initEnforcedScopes(enforced_scopes.size()), enforced_scopes);
  SetStrings(landlock.initNotEnforcedScopes(not_enforced_scopes.size()), not_enforced_scopes);
  return EncodeReportJson(json.asReader()) + "\n";
}

}  // namespace tether::broker
