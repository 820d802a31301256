#ifndef TETHER_KERNEL_SPAWN_H_
#define TETHER_KERNEL_SPAWN_H_

#include <stddef.h>
#include <sys/types.h>

namespace tether::kernel {

// A stack for a CloneSharingMemory child, with an inaccessible page below
// it, so that an overflow faults instead of writing into whatever mapping
// of the shared memory lies below. Its pages are only made as the child
// touches them. Mapped ahead of the clone where a limit set in between
// (RLIMIT_AS) could refuse the mapping then.
class ChildStack {
 public:
  ChildStack() = default;
  // Invalid on failure, with the mmap's or mprotect's errno in error().
  static ChildStack Map(size_t bytes);
  ChildStack(ChildStack&& other) noexcept;
  ChildStack& operator=(ChildStack&& other) noexcept;
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  ~ChildStack();

  bool valid() const { return mapped_ != nullptr; }
  int error() const { return error_; }
  // Where the child's stack starts (it grows down from here).
  char* top() const;

 private:
  void* mapped_ = nullptr;  // the guard page, then the stack
  size_t mapped_bytes_ = 0;
  int error_ = 0;
};

// Runs `child(argument)` in a new process that borrows this one's memory
// until it execs or exits (CLONE_VM | CLONE_VFORK, as posix_spawn starts
// its child), on `stack`, while the calling thread waits. A fork would copy
// the page tables and then fault in a private copy of every page either
// side wrote before the exec: on a VM some 10 us a fault.
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
// or minus the errno of the clone (or of the stack's mapping).
pid_t CloneSharingMemory(int (*child)(void* argument), void* argument, const ChildStack& stack);
// The same on a stack of `stack_bytes` mapped for the call.
pid_t CloneSharingMemory(int (*child)(void* argument), void* argument,
                         size_t stack_bytes = 64 * 1024);

}  // namespace tether::kernel

#endif  // TETHER_KERNEL_SPAWN_H_
