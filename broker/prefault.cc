#include "broker/prefault.h"

#include <link.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

namespace tether::broker {
namespace {

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

constexpr uintptr_t kPage = 4096;
// More stack than a launch's deepest call chain below the worker's wait.
constexpr uintptr_t kStackBytes = 128 * 1024;

uintptr_t PageDown(uintptr_t address) { return address & ~(kPage - 1); }
uintptr_t PageUp(uintptr_t address) { return (address + kPage - 1) & ~(kPage - 1); }

bool Populate(MemorySpan span, std::vector<MemorySpan>* populated) {
  span.start = PageDown(span.start);
  span.end = PageUp(span.end);
  if (span.end <= span.start) return true;
  if (madvise(reinterpret_cast<void*>(span.start), span.end - span.start,
              span.write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) != 0) {
    return false;
  }
  populated->push_back(span);
  return true;
}

// Each loaded object's segments: code and constants read; data and .bss
// written, past the part made read-only after relocation (RELRO), which
// a write would refuse.
int PopulateObject(struct dl_phdr_info* info, size_t, void* populated) {
  uintptr_t relro_end = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& segment = info->dlpi_phdr[i];
    if (segment.p_type == PT_GNU_RELRO) {
      relro_end = PageUp(info->dlpi_addr + segment.p_vaddr + segment.p_memsz);
    }
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& segment = info->dlpi_phdr[i];
    if (segment.p_type != PT_LOAD) continue;
    uintptr_t start = info->dlpi_addr + segment.p_vaddr;
    uintptr_t end = start + segment.p_memsz;
    bool write = (segment.p_flags & PF_W) != 0;
    if (write) start = std::max(start, relro_end);
    Populate({start, end, write}, static_cast<std::vector<MemorySpan>*>(populated));
  }
  return 0;
}

}  // namespace

std::vector<MemorySpan> PrefaultForkedBroker() {
  std::vector<MemorySpan> populated;
  populated.reserve(16);  // no allocation between the heap's span and its populating
  dl_iterate_phdr(PopulateObject, &populated);
  // malloc's main arena: the break's span, below the current break.
  uintptr_t top = reinterpret_cast<uintptr_t>(sbrk(0));
  Populate({top - mallinfo2().arena, top, true}, &populated);
  // The stack's mapping may not reach that far down yet (it grows on a
  // fault, not on madvise): a smaller span then.
  char here;
  uintptr_t stack = PageUp(reinterpret_cast<uintptr_t>(&here));
  for (uintptr_t span = kStackBytes; span >= kPage; span /= 2) {
    if (Populate({stack - span, stack, true}, &populated)) break;
  }
  return populated;
}

}  // namespace tether::broker
