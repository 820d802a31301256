#include "policy/policy_file.h"

#include <capnp/compat/json.capnp.h>
#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <kj/exception.h>
#include <sys/resource.h>

#include <algorithm>
#include <iterator>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "base/status.h"
#include "policy/policy.capnp.h"
#include "policy/workload_seccomp.h"

namespace tether::policy {
namespace {

constexpr uint64_t kJsonNameAnnotation = 0xfa5b1fd61c2e7c3dull;
constexpr size_t kMaxPolicyBytes = 1 << 20;

absl::Status PathError(const std::string& path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

std::string JsonName(capnp::StructSchema::Field field) {
  for (auto annotation : field.getProto().getAnnotations()) {
    if (annotation.getId() == kJsonNameAnnotation) {
      return annotation.getValue().getText();
    }
  }
  return field.getProto().getName();
}

const char* JsonKind(capnp::JsonValue::Reader value) {
  switch (value.which()) {
    case capnp::JsonValue::NULL_: return "null";
    case capnp::JsonValue::BOOLEAN: return "a boolean";
    case capnp::JsonValue::NUMBER: return "a number";
    case capnp::JsonValue::STRING: return "a string";
    case capnp::JsonValue::ARRAY: return "an array";
    case capnp::JsonValue::OBJECT: return "an object";
    case capnp::JsonValue::CALL: return "a call";
  }
  return "unknown";
}

// Checks keys and value types against the schema, so that a typo is an
// error naming its JSON path instead of a silently ignored key.
absl::Status CheckAgainstSchema(capnp::JsonValue::Reader value, capnp::StructSchema schema,
                                const std::string& path) {
  if (value.which() != capnp::JsonValue::OBJECT) {
    return PathError(path, absl::StrCat("expected an object, found ", JsonKind(value)));
  }
  std::set<std::string> seen;
  for (auto member : value.getObject()) {
    std::string key = member.getName();
    std::string member_path = absl::StrCat(path, ".", key);
    if (!seen.insert(key).second) return PathError(member_path, "duplicate key");
    kj::Maybe<capnp::StructSchema::Field> found;
    for (auto field : schema.getFields()) {
      if (JsonName(field) == key) found = field;
    }
    capnp::StructSchema::Field field;
    KJ_IF_MAYBE (f, found) {
      field = *f;
    } else {
      std::string known;
      for (auto candidate : schema.getFields()) {
        absl::StrAppend(&known, known.empty() ? "" : ", ", JsonName(candidate));
      }
      return PathError(member_path, absl::StrCat("unknown key (known keys: ", known, ")"));
    }
    capnp::Type type = field.getType();
    capnp::JsonValue::Reader child = member.getValue();
    if (type.isStruct()) {
      RETURN_IF_ERROR(CheckAgainstSchema(child, type.asStruct(), member_path));
    } else if (type.isText()) {
      if (child.which() != capnp::JsonValue::STRING) {
        return PathError(member_path, absl::StrCat("expected a string, found ", JsonKind(child)));
      }
    } else if (type.isList() && type.asList().getElementType().isStruct()) {
      if (child.which() != capnp::JsonValue::ARRAY) {
        return PathError(member_path,
                         absl::StrCat("expected an array of objects, found ", JsonKind(child)));
      }
      size_t index = 0;
      for (auto element : child.getArray()) {
        RETURN_IF_ERROR(CheckAgainstSchema(element, type.asList().getElementType().asStruct(),
                                           absl::StrCat(member_path, "[", index++, "]")));
      }
    } else if (type.isList() && type.asList().getElementType().isText()) {
      if (child.which() != capnp::JsonValue::ARRAY) {
        return PathError(member_path,
                         absl::StrCat("expected an array of strings, found ", JsonKind(child)));
      }
      size_t index = 0;
      for (auto element : child.getArray()) {
        if (element.which() != capnp::JsonValue::STRING) {
          return PathError(absl::StrCat(member_path, "[", index, "]"),
                           absl::StrCat("expected a string, found ", JsonKind(element)));
        }
        ++index;
      }
    } else if (type.which() == capnp::schema::Type::UINT32) {
      // The codec would wrap a negative or fractional number silently.
      double number = child.which() == capnp::JsonValue::NUMBER ? child.getNumber() : -1;
      if (child.which() != capnp::JsonValue::NUMBER || number < 0 || number > 4294967295.0 ||
          number != static_cast<double>(static_cast<uint64_t>(number))) {
        return PathError(member_path, absl::StrCat("expected a whole number from 0 to 4294967295, "
                                                   "found ",
                                                   child.which() == capnp::JsonValue::NUMBER
                                                       ? absl::StrCat(number)
                                                       : std::string(JsonKind(child))));
      }
    } else {
      return PathError(member_path, "unsupported field type in the schema");
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> Strings(capnp::List<capnp::Text>::Reader list) {
  std::vector<std::string> out;
  for (auto text : list) out.emplace_back(text.cStr(), text.size());
  return out;
}

absl::Status CheckPaths(const std::vector<std::string>& paths, const std::string& path,
                        std::set<std::string>* all) {
  for (size_t i = 0; i < paths.size(); ++i) {
    std::string where = absl::StrCat(path, "[", i, "]");
    const std::string& entry = paths[i];
    if (entry.empty() || entry[0] != '/') {
      return PathError(where, absl::StrCat("'", entry, "' is not an absolute path"));
    }
    if (entry.find("/../") != std::string::npos || absl::EndsWith(entry, "/..")) {
      return PathError(where, absl::StrCat("'", entry, "' contains '..'"));
    }
    if (!all->insert(entry).second) {
      return PathError(
          where, absl::StrCat("'", entry, "' is listed more than once in the filesystem section"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckNames(const std::vector<std::string>& names, const std::string& path,
                        bool allow_prefix_star) {
  std::set<std::string> seen;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string where = absl::StrCat(path, "[", i, "]");
    std::string name = names[i];
    if (allow_prefix_star && absl::EndsWith(name, "*")) name.pop_back();
    bool valid = !name.empty() && !absl::ascii_isdigit(name[0]) &&
                 std::all_of(name.begin(), name.end(),
                             [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
    if (!valid) return PathError(where, absl::StrCat("'", names[i], "' is not a valid name"));
    if (!seen.insert(names[i]).second) {
      return PathError(where, absl::StrCat("'", names[i], "' is listed twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ParseLimitValue(const std::string& text, const std::string& where) {
  if (text == "unlimited") return uint64_t{RLIM_INFINITY};
  uint64_t value;
  if (text.empty() || !absl::SimpleAtoi(text, &value) || value == RLIM_INFINITY) {
    return PathError(where, absl::StrCat("'", text, "' is neither a number nor \"unlimited\""));
  }
  return value;
}

absl::StatusOr<RlimitEntry> ParseRlimit(schema::Rlimit::Reader in, const std::string& where) {
  static const std::pair<const char*, int> kResources[] = {
      {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC}, {"as", RLIMIT_AS},
      {"cpu", RLIMIT_CPU},         {"fsize", RLIMIT_FSIZE}, {"stack", RLIMIT_STACK},
      {"memlock", RLIMIT_MEMLOCK}, {"data", RLIMIT_DATA}};
  RlimitEntry entry;
  entry.name = in.getName();
  if (entry.name == "core") {
    return PathError(absl::StrCat(where, ".name"),
                     "core dumps are always off (RLIMIT_CORE 0) and cannot be raised");
  }
  bool known = false;
  for (const auto& [name, resource] : kResources) {
    if (entry.name == name) {
      entry.resource = resource;
      known = true;
    }
  }
  if (!known) {
    return PathError(absl::StrCat(where, ".name"),
                     absl::StrCat("'", entry.name,
                                  "' is not one of nofile, nproc, as, cpu, fsize, stack, "
                                  "memlock, data"));
  }
  if (!in.hasSoft() || !in.hasHard()) {
    return PathError(where, "needs both \"soft\" and \"hard\"");
  }
  ASSIGN_OR_RETURN(uint64_t soft, ParseLimitValue(in.getSoft(), absl::StrCat(where, ".soft")));
  ASSIGN_OR_RETURN(uint64_t hard, ParseLimitValue(in.getHard(), absl::StrCat(where, ".hard")));
  if (soft > hard) return PathError(where, "the soft limit exceeds the hard limit");
  entry.soft = soft;
  entry.hard = hard;
  return entry;
}

// Decodes `json` into `message` after checking its shape against the schema.
absl::StatusOr<schema::Policy::Reader> DecodePolicy(absl::string_view json,
                                                    capnp::MallocMessageBuilder* message) {
  if (json.size() > kMaxPolicyBytes) {
    return absl::InvalidArgumentError("$: the policy is larger than 1 MiB");
  }
  capnp::JsonCodec codec;
  codec.handleByAnnotation<schema::Policy>();
  capnp::MallocMessageBuilder raw_message;
  auto raw = raw_message.initRoot<capnp::JsonValue>();
  kj::ArrayPtr<const char> input(json.data(), json.size());
  kj::Maybe<kj::Exception> syntax = kj::runCatchingExceptions([&] { codec.decodeRaw(input, raw); });
  KJ_IF_MAYBE (e, syntax) {
    return absl::InvalidArgumentError(
        absl::StrCat("$: not valid JSON: ", e->getDescription().cStr()));
  }
  RETURN_IF_ERROR(CheckAgainstSchema(raw.asReader(), capnp::Schema::from<schema::Policy>(), "$"));
  auto policy = message->initRoot<schema::Policy>();
  kj::Maybe<kj::Exception> decode = kj::runCatchingExceptions([&] { codec.decode(input, policy); });
  KJ_IF_MAYBE (e, decode) {
    return absl::InvalidArgumentError(
        absl::StrCat("$: cannot decode: ", e->getDescription().cStr()));
  }
  return policy.asReader();
}

absl::Status ParseFilesystem(schema::Filesystem::Reader filesystem, PolicyFile* file) {
  file->read_only = Strings(filesystem.getReadOnly());
  file->read_write = Strings(filesystem.getReadWrite());
  file->devices = Strings(filesystem.getDevices());
  std::set<std::string> all_paths;
  RETURN_IF_ERROR(CheckPaths(file->read_only, "$.filesystem.read_only", &all_paths));
  RETURN_IF_ERROR(CheckPaths(file->read_write, "$.filesystem.read_write", &all_paths));
  RETURN_IF_ERROR(CheckPaths(file->devices, "$.filesystem.devices", &all_paths));
  if (filesystem.hasLandlockCompatibility()) {
    std::string text = filesystem.getLandlockCompatibility();
    LandlockCompatibility compatibility;
    if (!ParseLandlockCompatibility(text, &compatibility)) {
      return PathError(
          "$.filesystem.landlock_compatibility",
          absl::StrCat("'", text, "' is neither \"best_effort\" nor \"hard_requirement\""));
    }
    file->landlock_compatibility = compatibility;
  }
  if (filesystem.hasTmpfsSize()) {
    std::string text = filesystem.getTmpfsSize();
    absl::StatusOr<uint64_t> bytes = ParseByteSize(text);
    if (!bytes.ok()) return PathError("$.filesystem.tmpfs_size", bytes.status().message());
    file->tmpfs_size_bytes = *bytes;
  }
  return absl::OkStatus();
}

absl::Status ParseProcess(schema::Process::Reader process, PolicyFile* file) {
  if (process.hasUser()) {
    file->user = process.getUser();
    if (file->user->empty()) return PathError("$.process.user", "must not be empty");
  }
  file->environment = Strings(process.getEnvironment());
  RETURN_IF_ERROR(CheckNames(file->environment, "$.process.environment", true));
  if (process.hasGroup()) {
    file->group = process.getGroup();
    if (file->group->empty()) return PathError("$.process.group", "must not be empty");
  }
  file->supplementary_groups = Strings(process.getSupplementaryGroups());
  std::set<std::string> seen_groups;
  for (size_t i = 0; i < file->supplementary_groups.size(); ++i) {
    const std::string& group = file->supplementary_groups[i];
    std::string where = absl::StrCat("$.process.supplementary_groups[", i, "]");
    if (group.empty()) return PathError(where, "must not be empty");
    if (!seen_groups.insert(group).second) {
      return PathError(where, absl::StrCat("'", group, "' is listed twice"));
    }
  }
  if (process.hasWorkingDirectory()) {
    file->working_directory = process.getWorkingDirectory();
    const std::string& dir = *file->working_directory;
    if (dir.empty() || dir[0] != '/') {
      return PathError("$.process.working_directory",
                       absl::StrCat("'", dir, "' is not an absolute path"));
    }
    if (dir.find("/../") != std::string::npos || absl::EndsWith(dir, "/..")) {
      return PathError("$.process.working_directory", absl::StrCat("'", dir, "' contains '..'"));
    }
  }
  if (process.hasHostname()) {
    std::string hostname = process.getHostname();
    // What sethostname(2) takes, spelled as a DNS label list would be.
    bool valid = !hostname.empty() && hostname.size() <= 64 && hostname.front() != '-' &&
                 hostname.front() != '.';
    for (char c : hostname) valid = valid && (absl::ascii_isalnum(c) || c == '-' || c == '.');
    if (!valid) {
      return PathError("$.process.hostname",
                       absl::StrCat("'", hostname,
                                    "' is not a hostname (1 to 64 letters, digits, '-' and '.')"));
    }
    file->hostname = hostname;
  }
  auto rlimits = process.getRlimits();
  std::set<std::string> seen_limits;
  for (size_t i = 0; i < rlimits.size(); ++i) {
    std::string where = absl::StrCat("$.process.rlimits[", i, "]");
    ASSIGN_OR_RETURN(RlimitEntry entry, ParseRlimit(rlimits[i], where));
    if (!seen_limits.insert(entry.name).second) {
      return PathError(absl::StrCat(where, ".name"),
                       absl::StrCat("'", entry.name, "' is set twice"));
    }
    file->rlimits.push_back(entry);
  }
  return absl::OkStatus();
}

absl::Status ParseSeccomp(schema::Seccomp::Reader seccomp, PolicyFile* file) {
  file->deny_syscalls = Strings(seccomp.getDenySyscalls());
  RETURN_IF_ERROR(CheckNames(file->deny_syscalls, "$.seccomp.deny_syscalls", false));
  for (size_t i = 0; i < file->deny_syscalls.size(); ++i) {
    absl::Status deniable = CheckDeniableSyscall(file->deny_syscalls[i]);
    if (!deniable.ok()) {
      return PathError(absl::StrCat("$.seccomp.deny_syscalls[", i, "]"), deniable.message());
    }
  }
  std::vector<std::string> families = Strings(seccomp.getAllowSocketFamilies());
  for (size_t i = 0; i < families.size(); ++i) {
    std::string where = absl::StrCat("$.seccomp.allow_socket_families[", i, "]");
    absl::StatusOr<int> family = ParseSocketFamily(families[i]);
    if (!family.ok()) return PathError(where, family.status().message());
    if (std::find(file->allow_socket_families.begin(), file->allow_socket_families.end(),
                  *family) != file->allow_socket_families.end()) {
      return PathError(where, absl::StrCat("'", families[i], "' is listed twice"));
    }
    file->allow_socket_families.push_back(*family);
  }
  return absl::OkStatus();
}

absl::Status ParseNetwork(schema::Network::Reader network, PolicyFile* file) {
  if (network.hasMode()) {
    std::string text = network.getMode();
    NetworkMode mode;
    if (!ParseNetworkMode(text, &mode)) {
      return PathError("$.network.mode",
                       absl::StrCat("'", text, "' is not one of \"isolated\", \"host\", \"auto\""));
    }
    file->network_mode = mode;
  }
  std::vector<std::string> destinations;
  for (capnp::Text::Reader entry : network.getEgress()) destinations.emplace_back(entry);
  for (size_t i = 0; i < destinations.size(); ++i) {
    absl::StatusOr<EgressRule> rule = ParseEgressRule(destinations[i]);
    if (!rule.ok())
      return PathError(absl::StrCat("$.network.egress[", i, "]"), rule.status().message());
  }
  ASSIGN_OR_RETURN(file->egress, ParseEgressRules(destinations));
  if (!file->egress.empty() && file->network_mode == NetworkMode::kHost) {
    return PathError(
        "$.network.egress",
        "the host's network has no proxy to enforce it: remove it or use \"isolated\"");
  }
  if (network.getMaxConnections() > 4096) {
    return PathError("$.network.max_connections",
                     absl::StrCat(network.getMaxConnections(), " is more than 4096"));
  }
  if (network.getMaxConnections() != 0) {
    file->egress_max_connections = static_cast<int>(network.getMaxConnections());
  }
  if (network.hasMaxBytes()) {
    absl::StatusOr<uint64_t> bytes = ParseByteSize(network.getMaxBytes().cStr());
    if (!bytes.ok()) return PathError("$.network.max_bytes", bytes.status().message());
    if (*bytes == 0) return PathError("$.network.max_bytes", "must be more than 0");
    file->egress_max_bytes = *bytes;
  }
  return absl::OkStatus();
}

absl::Status ParseResources(schema::Resources::Reader resources, PolicyFile* file) {
  std::vector<std::pair<const char*, std::string>> present;
  if (resources.hasMemory()) present.emplace_back("memory", resources.getMemory());
  if (resources.hasMemorySwap()) present.emplace_back("memory_swap", resources.getMemorySwap());
  if (resources.getPids() != 0) present.emplace_back("pids", absl::StrCat(resources.getPids()));
  if (resources.hasCpus()) present.emplace_back("cpus", resources.getCpus());
  if (resources.hasTimeout()) present.emplace_back("timeout", resources.getTimeout());
  for (const auto& [key, text] : present) {
    if (absl::Status set = SetResourceLimit(key, text, &file->resources); !set.ok()) {
      return PathError(absl::StrCat("$.resources.", key), set.message());
    }
  }
  return absl::OkStatus();
}

// The enforcement section's keys: the relaxable mechanisms, by name, in
// kRelaxableMechanisms order.
struct EnforcementKey {
  Mechanism mechanism;
  bool (schema::Enforcement::Reader::*has)() const;
  capnp::Text::Reader (schema::Enforcement::Reader::*get)() const;
};
using EnforcementReader = schema::Enforcement::Reader;
constexpr EnforcementKey kEnforcementKeys[] = {
    {Mechanism::kNetworkNamespace, &EnforcementReader::hasNetworkNamespace,
     &EnforcementReader::getNetworkNamespace},
    {Mechanism::kBoundingSet, &EnforcementReader::hasBoundingSet,
     &EnforcementReader::getBoundingSet},
    {Mechanism::kSupervisorSeccomp, &EnforcementReader::hasSupervisorSeccomp,
     &EnforcementReader::getSupervisorSeccomp},
    {Mechanism::kWorkloadSeccomp, &EnforcementReader::hasWorkloadSeccomp,
     &EnforcementReader::getWorkloadSeccomp},
    {Mechanism::kLandlock, &EnforcementReader::hasLandlock, &EnforcementReader::getLandlock},
    {Mechanism::kPrivilegeDrop, &EnforcementReader::hasPrivilegeDrop,
     &EnforcementReader::getPrivilegeDrop},
    {Mechanism::kPidNamespace, &EnforcementReader::hasPidNamespace,
     &EnforcementReader::getPidNamespace},
    {Mechanism::kMountNamespace, &EnforcementReader::hasMountNamespace,
     &EnforcementReader::getMountNamespace},
    {Mechanism::kIpcNamespace, &EnforcementReader::hasIpcNamespace,
     &EnforcementReader::getIpcNamespace},
    {Mechanism::kUtsNamespace, &EnforcementReader::hasUtsNamespace,
     &EnforcementReader::getUtsNamespace},
    {Mechanism::kCgroupNamespace, &EnforcementReader::hasCgroupNamespace,
     &EnforcementReader::getCgroupNamespace},
    {Mechanism::kFilesystemView, &EnforcementReader::hasFilesystemView,
     &EnforcementReader::getFilesystemView},
    {Mechanism::kResourceLimits, &EnforcementReader::hasResourceLimits,
     &EnforcementReader::getResourceLimits},
    {Mechanism::kUserNamespace, &EnforcementReader::hasUserNamespace,
     &EnforcementReader::getUserNamespace},
};
static_assert(std::size(kEnforcementKeys) == kRelaxableMechanisms.size());

// After ParseFilesystem: an explicit Landlock mode must agree with
// filesystem.landlock_compatibility.
absl::Status ParseEnforcement(EnforcementReader enforcement, PolicyFile* file) {
  for (const EnforcementKey& key : kEnforcementKeys) {
    if (!(enforcement.*key.has)()) continue;
    std::string text = (enforcement.*key.get)();
    EnforcementMode mode;
    if (!ParseEnforcementMode(text, &mode)) {
      return PathError(absl::StrCat("$.enforcement.", MechanismName(key.mechanism)),
                       absl::StrCat("'", text, "' is neither \"strict\" nor \"best_effort\""));
    }
    file->enforcement.emplace_back(key.mechanism, mode);
  }
  if (file->landlock_compatibility.has_value()) {
    bool hard = *file->landlock_compatibility == LandlockCompatibility::kHardRequirement;
    for (const auto& [mechanism, mode] : file->enforcement) {
      if (mechanism == Mechanism::kLandlock && (mode == EnforcementMode::kStrict) != hard) {
        return PathError(
            "$.enforcement.landlock",
            absl::StrCat("'", EnforcementModeName(mode),
                         "' contradicts $.filesystem.landlock_compatibility '",
                         LandlockCompatibilityName(*file->landlock_compatibility), "'"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseGpu(schema::Gpu::Reader gpu, PolicyFile* file) {
  if (gpu.hasDevices()) {
    file->gpu_devices_text = gpu.getDevices();
    absl::StatusOr<GpuSelection> selection = ParseGpuSelection(file->gpu_devices_text);
    if (!selection.ok()) return PathError("$.gpu.devices", selection.status().message());
    file->gpu_devices = *selection;
  }
  if (gpu.hasDeviceRoot()) {
    file->gpu_device_root = gpu.getDeviceRoot();
    if (file->gpu_device_root->empty() || (*file->gpu_device_root)[0] != '/') {
      return PathError("$.gpu.device_root",
                       absl::StrCat("'", *file->gpu_device_root, "' is not an absolute path"));
    }
  }
  if (gpu.hasProcConflict()) {
    std::string text = gpu.getProcConflict();
    ProcConflict conflict;
    if (!ParseProcConflict(text, &conflict)) {
      return PathError(
          "$.gpu.proc_conflict",
          absl::StrCat("'", text, "' is not one of \"promote\", \"keep_user\", \"reject\""));
    }
    file->gpu_proc_conflict = conflict;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PolicyFile> ParsePolicy(absl::string_view json) {
  capnp::MallocMessageBuilder message;
  ASSIGN_OR_RETURN(schema::Policy::Reader policy, DecodePolicy(json, &message));
  PolicyFile file;
  RETURN_IF_ERROR(ParseFilesystem(policy.getFilesystem(), &file));
  RETURN_IF_ERROR(ParseProcess(policy.getProcess(), &file));
  RETURN_IF_ERROR(ParseSeccomp(policy.getSeccomp(), &file));
  RETURN_IF_ERROR(ParseNetwork(policy.getNetwork(), &file));
  RETURN_IF_ERROR(ParseEnforcement(policy.getEnforcement(), &file));
  RETURN_IF_ERROR(ParseGpu(policy.getGpu(), &file));
  RETURN_IF_ERROR(ParseResources(policy.getResources(), &file));
  return file;
}

absl::StatusOr<PolicyFile> LoadPolicyFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  absl::StatusOr<PolicyFile> policy = ParsePolicy(text);
  if (!policy.ok()) {
    return Annotate(policy.status(), path);
  }
  return policy;
}

}  // namespace tether::policy
