#ifndef TETHER_STUB_IN_CHILD_FOR_TEST_H_
#define TETHER_STUB_IN_CHILD_FOR_TEST_H_

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace tether::stub {

inline bool WriteWholeFile(const char* path, const std::string& text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return written;
}

// Its own uid and gid mapped to 0, so that files it makes have an owner.
inline bool BecomeRootOfOwnUserNamespace() {
  std::string uid = std::to_string(getuid()), gid = std::to_string(getgid());
  return unshare(CLONE_NEWUSER) == 0 && WriteWholeFile("/proc/self/setgroups", "deny") &&
         WriteWholeFile("/proc/self/uid_map", "0 " + uid + " 1") &&
         WriteWholeFile("/proc/self/gid_map", "0 " + gid + " 1");
}

// Runs `body` in a child, so that the test process keeps its own
// capability sets, dispositions and mounts, and expects it to pass. Not
// root, the child is root of a user namespace of its own, with every
// capability there, as the stub is in a rootless run.
template <typename Body>
void InChild(Body body) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (geteuid() != 0 && !BecomeRootOfOwnUserNamespace()) {
      ADD_FAILURE() << "a user namespace of its own: " << strerror(errno);
      _exit(1);
    }
    body();
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace tether::stub

#endif  // TETHER_STUB_IN_CHILD_FOR_TEST_H_
