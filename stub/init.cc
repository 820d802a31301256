#include "stub/init.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

namespace tether::stub {

void ResetSignalDispositions() {
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo != SIGKILL && signo != SIGSTOP) signal(signo, SIG_DFL);
  }
}

int RunAsInit(int socket_fd, bool take_terminal, void (*start_workload)(void* context),
              void* context) {
  // Blocked, a signal sent from outside the namespace is queued for pid 1
  // even without a handler; sigwaitinfo then takes them one by one. The
  // dispositions are the defaults already (ResetSignalDispositions).
  sigset_t all, original;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &original);
  pid_t workload = fork();
  if (workload < 0) return -errno;
  if (workload == 0) {
    // On a terminal the workload leads its own foreground process group,
    // one that exists in its pid namespace (the caller's does not), so
    // that a shell can take and give back the terminal.
    if (take_terminal && isatty(STDIN_FILENO) && setpgid(0, 0) == 0) {
      signal(SIGTTOU, SIG_IGN);
      tcsetpgrp(STDIN_FILENO, getpgrp());
      signal(SIGTTOU, SIG_DFL);
    }
    sigprocmask(SIG_SETMASK, &original, nullptr);
    start_workload(context);
    _exit(125);
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
