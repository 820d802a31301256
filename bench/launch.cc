#include "bench/launch.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace tether::bench {

int RunOnce(const std::vector<std::string>& args, const std::string& cwd) {
  long unused = 0;
  return RunOnceMeasured(args, cwd, &unused);
}

int RunOnceMeasured(const std::vector<std::string>& args, const std::string& cwd,
                    long* max_rss_kib) {
  pid_t pid = fork();
  if (pid == 0) {
    int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    if (chdir(cwd.c_str()) != 0) _exit(120);
    std::vector<char*> argv;
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(121);
  }
  int status = 0;
  struct rusage usage = {};
  if (pid < 0 || wait4(pid, &status, 0, &usage) < 0) return -1;
  *max_rss_kib = usage.ru_maxrss;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(p * (values.size() - 1) + 0.5)];
}

std::string Runfile(const char* argv0, const std::string& relative) {
  const char* dir = std::getenv("RUNFILES_DIR");
  std::string base = dir != nullptr ? dir : std::string(argv0) + ".runfiles";
  return base + "/tether/" + relative;
}

}  // namespace tether::bench
