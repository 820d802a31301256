#ifndef TETHER_TESTS_INTEGRATION_SANDBOX_FIXTURE_H_
#define TETHER_TESTS_INTEGRATION_SANDBOX_FIXTURE_H_

// Runs the real `tether` binary on the real kernel. The binaries are copied
// into a world-readable directory under /tmp, because the workload runs as
// nobody and cannot reach Bazel's runfiles under /root.

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace tether::testing {

struct RunResult {
  int exit_code = -1;  // like a shell: 128+N for a signal
  std::string out;
  std::string err;
  pid_t pid = 0;  // tether's pid (its veth host end is tth<pid>)
};

class SandboxDir {
 public:
  SandboxDir();
  ~SandboxDir();
  const std::string& path() const { return path_; }
  std::string Bin(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The shared copy of the binaries for this test process.
const SandboxDir& Binaries();

struct RunSpec {
  std::vector<std::string> wrapper;  // runs tether, e.g. {faultenv, MODE, "--"}
  std::vector<std::string> command;  // when set, run instead of tether (e.g. a stub)
  std::vector<std::string> args;     // after "tether"
  // Default: the binaries' directory. Another one makes `tether run` bind
  // the binaries' directory read-only (--read-only), so workloads are found.
  std::string cwd;
  std::string stdin_text;
  // Runs in the forked child before exec of tether (e.g. to drop privileges).
  std::function<void()> before_exec;
  // Called with tether's pid once it runs; may signal it. Reads happen after.
  std::function<void(pid_t, int out_fd, int err_fd)> while_running;
  int timeout_seconds = 60;
};

RunResult RunTether(const RunSpec& spec);

// Reads the first line starting with `prefix` from text, without the prefix.
std::string FindLine(const std::string& text, const std::string& prefix);
// Every line starting with `prefix`, without the prefix.
std::vector<std::string> FindLines(const std::string& text, const std::string& prefix);

// /proc/PID/cmdline split at its NULs (empty for a zombie or a gone pid).
std::vector<std::string> CmdlineOf(const std::string& pid);

std::string ReadFile(const std::string& path);

// Every live descendant of `pid` (children first), by host pid: what a
// workload in its own pid namespace cannot say about itself.
std::vector<pid_t> Descendants(pid_t pid);

// Whether `pid` is gone (or a zombie) within about five seconds.
bool ProcessGone(pid_t pid);

// Appends what `fd` gives to *text until `done(*text)`, EOF, or `seconds`
// pass; returns whether `done` holds.
bool ReadUntil(int fd, int seconds, std::string* text,
               const std::function<bool(const std::string&)>& done);

// `tether serve ARGS...` in the background, its output in `log`, stdin from
// /dev/null; `before_exec` runs in the child first, and `wrapper` (a fault
// environment: faultenv MODE --) execs the broker. Returns once `socket`
// exists (or after 4 s), with the server's pid.
pid_t StartServe(const std::vector<std::string>& args, const std::string& socket,
                 const std::string& log, const std::function<void()>& before_exec = {},
                 const std::vector<std::string>& wrapper = {});
// SIGTERM (a drain) and reap.
void StopServe(pid_t server);

// What every confined workload shows, whichever way it was launched: runs
// as `uid`, no capability in any set, no_new_privs, a seccomp filter, and a
// write outside the allowed paths refused (not in the view, or by Landlock) (sandbox_probe
// `posture` output).
void ExpectFullPosture(const std::string& probe_output, uid_t uid);

}  // namespace tether::testing

#endif  // TETHER_TESTS_INTEGRATION_SANDBOX_FIXTURE_H_
