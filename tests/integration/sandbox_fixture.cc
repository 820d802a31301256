#include "tests/integration/sandbox_fixture.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace tether::testing {
namespace {

std::string Runfile(const std::string& relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/tether/" + relative;
}

void CopyExecutable(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  chmod(to.c_str(), 0755);
}

}  // namespace

SandboxDir::SandboxDir() {
  char pattern[] = "/tmp/tether-it-XXXXXX";
  path_ = mkdtemp(pattern);
  chmod(path_.c_str(), 0755);
  CopyExecutable(Runfile("broker/tether"), Bin("tether"));
  CopyExecutable(Runfile("stub/tether-stub"), Bin("tether-stub"));
  CopyExecutable(Runfile("broker/tether-egress"), Bin("tether-egress"));
  CopyExecutable(Runfile("tests/faultenv/faultenv"), Bin("faultenv"));
  for (const char* name : {"sandbox_probe", "lying_stub", "old_landlock_stub", "stalling_stub",
                           "hostile_stub", "tenant_probe", "resource_probe"}) {
    CopyExecutable(Runfile(std::string("tests/testcases/") + name), Bin(name));
  }
}

SandboxDir::~SandboxDir() { std::filesystem::remove_all(path_); }

const SandboxDir& Binaries() {
  // Destroyed at exit, which removes the copies.
  static const SandboxDir dir;
  return dir;
}

RunResult RunTether(const RunSpec& spec) {
  const SandboxDir& bins = Binaries();
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) {
    std::abort();
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    std::string cwd = spec.cwd.empty() ? bins.path() : spec.cwd;
    if (chdir(cwd.c_str()) != 0) _exit(200);
    if (spec.before_exec) spec.before_exec();
    std::vector<std::string> args = spec.wrapper;
    if (spec.command.empty()) {
      args.push_back(bins.Bin("tether"));
      args.insert(args.end(), spec.args.begin(), spec.args.end());
      // The workloads live beside tether: elsewhere they are not in the view.
      if (!spec.args.empty() && spec.args[0] == "run" && cwd != bins.path()) {
        size_t run = args.size() - spec.args.size();
        args.insert(args.begin() + run + 1, {"--read-only", bins.path()});
      }
    } else {
      args.insert(args.end(), spec.command.begin(), spec.command.end());
    }
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(201);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (!spec.stdin_text.empty()) {
    (void)!write(in_pipe[1], spec.stdin_text.data(), spec.stdin_text.size());
  }
  close(in_pipe[1]);
  if (spec.while_running) spec.while_running(pid, out_pipe[0], err_pipe[0]);
  RunResult result;
  result.pid = pid;
  // Drain both pipes until EOF, bounded by the timeout.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(spec.timeout_seconds);
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (poll(fds, 2, 1000) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buffer, n);
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  if (open_fds > 0) kill(pid, SIGKILL);
  for (auto& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::vector<pid_t> Descendants(pid_t pid) {
  std::vector<pid_t> found;
  std::vector<pid_t> pending = {pid};
  while (!pending.empty()) {
    pid_t parent = pending.back();
    pending.pop_back();
    std::istringstream children(ReadFile("/proc/" + std::to_string(parent) + "/task/" +
                                         std::to_string(parent) + "/children"));
    pid_t child;
    while (children >> child) {
      found.push_back(child);
      pending.push_back(child);
    }
  }
  return found;
}

bool ReadUntil(int fd, int seconds, std::string* text,
               const std::function<bool(const std::string&)>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done(*text) && std::chrono::steady_clock::now() < deadline) {
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    char buffer[4096];
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    text->append(buffer, n);
  }
  return done(*text);
}

bool ProcessGone(pid_t pid) {
  for (int i = 0; i < 100; ++i) {
    std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(')');
    if (stat.empty() || (paren != std::string::npos && stat[paren + 2] == 'Z')) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::vector<std::string> FindLines(const std::string& text, const std::string& prefix) {
  std::vector<std::string> found;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) found.push_back(line.substr(prefix.size()));
  }
  return found;
}

std::vector<std::string> CmdlineOf(const std::string& pid) {
  std::string raw = ReadFile("/proc/" + pid + "/cmdline");
  std::vector<std::string> args;
  std::string arg;
  for (char c : raw) {
    if (c == '\0') {
      args.push_back(arg);
      arg.clear();
    } else {
      arg += c;
    }
  }
  return args;
}

std::string FindLine(const std::string& text, const std::string& prefix) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return "<no line starting with " + prefix + ">";
}

pid_t StartServe(const std::vector<std::string>& args, const std::string& socket,
                 const std::string& log, const std::function<void()>& before_exec,
                 const std::vector<std::string>& wrapper) {
  pid_t server = fork();
  if (server == 0) {
    if (before_exec) before_exec();
    int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, 0);
    int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    std::vector<std::string> command = wrapper;
    command.insert(command.end(), {Binaries().Bin("tether"), "serve"});
    command.insert(command.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : command) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(212);
  }
  for (int i = 0; i < 200 && !std::filesystem::exists(socket); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return server;
}

void StopServe(pid_t server) {
  if (server <= 0) return;
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
}

void ExpectFullPosture(const std::string& out, uid_t uid) {
  std::string ids = "\t" + std::to_string(uid);
  EXPECT_EQ(FindLine(out, "Uid:"), ids + ids + ids + ids) << out;
  for (const char* set : {"CapBnd:", "CapEff:", "CapPrm:", "CapInh:", "CapAmb:"}) {
    EXPECT_EQ(FindLine(out, set), "\t0000000000000000") << set;
  }
  EXPECT_EQ(FindLine(out, "NoNewPrivs:"), "\t1");
  EXPECT_EQ(FindLine(out, "Seccomp:"), "\t2");
  // Outside the view it does not exist; where there is no view (a sidecar
  // stub in its own container), Landlock refuses it.
  std::string write = FindLine(out, "write=");
  EXPECT_TRUE(write == "ENOENT" || write == "EACCES") << write;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace tether::testing
