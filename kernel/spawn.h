#ifndef TETHER_KERNEL_SPAWN_H_
#define TETHER_KERNEL_SPAWN_H_

#include <stddef.h>
#include <sys/types.h>

namespace tether::kernel {

// Runs `child(argument)` in a new process that borrows this one's memory
// until it execs or exits (CLONE_VM | CLONE_VFORK, as posix_spawn starts
// its child), on a stack of at least `stack_bytes` mapped for it, while
// the calling thread waits. A fork would copy the page tables and then
// fault in a private copy of every page either side wrote before the exec:
// on a VM some 10 us a fault.
//
// The child may make system calls and exec, nothing else: no allocation,
// and nothing that takes a lock another thread could hold. It shares the
// caller's errno (only the clone's own failure is returned here). Every
// signal is blocked from before the clone until it returns, so no handler
// runs on the shared memory: the child keeps them blocked unless it knows
// every disposition is the default, and a program it execs starts with all
// of them blocked, and sets its own mask. It reports through memory the
// caller gave it, read once this returns.
//
// Returns the child's pid (reaped by the caller, SIGCHLD when it exits),
// or minus the errno of the mmap or the clone.
pid_t CloneSharingMemory(int (*child)(void* argument), void* argument,
                         size_t stack_bytes = 64 * 1024);

}  // namespace tether::kernel

#endif  // TETHER_KERNEL_SPAWN_H_
