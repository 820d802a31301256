#ifndef TETHER_BROKER_PREFAULT_H_
#define TETHER_BROKER_PREFAULT_H_

#include <cstdint>
#include <vector>

namespace tether::broker {

// A page-aligned range of the process's own memory, populated for reading
// (code, constants) or for writing (data, heap, stack).
struct MemorySpan {
  uintptr_t start = 0;
  uintptr_t end = 0;
  bool write = false;
};

// Maps in, ahead of need, what a forked broker (a serve worker, while it
// waits for its stub) may touch in a launch: the code and constants of the
// broker and libc, for which fork copies no page table entries, and its
// writable data, brk heap and top of stack, shared copy-on-write with the
// parent until written. One madvise(MADV_POPULATE_*) per span instead of a
// page fault per page touched, which under shadow paging is a trap to the
// hypervisor. The cost: each worker holds a private copy of the whole heap
// and data it was forked with, not only of the pages a launch writes.
// Returns the spans populated; a kernel without MADV_POPULATE_* (before
// 5.14) populates none, and pages fault in as they did before.
std::vector<MemorySpan> PrefaultForkedBroker();

}  // namespace tether::broker

#endif  // TETHER_BROKER_PREFAULT_H_
