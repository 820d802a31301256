#include "broker/user_namespace.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "base/status.h"
#include "ipc/unique_fd.h"

namespace tether::broker {
namespace {

std::optional<std::string> ReadSysctl(const char* path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(*text));
}

std::string Failed(absl::string_view what, int error) {
  return absl::StrCat(what, " failed in a throwaway child: ", strerror(error), " (errno ", error,
                      ")");
}

// Written whole with one write(2): the kernel takes a map only that way.
absl::Status WriteProcFile(const std::string& path, const std::string& text) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open(", path, ")"));
  ssize_t written = write(fd.get(), text.data(), text.size());
  if (written < 0) return ErrnoStatus(errno, absl::StrCat("write(", path, ")"));
  if (static_cast<size_t>(written) != text.size()) {
    return absl::InternalError(absl::StrCat("write(", path, "): short write"));
  }
  return absl::OkStatus();
}

std::string MapLine(uint32_t inside, uint32_t outside) {
  return absl::StrCat(inside, " ", outside, " 1\n");
}

// "<inside> <outside> <count>" lines, whitespace as the kernel aligns it.
absl::Status CheckMap(pid_t child, const char* name, uint32_t inside, uint32_t outside) {
  std::string path = absl::StrCat("/proc/", child, "/", name);
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  std::vector<std::string> lines =
      absl::StrSplit(absl::StripAsciiWhitespace(text), '\n', absl::SkipEmpty());
  std::vector<std::string> fields = lines.size() == 1
                                        ? absl::StrSplit(lines[0], ' ', absl::SkipEmpty())
                                        : std::vector<std::string>();
  uint32_t values[3];
  bool parsed = fields.size() == 3;
  for (size_t i = 0; parsed && i < 3; ++i) parsed = absl::SimpleAtoi(fields[i], &values[i]);
  if (!parsed || values[0] != inside || values[1] != outside || values[2] != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is '", absl::StripAsciiWhitespace(text), "', expected exactly '",
                     absl::StripAsciiWhitespace(MapLine(inside, outside)), "'"));
  }
  return absl::OkStatus();
}

uint32_t ReadOverflow(const char* path) {
  std::optional<std::string> text = ReadSysctl(path);
  uint32_t value;
  return text.has_value() && absl::SimpleAtoi(*text, &value) ? value : 65534;
}

}  // namespace

bool NeedsUserNamespace(const ProcStatus& self, uid_t euid) {
  return euid != 0 && ((self.caps.effective >> CAP_SYS_ADMIN) & 1) == 0;
}

UserNamespaceSysctls ReadUserNamespaceSysctls() {
  UserNamespaceSysctls sysctls;
  sysctls.max_user_namespaces = ReadSysctl("/proc/sys/user/max_user_namespaces");
  sysctls.unprivileged_userns_clone = ReadSysctl("/proc/sys/kernel/unprivileged_userns_clone");
  sysctls.apparmor_restrict = ReadSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  return sysctls;
}

