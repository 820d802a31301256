#include "policy/workload_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bitset>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "base/files.h"
#include "base/status.h"
#include "ipc/limits.h"

// Kernel ABI values that older headers may lack.
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

namespace tether::policy {
namespace {

constexpr size_t kMaxProgramBytes = ipc::kMaxSeccompInstructions * sizeof(struct sock_filter);

// Which calls of a syscall a default rule denies.
enum class When {
  kAlways,
  // clone with any CLONE_NEW* flag.
  kNamespaceFlags,
  // personality with anything but PER_LINUX (0) and the query (0xffffffff).
  kPersonalityChange,
  // ioctl TIOCSTI and TIOCLINUX, which inject input into a terminal.
  kTerminalInjection,
  // socket and socketpair of any family but AF_UNIX, AF_INET, AF_INET6 and
  // netlink's NETLINK_ROUTE, unless the policy allows it.
  kRestrictedFamily,
};

struct DefaultDenial {
  const char* syscall;
  int error;
  When when;
};

constexpr DefaultDenial kDefaultDenials[] = {
    // Changes to the filesystem namespace.
    {"mount", EPERM, When::kAlways},
    {"umount2", EPERM, When::kAlways},
    {"move_mount", EPERM, When::kAlways},
    {"open_tree", EPERM, When::kAlways},
    {"fsopen", EPERM, When::kAlways},
    {"fsconfig", EPERM, When::kAlways},
    {"fsmount", EPERM, When::kAlways},
    {"fspick", EPERM, When::kAlways},
    {"mount_setattr", EPERM, When::kAlways},
    {"pivot_root", EPERM, When::kAlways},
    {"chroot", EPERM, When::kAlways},
    // Other processes' memory.
    {"ptrace", EPERM, When::kAlways},
    {"process_vm_readv", EPERM, When::kAlways},
    {"process_vm_writev", EPERM, When::kAlways},
    // Another process's fds (a socket of any family, a file outside
    // Landlock) or its memory advice; only ptrace-style access stops these,
    // which is gone where Landlock is degraded.
    {"pidfd_getfd", EPERM, When::kAlways},
    {"process_madvise", EPERM, When::kAlways},
    // Architectures that multiplex socket calls pass the arguments in
    // memory, where no rule can see the family: libcs fall back to the
    // direct calls, which are filtered.
    {"socketcall", ENOSYS, When::kAlways},
    // The kernel itself and its large attack surfaces.
    {"kexec_load", EPERM, When::kAlways},
    {"kexec_file_load", EPERM, When::kAlways},
    {"init_module", EPERM, When::kAlways},
    {"finit_module", EPERM, When::kAlways},
    {"delete_module", EPERM, When::kAlways},
    {"bpf", EPERM, When::kAlways},
    {"perf_event_open", EPERM, When::kAlways},
    {"userfaultfd", EPERM, When::kAlways},
    {"add_key", EPERM, When::kAlways},
    {"request_key", EPERM, When::kAlways},
    {"keyctl", EPERM, When::kAlways},
    // New namespaces.
    {"unshare", EPERM, When::kAlways},
    {"setns", EPERM, When::kAlways},
    {"clone", EPERM, When::kNamespaceFlags},
    // clone3 passes its flags in memory, which BPF cannot read; ENOSYS makes
    // libcs fall back to clone, whose flags are an argument.
    {"clone3", ENOSYS, When::kAlways},
    // io_uring performs operations that never pass through this filter.
    {"io_uring_setup", EPERM, When::kAlways},
    {"io_uring_enter", EPERM, When::kAlways},
    {"io_uring_register", EPERM, When::kAlways},
    // File handles open files by inode, around path-based confinement.
    {"open_by_handle_at", EPERM, When::kAlways},
    {"name_to_handle_at", EPERM, When::kAlways},
    // Host-wide state.
    {"swapon", EPERM, When::kAlways},
    {"swapoff", EPERM, When::kAlways},
    {"reboot", EPERM, When::kAlways},
    {"acct", EPERM, When::kAlways},
    {"quotactl", EPERM, When::kAlways},
    {"settimeofday", EPERM, When::kAlways},
    {"clock_settime", EPERM, When::kAlways},
    {"clock_adjtime", EPERM, When::kAlways},
    {"adjtimex", EPERM, When::kAlways},
    {"iopl", EPERM, When::kAlways},
    {"ioperm", EPERM, When::kAlways},
    {"lookup_dcookie", EPERM, When::kAlways},
    {"vhangup", EPERM, When::kAlways},
    {"nfsservctl", EPERM, When::kAlways},
    // Execution domains change address space layout (ADDR_NO_RANDOMIZE).
    {"personality", EPERM, When::kPersonalityChange},
    {"ioctl", EPERM, When::kTerminalInjection},
    // An allow-list: every family the kernel has or will have is attack
    // surface (AF_XDP, AF_ALG, TIPC, RDS, CAN, KEY, SMC, KCM...). The errno
    // is the kernel's own for a family it lacks, which programs handle.
    {"socket", EAFNOSUPPORT, When::kRestrictedFamily},
    {"socketpair", EAFNOSUPPORT, When::kRestrictedFamily},
};

// One rule's comparisons, all of which must hold; no comparisons matches
// every call.
using Comparisons = std::vector<struct scmp_arg_cmp>;

struct scmp_arg_cmp Compare(unsigned arg, enum scmp_compare op, scmp_datum_t value) {
  return {arg, op, value, 0};
}

struct scmp_arg_cmp MaskedEquals(unsigned arg, scmp_datum_t mask, scmp_datum_t value) {
  return {arg, SCMP_CMP_MASKED_EQ, mask, value};
}

// The kernel reads these arguments as 32-bit ints, so the upper half of the
// register is ignored by it and must be ignored here too: comparing all 64
// bits would let 0x1'00000011 pass as "not AF_PACKET".
constexpr scmp_datum_t kLow32 = 0xffffffff;

// SOCK_TYPE_MASK: the socket type inside socket()'s type argument.
constexpr scmp_datum_t kSocketTypeMask = 0xf;

// Every address family number the kernel has used lies below this.
constexpr int kFamilySpace = 64;

// Allowed whatever the policy says: local IPC and IP networking.
bool AlwaysAllowedFamily(int family) {
  return family == AF_UNIX || family == AF_INET || family == AF_INET6;
}

struct FamilyBlock {
  int first;
  int size;  // a power of two; `first` is a multiple of it
};

// The fewest aligned power-of-two blocks that cover exactly the set bits.
std::vector<FamilyBlock> AlignedBlocks(const std::bitset<kFamilySpace>& set) {
  std::vector<FamilyBlock> blocks;
  for (int first = 0; first < kFamilySpace;) {
    if (!set[first]) {
      ++first;
      continue;
    }
    int size = 1;
    while (first % (size * 2) == 0 && first + size * 2 <= kFamilySpace) {
      bool whole = true;
      for (int family = first + size; family < first + size * 2; ++family) whole &= set[family];
      if (!whole) break;
      size *= 2;
    }
    blocks.push_back({first, size});
    first += size;
  }
  return blocks;
}

// s390 passes clone's stack first and its flags second.
unsigned CloneFlagsArgument() {
  uint32_t arch = seccomp_arch_native();
  return arch == SCMP_ARCH_S390 || arch == SCMP_ARCH_S390X ? 1 : 0;
}

// The rules (alternatives) that together deny exactly the calls of `when`.
std::vector<Comparisons> Rules(When when, const std::vector<int>& allowed_families = {}) {
  auto allowed = [&](int family) {
    return std::find(allowed_families.begin(), allowed_families.end(), family) !=
           allowed_families.end();
  };
  std::vector<Comparisons> rules;
  switch (when) {
    case When::kAlways: rules.push_back({}); break;
    case When::kNamespaceFlags:
      // In clone's flags CLONE_NEWTIME (0x80) lies inside the exit signal
      // byte, where no valid signal sets it; denying it costs nothing.
      for (uint64_t flag : {CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                            CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWTIME}) {
        rules.push_back({MaskedEquals(CloneFlagsArgument(), flag, flag)});
      }
      break;
    case When::kPersonalityChange:
      // libseccomp takes one comparison per argument in a rule, so
      // "neither 0 nor 0xffffffff" cannot be two != comparisons. It is
      // written as "some bit is 1 and the next bit (cyclically) is 0", which
      // holds for every 32-bit value except all zeros and all ones.
      for (int bit = 0; bit < 32; ++bit) {
        scmp_datum_t one = scmp_datum_t{1} << bit;
        scmp_datum_t next = scmp_datum_t{1} << ((bit + 1) % 32);
        rules.push_back({MaskedEquals(0, one | next, one)});
      }
      break;
    case When::kTerminalInjection:
      for (scmp_datum_t request : {TIOCSTI, TIOCLINUX}) {
        rules.push_back({MaskedEquals(1, kLow32, request)});
      }
      break;
    case When::kRestrictedFamily: {
      // Families below kFamilySpace are denied in aligned blocks (one masked
      // comparison each); anything from there up, including values with
      // upper register bits set, by one unsigned comparison of all 64 bits.
      std::bitset<kFamilySpace> denied;
      for (int family = 0; family < kFamilySpace; ++family) {
        denied[family] = !allowed(family) && !AlwaysAllowedFamily(family) && family != AF_NETLINK;
      }
      for (const FamilyBlock& block : AlignedBlocks(denied)) {
        scmp_datum_t size = static_cast<scmp_datum_t>(block.size);
        rules.push_back(
            {MaskedEquals(0, kLow32 & ~(size - 1), static_cast<scmp_datum_t>(block.first))});
      }
      rules.push_back({Compare(0, SCMP_CMP_GE, kFamilySpace)});
      // The kernel still turns (AF_INET, SOCK_PACKET) into an AF_PACKET
      // socket; the type's low bits are the type, the rest are flags.
      if (!allowed(AF_PACKET)) {
        rules.push_back({MaskedEquals(0, kLow32, AF_INET), MaskedEquals(1, kSocketTypeMask, 10)});
      }
      // All 64 bits of the protocol are compared: stray upper bits can only
      // deny a route socket, never allow another protocol.
      if (!allowed(AF_NETLINK)) {
        rules.push_back(
            {MaskedEquals(0, kLow32, AF_NETLINK), Compare(2, SCMP_CMP_NE, NETLINK_ROUTE)});
      }
      break;
    }
  }
  return rules;
}

// libseccomp returns negated errnos.
absl::Status LibseccompError(int rc, absl::string_view call) {
  return absl::InternalError(
      absl::StrCat("libseccomp ", call, ": ", std::strerror(-rc), " (errno ", -rc, ")"));
}

std::string LibseccompVersion() {
  const struct scmp_version* version = seccomp_version();
  if (version == nullptr) return "?";
  return absl::StrCat(version->major, ".", version->minor, ".", version->micro);
}

struct ReleaseFilter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using FilterContext = std::unique_ptr<void, ReleaseFilter>;

absl::Status AddRules(scmp_filter_ctx ctx, absl::string_view name, int nr, int error,
                      const std::vector<Comparisons>& rules) {
  for (const Comparisons& comparisons : rules) {
    // The exact variant fails where libseccomp would rewrite the rule for
    // this architecture (multiplexed socketcall), instead of silently
    // weakening it.
    int rc = seccomp_rule_add_exact_array(ctx, SCMP_ACT_ERRNO(error), nr, comparisons.size(),
                                          comparisons.empty() ? nullptr : comparisons.data());
    if (rc != 0) {
      return LibseccompError(rc, absl::StrCat("seccomp_rule_add_exact(", name, ", ",
                                              comparisons.size(), " argument comparisons)"));
    }
  }
  return absl::OkStatus();
}

// Checks an exported or received program's size in bytes.
absl::Status CheckProgramBytes(off_t bytes) {
  if (bytes <= 0 || bytes % sizeof(struct sock_filter) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("a seccomp program of ", bytes,
                                                   " bytes is not a whole number of instructions"));
  }
  if (static_cast<size_t>(bytes) > kMaxProgramBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a seccomp program of ", bytes / sizeof(struct sock_filter),
                     " instructions is over the kernel's limit of ", ipc::kMaxSeccompInstructions));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<struct sock_filter>> ReadProgram(int fd, off_t bytes,
                                                            absl::string_view what) {
  RETURN_IF_ERROR(CheckProgramBytes(bytes));
  std::vector<struct sock_filter> program(bytes / sizeof(struct sock_filter));
  RETURN_IF_ERROR(ReadFullyFromStart(fd, program.data(), bytes, what));
  return program;
}

// Resolves a syscall name for the native architecture: the number, or
// __NR_SCMP_ERROR when libseccomp does not know the name, or another
// negative (pseudo) number when the name exists only on other
// architectures.
int Resolve(const char* name) { return seccomp_syscall_resolve_name(name); }

}  // namespace

