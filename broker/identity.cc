#include "broker/identity.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/status.h"

namespace tether::broker {
namespace {

absl::StatusOr<uint32_t> ParseId(absl::string_view text, absl::string_view what) {
  uint32_t id;
  if (text.empty() || !absl::SimpleAtoi(text, &id) || id == UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("--user: '", text, "' is not a valid ", what));
  }
  return id;
}

}  // namespace

absl::StatusOr<TargetIdentity> ResolveTargetIdentity(const std::optional<std::string>& user_flag,
                                                     uid_t broker_uid, gid_t broker_gid,
                                                     const std::vector<uint32_t>& broker_groups) {
  TargetIdentity target;
  if (!user_flag.has_value()) {
    if (broker_uid == 0) {
      target.uid = kNobody;
      target.gid = kNobody;
    } else {
      target.uid = broker_uid;
      target.gid = broker_gid;
      target.groups = broker_groups;
    }
    return target;
  }
  const std::string& spec = *user_flag;
  std::vector<absl::string_view> parts = absl::StrSplit(spec, absl::MaxSplits(':', 1));
  absl::string_view user = parts[0];
  bool numeric = !user.empty() && user.find_first_not_of("0123456789") == absl::string_view::npos;
  if (numeric) {
    ASSIGN_OR_RETURN(uint32_t uid, ParseId(user, "uid"));
    target.uid = uid;
    target.gid = uid;
  } else {
    if (user.empty()) {
      return absl::InvalidArgumentError("--user: empty user name");
    }
    struct passwd entry;
    struct passwd* found = nullptr;
    std::vector<char> buffer(16384);
    std::string name(user);
    int error = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("--user: no user named '", name, "'",
                       error != 0 ? absl::StrCat(" (getpwnam_r: errno ", error, ")") : ""));
    }
    target.uid = entry.pw_uid;
    target.gid = entry.pw_gid;
  }
  if (parts.size() == 2) {
    ASSIGN_OR_RETURN(uint32_t gid, ParseId(parts[1], "gid"));
    target.gid = gid;
  }
  if (target.uid == 0 || target.gid == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--user ", spec, ": the workload may not run as uid 0 or gid 0"));
  }
  return target;
}

namespace {

absl::StatusOr<uint32_t> ResolveGroup(const std::string& text, absl::string_view where) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    uint32_t gid;
    if (!absl::SimpleAtoi(text, &gid) || gid == UINT32_MAX) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": '", text, "' is not a valid gid"));
    }
    return gid;
  }
  struct group entry;
  struct group* found = nullptr;
  std::vector<char> buffer(16384);
  int error = getgrnam_r(text.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (found == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(where, ": no group named '", text, "'",
                     error != 0 ? absl::StrCat(" (getgrnam_r: errno ", error, ")") : ""));
  }
  return entry.gr_gid;
}

}  // namespace

absl::Status ApplyGroups(const std::optional<std::string>& group,
                         const std::vector<std::string>& supplementary, TargetIdentity* target) {
  TargetIdentity updated = *target;
  if (group.has_value()) {
    ASSIGN_OR_RETURN(uint32_t gid, ResolveGroup(*group, "process.group"));
    updated.gid = gid;
  }
  if (!supplementary.empty()) {
    updated.groups.clear();
    for (const std::string& name : supplementary) {
      ASSIGN_OR_RETURN(uint32_t gid, ResolveGroup(name, "process.supplementary_groups"));
      updated.groups.push_back(gid);
    }
  }
  if (updated.gid == 0 ||
      std::find(updated.groups.begin(), updated.groups.end(), 0u) != updated.groups.end()) {
    return absl::InvalidArgumentError("the workload may not run with gid 0 or in group 0");
  }
  *target = std::move(updated);
  return absl::OkStatus();
}

}  // namespace tether::broker
