// tether-stub: the unprivileged side. It reports what it sees, performs the
// broker's plan step by step and execs the workload. It decides nothing.

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "stub/session.h"

namespace {

constexpr int kUsageExit = 64;

int Usage(const char* problem) {
  std::fprintf(stderr,
               "tether-stub: %s\nusage: tether-stub --fd N   (started by the "
               "tether broker)\n"
               "       tether-stub --connect PATH [--token-file F] -- CMD [ARGS...]\n",
               problem);
  return kUsageExit;
}

}  // namespace

int main(int argc, char** argv) {
  // Sidecar mode: tether-stub --connect PATH [--token-file F] -- CMD [ARGS...]
  if (argc >= 5 && std::strcmp(argv[1], "--connect") == 0) {
    int next = 3;
    std::string token;
    if (std::strcmp(argv[next], "--token-file") == 0 && argc >= 7) {
      std::FILE* file = std::fopen(argv[next + 1], "re");
      if (file == nullptr) return Usage("cannot read the --token-file");
      char buffer[4097] = {};
      size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, file);
      std::fclose(file);
      token.assign(buffer, n);
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
      next += 2;
    }
    if (next >= argc || std::strcmp(argv[next], "--") != 0 || next + 1 >= argc) {
      return Usage("expected --connect PATH [--token-file F] -- CMD [ARGS...]");
    }
    return tether::stub::RunStubConnected(argv[2], token,
                                          std::vector<std::string>(argv + next + 1, argv + argc));
  }
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
