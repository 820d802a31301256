#ifndef TETHER_STUB_INIT_H_
#define TETHER_STUB_INIT_H_

#include <stddef.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "kernel/spawn.h"

namespace tether::stub {

// Every signal's disposition back to the default, before the workload
// starts either way (as pid 1's child or exec'd in its place): an ignored
// SIGCHLD would have the kernel reap the workload behind the init's back,
// and it would wait forever; any other disposition ignored by whoever
// started the stub (or tether) would pass on to the workload. Handled
// signals need none of it (exec resets them); ignored ones keep their
// disposition across exec.
void ResetSignalDispositions();

// The stub as pid 1 of the sandbox's pid namespace, so that the workload
// never is a pid 1 (which ignores every signal it has no handler for):
// starts the workload in a child, then forwards every signal it receives
// to it, reaps whatever is orphaned onto it, and returns the workload's
// status (128+N for a signal) once the workload's main process is gone.
// Returning ends pid 1, and with it the kernel kills every process left in
// the namespace. `socket_fd` is closed here once the workload runs: the
// workload keeps its own copy until exec.
//
// The child runs in the stub's memory until it execs (as posix_spawn's
// child does), on `stack`, with the original signal mask, and execs
// `argv` by execvp of the current environ. A child that cannot be made or
// cannot exec returns minus the errno, with no workload left and the
// socket still open, so that the caller can say why.
// With `take_terminal` (the broker's word that its run is the terminal's
// foreground job), the workload leads the terminal's foreground group.
// Called with every disposition at its default (ResetSignalDispositions).
int RunAsInit(int socket_fd, bool take_terminal, const kernel::ChildStack& stack,
              char* const* argv);

// What the workload's child needs of `stack` above: execvp's own needs (the
// PATH of `envp` it walks, the argv of a script handed to /bin/sh) on top
// of a margin for the calls before it.
size_t WorkloadStackBytes(const std::vector<std::string>& argv,
                          const std::vector<std::string>& envp);

}  // namespace tether::stub

#endif  // TETHER_STUB_INIT_H_
