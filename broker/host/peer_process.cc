#include "broker/host/peer_process.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "ipc/unique_fd.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5
#endif

namespace tether::broker {
namespace {

// The connecting process itself, pinned by the kernel at connect time. Older
// kernels have no such handle: a pid_open of SO_PEERCRED's pid could name
// whoever recycled that pid since, so there the stub is never "visible".
UniqueFd PeerPidfd(int socket_fd) {
  int pidfd = -1;
  socklen_t size = sizeof(pidfd);
  if (getsockopt(socket_fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &size) == 0 && pidfd >= 0) {
    return UniqueFd(pidfd);
  }
  return UniqueFd();
}

// The pid a pidfd names in the reader's pid namespace (fdinfo "Pid:"): -1
// once the process is gone, 0 when it is not visible from here.
pid_t PidOfPidfd(int pidfd) {
  absl::StatusOr<std::string> fdinfo = ReadSmallFile(absl::StrCat("/proc/self/fdinfo/", pidfd));
  if (!fdinfo.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(*fdinfo, '\n')) {
    int pid = 0;
    if (absl::ConsumePrefix(&line, "Pid:") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &pid)) {
      return pid;
    }
  }
  return -1;
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat first, second;
  return stat(a.c_str(), &first) == 0 && stat(b.c_str(), &second) == 0 &&
         first.st_dev == second.st_dev && first.st_ino == second.st_ino;
}

}  // namespace

bool PeerSharesPidNamespace(int socket_fd, pid_t peer_pid) {
  if (peer_pid <= 0) return false;
  UniqueFd pidfd = PeerPidfd(socket_fd);
  if (!pidfd.valid() || PidOfPidfd(pidfd.get()) != peer_pid) return false;
  bool same = SameFile(absl::StrCat("/proc/", peer_pid, "/ns/pid"), "/proc/self/ns/pid");
  return same && PidOfPidfd(pidfd.get()) == peer_pid;
}

}  // namespace tether::broker
