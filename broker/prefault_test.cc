#include "broker/prefault.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace tether::broker {
namespace {

// A global the program writes: in .data, past the part of the segment
// that is read-only after relocation.
int written_global = 1;

__attribute__((no_sanitize("address", "hwaddress"))) long MinorFaults() {
  struct rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Touches every page of every span as a launch would: a read of code and
// constants, a write (of the byte already there) of data, heap and stack.
// Not instrumented: the spans hold a sanitizer's redzones too.
__attribute__((no_sanitize("address", "hwaddress"), noinline)) long FaultsTouching(
    const std::vector<MemorySpan>& spans) {
  const uintptr_t page_size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  long before = MinorFaults();
  for (const MemorySpan& span : spans) {
    for (uintptr_t page = span.start; page < span.end; page += page_size) {
      volatile char* byte = reinterpret_cast<volatile char*>(page);
      if (span.write) {
        *byte = *byte;
      } else {
        (void)*byte;
      }
    }
  }
  return MinorFaults() - before;
}

struct ChildCounts {
  size_t spans = 0;
  long faults = -1;
  bool covers_code = false;
  bool covers_data = false;
  bool covers_heap = false;
  bool covers_stack = false;
};

// In a fork of this process, as a serve worker is a fork of the server:
// the spans (populated first or not), and the faults touching them took.
ChildCounts InForkedChild(bool populate_first) {
  int pipe_fds[2];
  EXPECT_EQ(pipe(pipe_fds), 0);
  // Written before the fork: the child's copy shares the page, as the
  // server's heap is shared with a worker.
  std::unique_ptr<char[]> heap_block(new char[64 * 1024]);
  std::memset(heap_block.get(), 1, 64 * 1024);
  pid_t child = fork();
  if (child == 0) {
    std::vector<MemorySpan> spans = PrefaultForkedBroker();
    ChildCounts counts;
    counts.spans = spans.size();
    char on_stack = 0;
    for (const MemorySpan& span : spans) {
      auto covers = [&](const void* address) {
        auto at = reinterpret_cast<uintptr_t>(address);
        return at >= span.start && at < span.end;
      };
      counts.covers_code |= !span.write && covers(reinterpret_cast<void*>(&MinorFaults));
      counts.covers_data |= span.write && covers(&written_global);
      counts.covers_heap |= span.write && covers(heap_block.get() + 32 * 1024);
      counts.covers_stack |= span.write && covers(&on_stack - 8 * 1024);  // deeper calls
    }
    if (!populate_first) {
      // The same spans, faulted in afresh by a second child's touching.
      pid_t grandchild = fork();
      if (grandchild != 0) {
        int status = 0;
        waitpid(grandchild, &status, 0);
        _exit(0);
      }
    }
    counts.faults = FaultsTouching(spans);
    (void)!write(pipe_fds[1], &counts, sizeof(counts));
    _exit(0);
  }
  close(pipe_fds[1]);
  ChildCounts counts;
  EXPECT_EQ(read(pipe_fds[0], &counts, sizeof(counts)), static_cast<ssize_t>(sizeof(counts)));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  return counts;
}

// AddressSanitizer's allocator keeps no heap at the break.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TETHER_HEAP_OF_ITS_OWN 1
#endif
#endif

// Whether this kernel has MADV_POPULATE_* (5.14 and later).
bool KernelPopulates() {
  long page = sysconf(_SC_PAGESIZE);
  void* probe = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bool populates = madvise(probe, page, MADV_POPULATE_WRITE) == 0;
  munmap(probe, page);
  return populates;
}

TEST(PrefaultForkedBrokerTest, SpansCoverTheCodeTheDataTheHeapAndTheStack) {
  ++written_global;
  ChildCounts counts = InForkedChild(/*populate_first=*/true);
  if (!KernelPopulates()) {
    EXPECT_EQ(counts.spans, 0u);  // before 5.14: nothing, pages fault in as before
    return;
  }
  EXPECT_TRUE(counts.covers_code);
  EXPECT_TRUE(counts.covers_data);
#ifndef TETHER_HEAP_OF_ITS_OWN
  EXPECT_TRUE(counts.covers_heap);
#endif
  EXPECT_TRUE(counts.covers_stack);
}

TEST(PrefaultForkedBrokerTest, AForkedProcessThenTouchesItsPagesWithoutFaulting) {
  ChildCounts populated = InForkedChild(/*populate_first=*/true);
  if (!KernelPopulates()) {
    EXPECT_EQ(populated.spans, 0u);
    return;
  }
  ChildCounts unpopulated = InForkedChild(/*populate_first=*/false);
  // Without it, a fork faults on its code (fault-around maps 16 pages a
  // time) and on every page of data, heap and stack it writes.
  EXPECT_GT(unpopulated.faults, 40) << "populated: " << populated.faults;
  EXPECT_LE(populated.faults, 2);  // getrusage's own stack, at most
}

}  // namespace
}  // namespace tether::broker
