#include "kernel/spawn.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <utility>

namespace tether::kernel {
namespace {

size_t PageSize() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

}  // namespace

ChildStack ChildStack::Map(size_t bytes) {
  ChildStack stack;
  size_t page = PageSize();
  size_t mapped_bytes = (bytes + page - 1) / page * page + page;
  void* mapped = mmap(nullptr, mapped_bytes, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  if (mapped == MAP_FAILED) {
    stack.error_ = errno;
    return stack;
  }
  if (mprotect(static_cast<char*>(mapped) + page, mapped_bytes - page, PROT_READ | PROT_WRITE) !=
      0) {
    stack.error_ = errno;
    munmap(mapped, mapped_bytes);
    return stack;
  }
  stack.mapped_ = mapped;
  stack.mapped_bytes_ = mapped_bytes;
  return stack;
}

ChildStack::ChildStack(ChildStack&& other) noexcept
    : mapped_(std::exchange(other.mapped_, nullptr)),
      mapped_bytes_(std::exchange(other.mapped_bytes_, 0)),
      error_(other.error_) {}

ChildStack& ChildStack::operator=(ChildStack&& other) noexcept {
  if (this != &other) {
    if (mapped_ != nullptr) munmap(mapped_, mapped_bytes_);
    mapped_ = std::exchange(other.mapped_, nullptr);
    mapped_bytes_ = std::exchange(other.mapped_bytes_, 0);
    error_ = other.error_;
  }
  return *this;
}

ChildStack::~ChildStack() {
  if (mapped_ != nullptr) munmap(mapped_, mapped_bytes_);
}

char* ChildStack::top() const { return static_cast<char*>(mapped_) + mapped_bytes_; }

pid_t CloneSharingMemory(int (*child)(void* argument), void* argument, const ChildStack& stack) {
  if (!stack.valid()) return -(stack.error() != 0 ? stack.error() : EINVAL);
  // glibc keeps its two internal signals out of sigfillset's mask; their
  // handlers act only on this process's own threads.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t pid = clone(child, stack.top(), CLONE_VM | CLONE_VFORK | SIGCHLD, argument);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return pid < 0 ? -clone_errno : pid;
}

pid_t CloneSharingMemory(int (*child)(void* argument), void* argument, size_t stack_bytes) {
  // Unmapped on return: the child has exec'd or exited by then.
  ChildStack stack = ChildStack::Map(stack_bytes);
  return CloneSharingMemory(child, argument, stack);
}

}  // namespace tether::kernel
