#include "stub/step_runner.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "ipc/limits.h"
#include "kernel/capabilities.h"
#include "kernel/seccomp.h"

namespace tether::stub {
namespace {

// Each action returns 0 or an errno.
int SetGroups(const std::vector<uint32_t>& groups) {
  std::vector<gid_t> list(groups.begin(), groups.end());
  return setgroups(list.size(), list.data()) == 0 ? 0 : errno;
}

int ClearInheritableAndAmbient() {
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return errno;
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return errno;
  data[0].inheritable = 0;
  data[1].inheritable = 0;
  return syscall(SYS_capset, &header, data) == 0 ? 0 : errno;
}

int LoadSeccompProgram(int memfd) {
  constexpr size_t kMaxBytes = ipc::kMaxSeccompInstructions * sizeof(sock_filter);
  struct stat st;
  if (fstat(memfd, &st) != 0) return errno;
  if (st.st_size <= 0 || static_cast<size_t>(st.st_size) > kMaxBytes) return EINVAL;
  std::vector<sock_filter> program(st.st_size / sizeof(sock_filter) + 1);
  ssize_t size = pread(memfd, program.data(), program.size() * sizeof(sock_filter), 0);
  if (size < 0) return errno;
  if (size == 0 || static_cast<size_t>(size) > kMaxBytes || size % sizeof(sock_filter) != 0) {
    return EINVAL;
  }
  return kernel::LoadSeccompFilter(program.data(), size / sizeof(sock_filter));
}

int SetParentDeathSignal(int signal, pid_t expected_parent) {
  if (prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0) != 0) return errno;
  // The parent may have died before the signal was armed.
  if (expected_parent > 0 && getppid() != expected_parent) return ESRCH;
  return 0;
}

int Perform(const ipc::Step& step, const std::vector<UniqueFd>& fds) {
  switch (step.action) {
    case ipc::Action::kSetGroups: return SetGroups(step.groups);
    case ipc::Action::kSetResgid: return setresgid(step.id, step.id, step.id) == 0 ? 0 : errno;
    case ipc::Action::kSetResuid: return setresuid(step.id, step.id, step.id) == 0 ? 0 : errno;
    case ipc::Action::kClearBoundingSet: return kernel::ClearBoundingSet();
    case ipc::Action::kClearInheritableAndAmbient: return ClearInheritableAndAmbient();
    case ipc::Action::kSetNoNewPrivs:
      return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : errno;
    case ipc::Action::kSetRlimit: {
      struct rlimit limit = {step.rlimit_soft, step.rlimit_hard};
      return setrlimit(static_cast<__rlimit_resource>(step.rlimit_resource), &limit) == 0 ? 0
                                                                                          : errno;
    }
    case ipc::Action::kLandlockRestrictSelf:
      return syscall(SYS_landlock_restrict_self, fds[step.fd_index].get(), 0) == 0 ? 0 : errno;
    case ipc::Action::kSeccompFilter: return LoadSeccompProgram(fds[step.fd_index].get());
    case ipc::Action::kParentDeathSignal:
      return SetParentDeathSignal(step.signal, step.expected_parent);
    case ipc::Action::kChangeDirectory: return chdir(step.path.c_str()) == 0 ? 0 : errno;
    case ipc::Action::kJoinNetworkNamespace:
      return setns(fds[step.fd_index].get(), CLONE_NEWNET) == 0 ? 0 : errno;
  }
  return EINVAL;
}

}  // namespace

ipc::StepResult RunStep(uint32_t index, const ipc::Step& step, const std::vector<UniqueFd>& fds) {
  ipc::StepResult result;
  result.index = index;
  if (step.disposition == ipc::Disposition::kSkipAlreadySatisfied) {
    result.outcome = ipc::Outcome::kSkipped;
    return result;
  }
  int error = Perform(step, fds);
  if (error == 0) {
    result.outcome = ipc::Outcome::kOk;
  } else {
    result.errno_value = error;
    bool tolerated = step.disposition == ipc::Disposition::kBestEffort &&
                     std::find(step.tolerate_errnos.begin(), step.tolerate_errnos.end(), error) !=
                         step.tolerate_errnos.end();
    result.outcome = tolerated ? ipc::Outcome::kTolerated : ipc::Outcome::kFailed;
  }
  return result;
}

}  // namespace tether::stub
