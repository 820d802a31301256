#include "stub/self_status.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace tether::stub {
namespace {

// The number after "<field>:\t" at the start of a line, or nothing.
std::optional<uint64_t> Field(const char* status, const char* field, int base) {
  size_t field_length = std::strlen(field);
  for (const char* line = status; line != nullptr && *line != '\0';) {
    if (std::strncmp(line, field, field_length) == 0 && line[field_length] == ':' &&
        line[field_length + 1] == '\t') {
      const char* digits = line + field_length + 2;
      char* end = nullptr;
      errno = 0;
      unsigned long long value = std::strtoull(digits, &end, base);
      if (end == digits || *end != '\n' || errno != 0) return std::nullopt;
      return value;
    }
    line = std::strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  return std::nullopt;
}

std::optional<uint64_t> Mask(const char* status, const char* field) {
  return Field(status, field, 16);
}

std::optional<uint64_t> Decimal(const char* status, const char* field) {
  return Field(status, field, 10);
}

}  // namespace

std::optional<SelfStatusMasks> ReadSelfStatusMasks() {
  // procfs's own root, and this thread's status below it without crossing
  // a mount: a tmpfs over /proc (with links of its own), a procfs
  // directory of another process bound over /proc or a file mounted over
  // the status are all refused, and the caller asks the kernel instead.
  int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) return std::nullopt;
  struct statfs filesystem;
  bool procfs = fstatfs(proc, &filesystem) == 0 && filesystem.f_type == PROC_SUPER_MAGIC;
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
  how.resolve = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH;
  int fd =
      procfs ? static_cast<int>(syscall(SYS_openat2, proc, "thread-self/status", &how, sizeof(how)))
             : -1;
  close(proc);
  if (fd < 0) return std::nullopt;
  // The file is about 1.5 KB; a read returns what the kernel rendered.
  char status[8192];
  ssize_t length = read(fd, status, sizeof(status) - 1);
  close(fd);
  if (length <= 0 || static_cast<size_t>(length) >= sizeof(status) - 1) return std::nullopt;
  status[length] = '\0';
  std::optional<uint64_t> bounding = Mask(status, "CapBnd");
  std::optional<uint64_t> ambient = Mask(status, "CapAmb");
  std::optional<uint64_t> ignored = Mask(status, "SigIgn");
  // And this very process's, numbered as the caller sees itself: a procfs
  // of another pid namespace is not taken either.
  std::optional<uint64_t> pid = Decimal(status, "Pid");
  if (!bounding.has_value() || !ambient.has_value() || !ignored.has_value() || !pid.has_value() ||
      *pid != static_cast<uint64_t>(getpid())) {
    return std::nullopt;
  }
  return SelfStatusMasks{*bounding, *ambient, *ignored};
}

}  // namespace tether::stub
