#include "kernel/spawn.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

namespace tether::kernel {

pid_t CloneSharingMemory(int (*child)(void* argument), void* argument, size_t stack_bytes) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  stack_bytes = (stack_bytes + page - 1) / page * page;
  // Pages of it are only made as the child touches them; the page below it
  // stays inaccessible, so that an overflow faults instead of writing into
  // whatever mapping of the shared memory lies below.
  size_t mapped_bytes = stack_bytes + page;
  void* mapped = mmap(nullptr, mapped_bytes, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  if (mapped == MAP_FAILED) return -errno;
  char* stack = static_cast<char*>(mapped) + page;
  if (mprotect(stack, stack_bytes, PROT_READ | PROT_WRITE) != 0) {
    int error = errno;
    munmap(mapped, mapped_bytes);
    return -error;
  }
  // glibc keeps its two internal signals out of sigfillset's mask; their
  // handlers act only on this process's own threads.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t pid = clone(child, stack + stack_bytes, CLONE_VM | CLONE_VFORK | SIGCHLD, argument);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  // The child has exec'd or exited: the stack is no longer in use.
  munmap(mapped, mapped_bytes);
  return pid < 0 ? -clone_errno : pid;
}

}  // namespace tether::kernel
