#include "tests/support/child_outcome.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/unique_fd.h"

namespace tether::test_support {

ChildOutcome RunInChild(absl::FunctionRef<std::pair<int, int>()> body) {
  ChildOutcome outcome;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return outcome;
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  pid_t pid = fork();
  if (pid < 0) return outcome;
  if (pid == 0) {
    std::pair<int, int> result = body();
    int report[2] = {result.first, result.second};
    ssize_t written = write(write_end.get(), report, sizeof(report));
    _exit(written == sizeof(report) ? 0 : 1);
  }
  write_end.reset();
  int report[2];
  size_t got = 0;
  while (got < sizeof(report)) {
    ssize_t n = read(read_end.get(), reinterpret_cast<char*>(report) + got, sizeof(report) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += n;
  }
  while (waitpid(pid, &outcome.wait_status, 0) < 0 && errno == EINTR) {
  }
  if (got == sizeof(report)) outcome.report.emplace(report[0], report[1]);
  return outcome;
}

}  // namespace tether::test_support