UserNamespaceDiagnosis DiagnoseUserNamespace(int create_errno, int inside_errno,
                                             const UserNamespaceSysctls& sysctls) {
  UserNamespaceDiagnosis diagnosis;
  ProbeResult& result = diagnosis.result;
  const char* create = "unshare(CLONE_NEWUSER)";
  if (create_errno == 0 && inside_errno == 0) {
    result = {true, 0,
              absl::StrCat(create, " and a tmpfs mount inside it succeeded in a throwaway child")};
    return diagnosis;
  }
  if (create_errno == 0) {
    // Made, but useless: every capability in it is denied.
    result.errno_value = inside_errno;
    std::string failed =
        Failed(absl::StrCat(create, " succeeded, but a tmpfs mount inside the new namespace"),
               inside_errno);
    if (sysctls.apparmor_restrict == "1") {
      result.evidence = absl::StrCat(
          failed,
          ": kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu): AppArmor lets an "
          "unconfined process make a user namespace but denies it every capability there");
      diagnosis.remedy =
          "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for "
          "tether that allows userns";
    } else {
      result.evidence = absl::StrCat(
          failed, ": a security module denies capabilities inside new user namespaces");
      diagnosis.remedy = "let the security module grant capabilities inside user namespaces";
    }
    return diagnosis;
  }
  result.errno_value = create_errno;
  std::string failed = Failed(create, create_errno);
  if (create_errno == ENOSPC) {
    // The limit is per user namespace, so a container may lower it for
    // whatever runs inside it.
    std::string limit = sysctls.max_user_namespaces.value_or("unknown");
    result.evidence = limit == "0"
                          ? absl::StrCat(failed,
                                         ": user.max_user_namespaces is 0 "
                                         "(/proc/sys/user/max_user_namespaces)")
                          : absl::StrCat(failed, ": the limit user.max_user_namespaces (", limit,
                                         ") is reached in this or an enclosing user namespace");
    diagnosis.remedy =
        "sysctl -w user.max_user_namespaces=15000 (in the user namespace that set the limit)";
  } else if (create_errno == EPERM && sysctls.unprivileged_userns_clone == "0") {
    result.evidence = absl::StrCat(failed, ": kernel.unprivileged_userns_clone is 0 (Debian)");
    diagnosis.remedy = "sysctl -w kernel.unprivileged_userns_clone=1";
  } else if (create_errno == EPERM) {
    result.evidence = absl::StrCat(
        failed,
        ", though the sysctls allow it: a seccomp profile of the runtime (or a security module) "
        "denies it");
    diagnosis.remedy =
        "allow unshare and clone with CLONE_NEWUSER in the runtime's seccomp profile";
  } else {
    result.evidence = failed;
    diagnosis.remedy = "allow unprivileged user namespaces on this host";
  }
  return diagnosis;
}

absl::Status WriteIdMaps(pid_t child, const IdMapping& mapping) {
  std::string proc = absl::StrCat("/proc/", child, "/");
  RETURN_IF_ERROR(WriteProcFile(proc + "setgroups", "deny\n"));
  RETURN_IF_ERROR(
      WriteProcFile(proc + "uid_map", MapLine(mapping.inside_uid, mapping.outside_uid)));
  return WriteProcFile(proc + "gid_map", MapLine(mapping.inside_gid, mapping.outside_gid));
}

absl::Status VerifyIdMaps(pid_t child, const IdMapping& mapping) {
  RETURN_IF_ERROR(CheckMap(child, "uid_map", mapping.inside_uid, mapping.outside_uid));
  RETURN_IF_ERROR(CheckMap(child, "gid_map", mapping.inside_gid, mapping.outside_gid));
  std::string path = absl::StrCat("/proc/", child, "/setgroups");
  ASSIGN_OR_RETURN(std::string setgroups, ReadSmallFile(path));
  if (absl::StripAsciiWhitespace(setgroups) != "deny") {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is '", absl::StripAsciiWhitespace(setgroups), "', expected 'deny'"));
  }
  return absl::OkStatus();
}

ProcStatus InsideView(const ProcStatus& outside, const IdMapping& mapping, uint32_t overflow_uid,
                      uint32_t overflow_gid) {
  auto uid = [&](uint32_t id) {
    return id == mapping.outside_uid ? mapping.inside_uid : overflow_uid;
  };
  auto gid = [&](uint32_t id) {
    return id == mapping.outside_gid ? mapping.inside_gid : overflow_gid;
  };
  ProcStatus inside = outside;
  inside.uids = {uid(outside.uids.real), uid(outside.uids.effective), uid(outside.uids.saved)};
  inside.fsuid = uid(outside.fsuid);
  inside.gids = {gid(outside.gids.real), gid(outside.gids.effective), gid(outside.gids.saved)};
  inside.fsgid = gid(outside.fsgid);
  for (uint32_t& group : inside.groups) group = gid(group);
  return inside;
}

uint32_t OverflowUid() { return ReadOverflow("/proc/sys/kernel/overflowuid"); }
uint32_t OverflowGid() { return ReadOverflow("/proc/sys/kernel/overflowgid"); }

}  // namespace tether::broker
