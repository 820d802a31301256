#include "stub/self_status.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace tether::stub {
namespace {

// The hexadecimal mask after "\n<field>:\t", or nothing.
std::optional<uint64_t> Mask(const char* status, const char* field) {
  size_t field_length = std::strlen(field);
  for (const char* line = status; line != nullptr && *line != '\0';) {
    if (std::strncmp(line, field, field_length) == 0 && line[field_length] == ':' &&
        line[field_length + 1] == '\t') {
      const char* digits = line + field_length + 2;
      char* end = nullptr;
      errno = 0;
      unsigned long long value = std::strtoull(digits, &end, 16);
      if (end == digits || *end != '\n' || errno != 0) return std::nullopt;
      return value;
    }
    line = std::strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  return std::nullopt;
}

}  // namespace

std::optional<SelfStatusMasks> ReadSelfStatusMasks() {
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  struct statfs filesystem;
  bool procfs = fstatfs(fd, &filesystem) == 0 && filesystem.f_type == PROC_SUPER_MAGIC;
  // The file is about 1.5 KB; a read returns what the kernel rendered.
  char status[8192];
  ssize_t length = procfs ? read(fd, status, sizeof(status) - 1) : -1;
  close(fd);
  if (length <= 0 || static_cast<size_t>(length) >= sizeof(status) - 1) return std::nullopt;
  status[length] = '\0';
  std::optional<uint64_t> bounding = Mask(status, "CapBnd");
  std::optional<uint64_t> ambient = Mask(status, "CapAmb");
  std::optional<uint64_t> ignored = Mask(status, "SigIgn");
  if (!bounding.has_value() || !ambient.has_value() || !ignored.has_value()) return std::nullopt;
  return SelfStatusMasks{*bounding, *ambient, *ignored};
}

}  // namespace tether::stub
