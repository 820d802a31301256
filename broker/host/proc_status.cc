#include "broker/host/proc_status.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "base/status.h"
#include "ipc/unique_fd.h"

namespace tether::broker {
namespace {

absl::Status Missing(absl::string_view field) {
  return absl::InvalidArgumentError(absl::StrCat("/proc status has no valid '", field, "' line"));
}

// The fields a parse reads, by name; the other fifty-odd lines of the file
// are passed over without being stored.
constexpr absl::string_view kFieldNames[] = {"Uid",     "Gid",    "CapInh", "CapPrm",
                                             "CapEff",  "CapBnd", "CapAmb", "NoNewPrivs",
                                             "Seccomp", "Groups", "NSpid"};
constexpr size_t kFieldCount = sizeof(kFieldNames) / sizeof(kFieldNames[0]);

struct Fields {
  std::optional<absl::string_view> values[kFieldCount];
  bool repeated[kFieldCount] = {};
};

Fields CollectFields(absl::string_view text) {
  Fields fields;
  while (!text.empty()) {
    size_t end = text.find('\n');
    absl::string_view line = text.substr(0, end);
    text.remove_prefix(end == absl::string_view::npos ? text.size() : end + 1);
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    absl::string_view key = line.substr(0, colon);
    for (size_t i = 0; i < kFieldCount; ++i) {
      if (key != kFieldNames[i]) continue;
      fields.repeated[i] |= fields.values[i].has_value();
      fields.values[i] = absl::StripAsciiWhitespace(line.substr(colon + 1));
      break;
    }
  }
  return fields;
}

// A name found twice is taken as missing: Linux escapes the newline in a
// task's name (the one field its owner writes), but a procfs that did not
// would let the name add a line of its choosing.
std::optional<absl::string_view> Find(const Fields& fields, absl::string_view name) {
  for (size_t i = 0; i < kFieldCount; ++i) {
    if (kFieldNames[i] == name) {
      return fields.repeated[i] ? std::nullopt : fields.values[i];
    }
  }
  return std::nullopt;
}

absl::Status ParseIds(const Fields& fields, absl::string_view name, ipc::IdTriple* ids,
                      uint32_t* fs) {
  std::optional<absl::string_view> text = Find(fields, name);
  if (!text.has_value()) return Missing(name);
  std::vector<absl::string_view> parts =
      absl::StrSplit(*text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &ids->real) ||
      !absl::SimpleAtoi(parts[1], &ids->effective) || !absl::SimpleAtoi(parts[2], &ids->saved) ||
      !absl::SimpleAtoi(parts[3], fs)) {
    return Missing(name);
  }
  return absl::OkStatus();
}

absl::Status ParseHex(const Fields& fields, absl::string_view name, uint64_t* value) {
  std::optional<absl::string_view> text = Find(fields, name);
  if (!text.has_value() || !absl::SimpleHexAtoi(*text, value)) return Missing(name);
  return absl::OkStatus();
}

absl::Status ParseInt(const Fields& fields, absl::string_view name, int* value) {
  std::optional<absl::string_view> text = Find(fields, name);
  if (!text.has_value() || !absl::SimpleAtoi(*text, value)) return Missing(name);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ProcStatus> ParseProcStatus(absl::string_view text) {
  Fields fields = CollectFields(text);
  ProcStatus status;
  RETURN_IF_ERROR(ParseIds(fields, "Uid", &status.uids, &status.fsuid));
  RETURN_IF_ERROR(ParseIds(fields, "Gid", &status.gids, &status.fsgid));
  RETURN_IF_ERROR(ParseHex(fields, "CapInh", &status.caps.inheritable));
  RETURN_IF_ERROR(ParseHex(fields, "CapPrm", &status.caps.permitted));
  RETURN_IF_ERROR(ParseHex(fields, "CapEff", &status.caps.effective));
  RETURN_IF_ERROR(ParseHex(fields, "CapBnd", &status.caps.bounding));
  RETURN_IF_ERROR(ParseHex(fields, "CapAmb", &status.caps.ambient));
  int no_new_privs = 0;
  RETURN_IF_ERROR(ParseInt(fields, "NoNewPrivs", &no_new_privs));
  RETURN_IF_ERROR(ParseInt(fields, "Seccomp", &status.seccomp_mode));
  status.no_new_privs = no_new_privs != 0;
  std::optional<absl::string_view> groups = Find(fields, "Groups");
  if (!groups.has_value()) return Missing("Groups");
  for (absl::string_view group :
       absl::StrSplit(*groups, absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
    uint32_t gid;
    if (!absl::SimpleAtoi(group, &gid)) return Missing("Groups");
    status.groups.push_back(gid);
  }
  if (std::optional<absl::string_view> nspid = Find(fields, "NSpid"); nspid.has_value()) {
    std::vector<absl::string_view> pids =
        absl::StrSplit(*nspid, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    for (absl::string_view pid : pids) {
      if (!absl::SimpleAtoi(pid, &status.pid_in_namespace)) return Missing("NSpid");
    }
    if (pids.empty()) return Missing("NSpid");
  }
  return status;
}

absl::StatusOr<ProcStatus> ReadProcStatus(pid_t pid) {
  std::string path = absl::StrCat("/proc/", pid, "/status");
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  absl::StatusOr<ProcStatus> status = ParseProcStatus(text);
  if (!status.ok()) return Annotate(status.status(), path);
  return status;
}

absl::StatusOr<CoreLimit> ReadCoreLimit(pid_t pid) {
  std::string path = absl::StrCat("/proc/", pid, "/limits");
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, "Max core file size")) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    CoreLimit limit;
    auto parse = [](absl::string_view word, uint64_t* value) {
      if (word == "unlimited") {
        *value = UINT64_MAX;
        return true;
      }
      return absl::SimpleAtoi(word, value);
    };
    if (parts.size() >= 2 && parse(parts[0], &limit.soft) && parse(parts[1], &limit.hard)) {
      return limit;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(path, " has no valid 'Max core file size' line"));
}

uint64_t ParseProcStatField(absl::string_view text, int number) {
  constexpr int kFirstAfterTheName = 3;  // the state
  size_t name_end = text.rfind(')');
  if (number < kFirstAfterTheName || name_end == absl::string_view::npos ||
      name_end + 2 > text.size()) {
    return 0;
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(text.substr(name_end + 2)), ' ');
  size_t index = static_cast<size_t>(number - kFirstAfterTheName);
  uint64_t value = 0;
  if (index >= fields.size() || !absl::SimpleAtoi(fields[index], &value)) return 0;
  return value;
}

uint64_t ReadProcStatField(absl::string_view pid, int number) {
  absl::StatusOr<std::string> text = ReadSmallFile(absl::StrCat("/proc/", pid, "/stat"));
  return text.ok() ? ParseProcStatField(*text, number) : 0;
}

}  // namespace tether::broker