const std::vector<std::string>& SyscallsTheStubMakesUnderTheFilter() {
  // Never destroyed, as static objects should not be.
  static const std::vector<std::string>* const names = new std::vector<std::string>{
      "sendmsg", "recvmsg",      "close",           "mmap",  "munmap",    "rt_sigprocmask", "clone",
      "execve",  "rt_sigaction", "rt_sigtimedwait", "wait4", "exit_group"};
  return *names;
}

absl::Status CheckDeniableSyscall(const std::string& name) {
  const std::vector<std::string>& needed = SyscallsTheStubMakesUnderTheFilter();
  if (std::find(needed.begin(), needed.end(), name) == needed.end()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "'", name,
      "' cannot be denied: tether-stub makes it under the workload filter to report its last "
      "step and start the workload, so no run could start"));
}

absl::StatusOr<std::vector<struct sock_filter>> CompileWorkloadFilter(
    const WorkloadSeccompOptions& options) {
  // Names are checked before anything is built, so that a typo is reported
  // as such and not as a libseccomp failure.
  for (const std::string& name : options.extra_denied_syscalls) {
    RETURN_IF_ERROR(CheckDeniableSyscall(name));
    // c_str() would stop at a NUL and deny a different syscall.
    if (name.find('\0') != std::string::npos || Resolve(name.c_str()) == __NR_SCMP_ERROR) {
      return absl::InvalidArgumentError(absl::StrCat("unknown syscall \"", absl::CEscape(name),
                                                     "\" in the extra denied syscalls (libseccomp ",
                                                     LibseccompVersion(), " does not know it)"));
    }
  }

  FilterContext ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (ctx == nullptr) return absl::InternalError("libseccomp seccomp_init(SCMP_ACT_ALLOW) failed");
  struct Attribute {
    enum scmp_filter_attr attr;
    uint32_t value;
    const char* name;
  };
  for (const Attribute& attribute : {
           // Only seccomp_load reads this, and the program is loaded by the
           // stub, which sets no_new_privs as a planned step of its own.
           Attribute{SCMP_FLTATR_CTL_NNP, 0, "SCMP_FLTATR_CTL_NNP"},
           // Report the real errno of a failure instead of ECANCELED.
           Attribute{SCMP_FLTATR_API_SYSRAWRC, 1, "SCMP_FLTATR_API_SYSRAWRC"},
           // i386 and x32 syscalls would bypass every rule here. Killing only
           // the calling thread (libseccomp's default) could leave the rest
           // of the workload running in a broken state.
           Attribute{SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS, "SCMP_FLTATR_ACT_BADARCH"},
           // A binary search over syscall numbers: every allowed syscall
           // otherwise walks past all of the denied ones.
           Attribute{SCMP_FLTATR_CTL_OPTIMIZE, 2, "SCMP_FLTATR_CTL_OPTIMIZE"},
       }) {
    int rc = seccomp_attr_set(ctx.get(), attribute.attr, attribute.value);
    if (rc != 0) {
      return LibseccompError(
          rc, absl::StrCat("seccomp_attr_set(", attribute.name, ", ", attribute.value, ")"));
    }
  }

  // Syscalls the defaults deny whatever the arguments; an extra denial of
  // one of them keeps the default action (clone3 stays ENOSYS).
  std::set<int> denied_outright;
  for (const DefaultDenial& denial : kDefaultDenials) {
    int nr = Resolve(denial.syscall);
    // Not a syscall of this architecture: nothing can call it.
    if (nr < 0) continue;
    std::vector<Comparisons> rules = Rules(denial.when, options.allowed_socket_families);
    // Every family allowed: nothing left to deny for socket/socketpair.
    if (rules.empty()) continue;
    RETURN_IF_ERROR(AddRules(ctx.get(), denial.syscall, nr, denial.error, rules));
    if (denial.when == When::kAlways) denied_outright.insert(nr);
  }
  for (const std::string& name : options.extra_denied_syscalls) {
    int nr = Resolve(name.c_str());
    if (nr < 0 || !denied_outright.insert(nr).second) continue;
    RETURN_IF_ERROR(AddRules(ctx.get(), name, nr, EPERM, Rules(When::kAlways)));
  }

  absl::StatusOr<std::vector<struct sock_filter>> program = ExportBpf(ctx.get());
  if (!program.ok()) {
    // Only the size can be wrong here, and only with many extra denials.
    return Annotate(program.status(), "the compiled workload filter");
  }
  return program;
}

