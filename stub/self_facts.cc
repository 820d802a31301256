#include "stub/self_facts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ipc/handshake.capnp.h"
#include "kernel/landlock.h"
#include "stub/self_status.h"

namespace tether::stub {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
#error "unsupported architecture"
#endif

void CollectCapabilities(ipc::CapabilitySets* caps) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  // Unless capget says otherwise, any capability may be ambient.
  uint64_t may_be_ambient = ~uint64_t{0};
  if (syscall(SYS_capget, &header, data) == 0) {
    caps->effective = data[0].effective | (uint64_t{data[1].effective} << 32);
    caps->permitted = data[0].permitted | (uint64_t{data[1].permitted} << 32);
    caps->inheritable = data[0].inheritable | (uint64_t{data[1].inheritable} << 32);
    may_be_ambient = caps->permitted & caps->inheritable;
  }
  if (std::optional<SelfStatusMasks> masks = ReadSelfStatusMasks(); masks.has_value()) {
    caps->bounding = masks->bounding;
    caps->ambient = masks->ambient;
    return;
  }
  // Without procfs, one capability at a time. The kernel answers EINVAL
  // past its last capability. It keeps every ambient capability both
  // permitted and inheritable (capabilities(7)), so only those are asked
  // about.
  for (int cap = 0; cap < 64; ++cap) {
    int in_bounding = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in_bounding < 0) break;
    if (in_bounding == 1) caps->bounding |= uint64_t{1} << cap;
    if ((may_be_ambient >> cap & 1) != 0 &&
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1) {
      caps->ambient |= uint64_t{1} << cap;
    }
  }
}

}  // namespace

ipc::Hello CollectSelfFacts() {
  ipc::Hello hello;
  hello.protocol_version = ipc::wire::PROTOCOL_VERSION;
  hello.pid = getpid();
  getresuid(&hello.uids.real, &hello.uids.effective, &hello.uids.saved);
  getresgid(&hello.gids.real, &hello.gids.effective, &hello.gids.saved);
  int count = getgroups(0, nullptr);
  if (count > 0) {
    std::vector<gid_t> groups(count);
    count = getgroups(count, groups.data());
    if (count >= 0) hello.groups.assign(groups.begin(), groups.begin() + count);
  }
  CollectCapabilities(&hello.caps);
  hello.no_new_privs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
  int seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
  hello.seccomp_mode = seccomp > 0 ? static_cast<uint8_t>(seccomp) : 0;
  int abi = kernel::QueryLandlockAbi();
  if (abi > 0) {
    hello.landlock_abi = abi;
  } else {
    hello.landlock_errno = -abi;
  }
  hello.audit_arch = kAuditArch;
  // The directory looked up once, not once per namespace.
  int namespaces = open("/proc/self/ns", O_PATH | O_DIRECTORY | O_CLOEXEC);
  for (const char* name : ipc::kNamespaceNames) {
    struct stat st;
    bool known = namespaces >= 0 && fstatat(namespaces, name, &st, 0) == 0;
    hello.namespace_inodes.push_back(known ? st.st_ino : 0);
  }
  if (namespaces >= 0) close(namespaces);
  return hello;
}

}  // namespace tether::stub
