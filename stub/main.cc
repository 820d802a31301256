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
               "       tether-stub --connect PATH -- CMD [ARGS...]   (a broker sidecar)\n",
               problem);
  return kUsageExit;
}

}  // namespace

int main(int argc, char** argv) {
  // Sidecar mode: tether-stub --connect PATH -- CMD [ARGS...]
  if (argc >= 5 && std::strcmp(argv[1], "--connect") == 0 && std::strcmp(argv[3], "--") == 0) {
    return tether::stub::RunStubConnected(argv[2], std::vector<std::string>(argv + 4, argv + argc));
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
