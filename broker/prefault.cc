#include "broker/prefault.h"

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "broker/host/proc_status.h"

namespace tether::broker {
namespace {

// More stack than a launch's deepest call chain below the worker's wait.
constexpr uintptr_t kStackBytes = 128 * 1024;

struct Populator {
  uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  std::vector<MemorySpan> populated;

  uintptr_t Down(uintptr_t address) const { return address & ~(page - 1); }
  uintptr_t Up(uintptr_t address) const { return (address + page - 1) & ~(page - 1); }

  bool Populate(MemorySpan span) {
    span.start = Down(span.start);
    span.end = Up(span.end);
    if (span.end <= span.start) return true;
    if (madvise(reinterpret_cast<void*>(span.start), span.end - span.start,
                span.write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) != 0) {
      return false;
    }
    populated.push_back(span);
    return true;
  }
};

// Each loaded object's segments: code and constants read; data and .bss
// written, past the part made read-only after relocation (RELRO), which
// a write would refuse.
int PopulateObject(struct dl_phdr_info* info, size_t, void* opaque) {
  Populator& populator = *static_cast<Populator*>(opaque);
  uintptr_t relro_end = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& segment = info->dlpi_phdr[i];
    if (segment.p_type == PT_GNU_RELRO) {
      relro_end = populator.Up(info->dlpi_addr + segment.p_vaddr + segment.p_memsz);
    }
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& segment = info->dlpi_phdr[i];
    if (segment.p_type != PT_LOAD) continue;
    uintptr_t start = info->dlpi_addr + segment.p_vaddr;
    uintptr_t end = start + segment.p_memsz;
    bool write = (segment.p_flags & PF_W) != 0;
    if (write) start = std::max(start, relro_end);
    populator.Populate({start, end, write});
  }
  return 0;
}

// Where the kernel put the break at exec: the brk heap is [start_brk,
// sbrk(0)), whatever else malloc has mapped.
uintptr_t StartOfBreak() {
  constexpr int kStartBrkField = 47;
  return static_cast<uintptr_t>(ReadProcStatField("self", kStartBrkField));
}

}  // namespace

std::vector<MemorySpan> PrefaultForkedBroker() {
  Populator populator;
  dl_iterate_phdr(PopulateObject, &populator);
  uintptr_t heap_start = StartOfBreak();
  uintptr_t heap_end = reinterpret_cast<uintptr_t>(sbrk(0));
  if (heap_start != 0 && heap_start < heap_end) populator.Populate({heap_start, heap_end, true});
  // The stack's mapping may not reach that far down yet (it grows on a
  // fault, not on madvise): a smaller span then.
  uintptr_t stack = populator.Up(reinterpret_cast<uintptr_t>(__builtin_frame_address(0)));
  for (uintptr_t span = kStackBytes; span >= populator.page; span /= 2) {
    if (populator.Populate({stack - span, stack, true})) break;
  }
  return std::move(populator.populated);
}

}  // namespace tether::broker
