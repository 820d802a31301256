// resource_probe MODE: what a workload gets under tether's resource limits.
//
//   fork-loop   forks children that wait, until fork fails; prints
//               "forked N" and "errno NAME", then ends the children
//   spin MS     burns CPU for MS milliseconds of wall-clock time; prints
//               "cpu_ms N", the CPU time it got

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

// Under --config=asan this workload is sanitized too, but LeakSanitizer
// needs ptrace, which the sandbox denies; the probe is not what is tested.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }

namespace {

int ForkLoop() {
  std::vector<pid_t> children;
  int error = 0;
  // Far above any limit a test sets; a runaway without a limit stops here.
  while (children.size() < 20000) {
    pid_t pid = fork();
    if (pid < 0) {
      error = errno;
      break;
    }
    if (pid == 0) {
      pause();
      _exit(0);
    }
    children.push_back(pid);
  }
  std::printf("forked %zu\nerrno %s\n", children.size(),
              error != 0 ? strerrorname_np(error) : "none");
  std::fflush(stdout);
  for (pid_t child : children) kill(child, SIGKILL);
  for (pid_t child : children) waitpid(child, nullptr, 0);
  return 0;
}

int64_t NowMs(clockid_t clock) {
  struct timespec now;
  clock_gettime(clock, &now);
  return int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000;
}

int Spin(int64_t ms) {
  int64_t end = NowMs(CLOCK_MONOTONIC) + ms;
  volatile uint64_t sink = 0;
  while (NowMs(CLOCK_MONOTONIC) < end) {
    for (int i = 0; i < 100000; ++i) sink = sink + i;
  }
  std::printf("cpu_ms %lld\n", static_cast<long long>(NowMs(CLOCK_PROCESS_CPUTIME_ID)));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "fork-loop") == 0) return ForkLoop();
  if (argc == 3 && std::strcmp(argv[1], "spin") == 0) return Spin(std::atoll(argv[2]));
  std::fprintf(stderr, "usage: resource_probe fork-loop | spin MS\n");
  return 64;
}
