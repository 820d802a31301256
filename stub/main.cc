// tether-stub: the unprivileged side. It reports what it sees, performs the
// broker's plan step by step and execs the workload. It decides nothing.

#include <errno.h>
#include <fcntl.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "stub/session.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
// Sanitizer builds only: LeakSanitizer stops the world with ptrace, which the
// workload filter denies, and would turn the stub's own exit status (127
// for a missing workload) into its own failure.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif
#endif

namespace {

constexpr int kUsageExit = 64;

int Usage(const char* problem) {
  std::fprintf(stderr,
               "tether-stub: %s\nusage: tether-stub --fd N   (started by the "
               "tether broker)\n"
               "       tether-stub --connect PATH [--token-file F] [--broker-uid UID]"
               " -- CMD [ARGS...]\n",
               problem);
  return kUsageExit;
}

bool ReadToken(const char* path, std::string* token) {
  std::FILE* file = std::fopen(path, "re");
  if (file == nullptr) return false;
  char buffer[4097] = {};
  size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, file);
  std::fclose(file);
  token->assign(buffer, n);
  while (!token->empty() && (token->back() == '\n' || token->back() == '\r')) token->pop_back();
  return true;
}

// Sidecar mode: --connect PATH [--token-file F] [--broker-uid UID] -- CMD...
int Connect(int argc, char** argv) {
  tether::stub::ConnectOptions options;
  options.socket_path = argv[2];
  int next = 3;
  for (; next + 1 < argc && std::strcmp(argv[next], "--") != 0; next += 2) {
    const char* flag = argv[next];
    const char* value = argv[next + 1];
    if (std::strcmp(flag, "--token-file") == 0) {
      if (!ReadToken(value, &options.token)) return Usage("cannot read the --token-file");
    } else if (std::strcmp(flag, "--broker-uid") == 0) {
      char* end = nullptr;
      unsigned long uid = std::strtoul(value, &end, 10);
      if (*value < '0' || *value > '9' || *end != '\0' || uid > 0xfffffffeUL) {
        return Usage("--broker-uid needs a uid");
      }
      options.broker_uid = static_cast<uid_t>(uid);
    } else {
      return Usage("expected --connect PATH [--token-file F] [--broker-uid UID] -- CMD...");
    }
  }
  if (next >= argc || std::strcmp(argv[next], "--") != 0 || next + 1 >= argc) {
    return Usage("expected --connect PATH [--token-file F] [--broker-uid UID] -- CMD...");
  }
  options.argv.assign(argv + next + 1, argv + argc);
  return tether::stub::RunStubConnected(options);
}

}  // namespace

int main(int argc, char** argv) {
  // A closed standard fd would be reused by the next open, and the workload
  // would then write its output into that file.
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd) return 125;
  }
  if (argc >= 3 && std::strcmp(argv[1], "--connect") == 0) return Connect(argc, argv);
  if (argc != 3 || std::strcmp(argv[1], "--fd") != 0) {
    return Usage("expected --fd N, or --connect PATH -- CMD [ARGS...]");
  }
  char* end = nullptr;
  long fd = std::strtol(argv[2], &end, 10);
  if (*argv[2] == '\0' || *end != '\0' || fd < 0 || fd > 1024) {
    return Usage("--fd needs a descriptor number");
  }
  return tether::stub::RunStub(static_cast<int>(fd));
}
