// A Bazel-built test that checks, from inside, that it runs in a tether
// sandbox: not root, no capabilities, no_new_privs, a seccomp filter, and a
// filesystem it cannot write outside its sandbox.

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

// Under --config=asan this runs sanitized inside the sandbox, where
// LeakSanitizer's ptrace is denied; leak checks are not what it tests.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }

namespace {

std::string StatusField(const std::string& key) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(key + ":", 0) == 0) {
      size_t start = line.find_first_not_of(" \t", key.size() + 1);
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "<missing>";
}

int failures = 0;

void Expect(bool condition, const std::string& what) {
  std::printf("%s %s\n", condition ? "ok  " : "FAIL", what.c_str());
  if (!condition) ++failures;
}

}  // namespace

int main() {
  Expect(geteuid() != 0, "runs as a non-root uid");
  Expect(StatusField("CapBnd") == "0000000000000000", "bounding set is empty");
  Expect(StatusField("CapEff") == "0000000000000000", "no effective capabilities");
  Expect(StatusField("NoNewPrivs") == "1", "no_new_privs is set");
  Expect(StatusField("Seccomp") == "2", "a seccomp filter is loaded");
  int fd = open("/var/tmp/tether-self-check", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  // Not in the filesystem view (ENOENT), or refused by Landlock where there is none.
  Expect(fd < 0 && (errno == ENOENT || errno == EACCES), "writing outside the sandbox is refused");
  return failures == 0 ? 0 : 1;
}
