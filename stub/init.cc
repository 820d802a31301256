#include "stub/init.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstdint>

#include "kernel/spawn.h"
#include "stub/self_status.h"

namespace tether::stub {
namespace {

struct WorkloadChild {
  const sigset_t* mask;  // the mask the workload starts with
  bool take_terminal;
  char* const* argv;
  int exec_errno;  // written by the child, read once it is gone or exec'd
};

// Runs in the stub's own memory while the stub waits, so only system calls
// and what exec needs: nothing allocates. Every disposition is the default
// (no handler can run on the shared memory), so the mask the workload
// starts with can be set here.
int WorkloadChildMain(void* raw) {
  auto* child = static_cast<WorkloadChild*>(raw);
  // On a terminal the workload leads its own foreground process group,
  // one that exists in its pid namespace (the caller's does not), so that
  // a shell can take and give back the terminal. Every signal is still
  // blocked here, SIGTTOU included, so tcsetpgrp from the background works.
  if (child->take_terminal && isatty(STDIN_FILENO) && setpgid(0, 0) == 0) {
    tcsetpgrp(STDIN_FILENO, getpgrp());
  }
  sigprocmask(SIG_SETMASK, child->mask, nullptr);
  // execvp allocates nothing: it walks the PATH on this stack.
  execvp(child->argv[0], child->argv);
  child->exec_errno = errno;
  _exit(127);
}

}  // namespace

size_t WorkloadStackBytes(const std::vector<std::string>& argv,
                          const std::vector<std::string>& envp) {
  size_t bytes = 64 * 1024;
  for (const std::string& variable : envp) {
    if (variable.compare(0, 5, "PATH=") == 0) bytes += variable.size();
  }
  for (const std::string& arg : argv) bytes += sizeof(char*) + arg.size();
  return bytes;
}

void ResetSignalDispositions() {
  // The stub handles no signal, so only the ignored ones need it; without
  // procfs, every one.
  std::optional<SelfStatusMasks> masks = ReadSelfStatusMasks();
  uint64_t ignored = masks.has_value() ? masks->ignored_signals : ~uint64_t{0};
  for (int signo = 1; signo < NSIG; ++signo) {
    bool is_ignored = (ignored >> (signo - 1) & 1) != 0;
    if (is_ignored && signo != SIGKILL && signo != SIGSTOP) signal(signo, SIG_DFL);
  }
}

int RunAsInit(int socket_fd, bool take_terminal, const kernel::ChildStack& stack,
              char* const* argv) {
  // Blocked, a signal sent from outside the namespace is queued for pid 1
  // even without a handler; sigwaitinfo then takes them one by one. The
  // dispositions are the defaults already (ResetSignalDispositions).
  sigset_t all, original;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &original);
  // The workload as posix_spawn starts a child (kernel/spawn.h): no copy
  // of the stub's page tables, no fault for each page either side writes
  // before the exec.
  WorkloadChild child = {&original, take_terminal, argv, 0};
  pid_t workload = kernel::CloneSharingMemory(WorkloadChildMain, &child, stack);
  if (workload < 0) return workload;
  if (child.exec_errno != 0) {
    // No workload runs: the child is gone, and the socket still open.
    while (waitpid(workload, nullptr, 0) < 0 && errno == EINTR) {
    }
    return -child.exec_errno;
  }
  close(socket_fd);
  while (true) {
    siginfo_t info;
    int signo = sigwaitinfo(&all, &info);
    if (signo < 0) continue;
    if (signo != SIGCHLD) {
      kill(workload, signo);
      // A stopped workload would keep a signal that ends it pending forever.
      if (signo == SIGTERM || signo == SIGINT || signo == SIGHUP || signo == SIGQUIT) {
        kill(workload, SIGCONT);
      }
      continue;
    }
    int status = 0;
    pid_t reaped;
    while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
      if (reaped != workload) continue;  // an orphan, reaped
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
  }
}

}  // namespace tether::stub