absl::StatusOr<std::vector<struct sock_filter>> ExportBpf(void* ctx) {
  // libseccomp 2.5 exports only to an fd.
  ASSIGN_OR_RETURN(UniqueFd memfd, NewMemfd("tether-seccomp-export", 0));
  int rc = seccomp_export_bpf(ctx, memfd.get());
  if (rc != 0) return LibseccompError(rc, "seccomp_export_bpf");
  struct stat st;
  if (fstat(memfd.get(), &st) != 0) return ErrnoStatus(errno, "fstat(seccomp export memfd)");
  return ReadProgram(memfd.get(), st.st_size, "seccomp export memfd");
}

absl::StatusOr<int> ParseSocketFamily(absl::string_view name) {
  // Numbers from linux/socket.h, so that families newer than the build's
  // libc headers can still be named.
  constexpr std::pair<const char*, int> kFamilies[] = {
      {"AF_UNIX", 1},        {"AF_LOCAL", 1},     {"AF_INET", 2},      {"AF_AX25", 3},
      {"AF_IPX", 4},         {"AF_APPLETALK", 5}, {"AF_NETROM", 6},    {"AF_BRIDGE", 7},
      {"AF_ATMPVC", 8},      {"AF_X25", 9},       {"AF_INET6", 10},    {"AF_ROSE", 11},
      {"AF_DECnet", 12},     {"AF_NETBEUI", 13},  {"AF_SECURITY", 14}, {"AF_KEY", 15},
      {"AF_NETLINK", 16},    {"AF_PACKET", 17},   {"AF_ASH", 18},      {"AF_ECONET", 19},
      {"AF_ATMSVC", 20},     {"AF_RDS", 21},      {"AF_SNA", 22},      {"AF_IRDA", 23},
      {"AF_PPPOX", 24},      {"AF_WANPIPE", 25},  {"AF_LLC", 26},      {"AF_IB", 27},
      {"AF_MPLS", 28},       {"AF_CAN", 29},      {"AF_TIPC", 30},     {"AF_BLUETOOTH", 31},
      {"AF_IUCV", 32},       {"AF_RXRPC", 33},    {"AF_ISDN", 34},     {"AF_PHONET", 35},
      {"AF_IEEE802154", 36}, {"AF_CAIF", 37},     {"AF_ALG", 38},      {"AF_NFC", 39},
      {"AF_VSOCK", 40},      {"AF_KCM", 41},      {"AF_QIPCRTR", 42},  {"AF_SMC", 43},
      {"AF_XDP", 44},        {"AF_MCTP", 45},
  };
  for (const auto& [family_name, family] : kFamilies) {
    if (name == family_name) return family;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", name, "' is not an address family (AF_PACKET, AF_VSOCK, AF_XDP, ...)"));
}

absl::StatusOr<UniqueFd> SealProgram(const std::vector<struct sock_filter>& program) {
  RETURN_IF_ERROR(CheckProgramBytes(program.size() * sizeof(struct sock_filter)));
  // From offset 0 on: the stub reads the program from the fd's offset 0.
  return SealedMemfd("tether-seccomp",
                     absl::string_view(reinterpret_cast<const char*>(program.data()),
                                       program.size() * sizeof(struct sock_filter)),
                     "seccomp program memfd");
}

absl::StatusOr<std::vector<struct sock_filter>> ReadSealedProgram(int memfd) {
  ASSIGN_OR_RETURN(std::string bytes,
                   ReadSealedMemfd(memfd, "seccomp program fd", CheckProgramBytes));
  std::vector<struct sock_filter> program(bytes.size() / sizeof(struct sock_filter));
  std::memcpy(program.data(), bytes.data(), bytes.size());
  return program;
}

const std::vector<std::string>& DefaultDeniedSyscalls() {
  // Never destroyed, as static objects should not be.
  static const std::vector<std::string>* const names = [] {
    auto* names = new std::vector<std::string>;
    for (const DefaultDenial& denial : kDefaultDenials) {
      if (Resolve(denial.syscall) >= 0) names->push_back(denial.syscall);
    }
    return names;
  }();
  return *names;
}

}  // namespace tether::policy
