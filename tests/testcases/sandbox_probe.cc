// A workload for the integration tests: it reports from inside the sandbox
// what the kernel says and what it is allowed to do, one `key=value` per line.

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

extern char** environ;

// Under --config=asan this workload is sanitized too, but LeakSanitizer
// needs ptrace, which the sandbox denies; the probe is not what is tested.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }

namespace {

void PrintErrno(const char* what, int result) {
  std::printf("%s=%s\n", what, result == 0 ? "ok" : strerrorname_np(errno));
}

int Status() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    for (const char* key : {"Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:",
                            "CapAmb:", "NoNewPrivs:", "Seccomp:"}) {
      if (line.rfind(key, 0) == 0) std::printf("%s\n", line.c_str());
    }
  }
  return 0;
}

int Fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) {
    std::printf("fds_error=%s\n", strerrorname_np(errno));
    return 1;
  }
  int own = dirfd(dir);
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.' || std::atoi(entry->d_name) == own) continue;
    char target[256] = {};
    std::string link = std::string("/proc/self/fd/") + entry->d_name;
    ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
    std::printf("fd=%s %s\n", entry->d_name, n > 0 ? target : "?");
  }
  closedir(dir);
  return 0;
}

int WaitSignal() {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&set, signo);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  std::printf("ready\n");
  std::fflush(stdout);
  int signo = 0;
  sigwait(&set, &signo);
  std::printf("signal=%d\n", signo);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 64;
  std::string command = argv[1];
  if (command == "status") return Status();
  if (command == "posture" && argc == 3) {
    // Status, then a write where only Landlock can refuse it.
    Status();
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    PrintErrno("write", fd >= 0 ? 0 : -1);
    return 0;
  }
  if (command == "fds") return Fds();
  if (command == "interfaces") {
    struct if_nameindex* names = if_nameindex();
    for (struct if_nameindex* it = names; it != nullptr && it->if_index != 0; ++it) {
      std::printf("interface=%s\n", it->if_name);
    }
    if (names != nullptr) if_freenameindex(names);
    return 0;
  }
  if (command == "echo" && argc == 4) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[3])));
    inet_pton(AF_INET, argv[2], &address.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      PrintErrno("connect", -1);
      return 0;
    }
    char reply[64] = {};
    if (write(fd, "ping", 4) != 4 || read(fd, reply, sizeof(reply) - 1) <= 0) {
      PrintErrno("echo", -1);
      return 0;
    }
    std::printf("echo=%s\n", reply);
    return 0;
  }
  if (command == "parent-seccomp") {
    std::ifstream status("/proc/" + std::to_string(getppid()) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("Seccomp:", 0) == 0) std::printf("parent %s\n", line.c_str());
    }
    return 0;
  }
  if (command == "sendmmsg") {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0) return 1;
    char byte = 'x';
    struct iovec part = {&byte, 1};
    struct mmsghdr datagram = {};
    datagram.msg_hdr.msg_iov = &part;
    datagram.msg_hdr.msg_iovlen = 1;
    PrintErrno("sendmmsg", sendmmsg(pair[0], &datagram, 1, 0) == 1 ? 0 : -1);
    return 0;
  }
  if (command == "exit" && argc == 3) return std::atoi(argv[2]);
  if (command == "kill-self" && argc == 3) {
    signal(std::atoi(argv[2]), SIG_DFL);
    raise(std::atoi(argv[2]));
    return 1;
  }
  if (command == "write" && argc == 3) {
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    PrintErrno("write", fd >= 0 ? 0 : -1);
    return 0;
  }
  if (command == "open" && argc == 3) {
    int fd = open(argv[2], O_RDWR | O_CLOEXEC);
    PrintErrno("open", fd >= 0 ? 0 : -1);
    return 0;
  }
  if (command == "ioctl" && argc == 3) {
    // TCGETS reaches the driver only when Landlock allows ioctl on the node.
    int fd = open(argv[2], O_RDWR | O_CLOEXEC);
    PrintErrno("open", fd >= 0 ? 0 : -1);
    if (fd < 0) return 0;
    struct termios attributes;
    PrintErrno("ioctl", ioctl(fd, TCGETS, &attributes));
    return 0;
  }
  if (command == "comm") {
    // What CUDA does at start-up: name its threads through /proc.
    std::string path = "/proc/self/task/" + std::to_string(gettid()) + "/comm";
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    PrintErrno("comm", fd >= 0 && write(fd, "probe", 5) == 5 ? 0 : -1);
    return 0;
  }
  if (command == "read" && argc == 3) {
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    PrintErrno("read", fd >= 0 ? 0 : -1);
    return 0;
  }
  if (command == "socket" && argc == 4) {
    // socket(FAMILY, TYPE, 0) with both as numbers.
    int fd = socket(std::atoi(argv[2]), std::atoi(argv[3]) | SOCK_CLOEXEC, 0);
    PrintErrno("socket", fd >= 0 ? 0 : -1);
    return 0;
  }
  if (command == "mount") {
    PrintErrno("mount", mount("tmpfs", "/tmp", "tmpfs", 0, nullptr));
    return 0;
  }
  if (command == "unshare") {
    PrintErrno("unshare", unshare(CLONE_NEWUSER));
    return 0;
  }
  if (command == "ptrace") {
    PrintErrno("ptrace", static_cast<int>(ptrace(PTRACE_ATTACH, getppid(), nullptr, nullptr)));
    return 0;
  }
  if (command == "env") {
    for (char** var = environ; *var != nullptr; ++var) std::printf("env=%s\n", *var);
    return 0;
  }
  if (command == "stdin") {
    char buffer[256];
    ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));
    std::printf("stdin=%.*s\n", n > 0 ? static_cast<int>(n) : 0, buffer);
    return 0;
  }
  if (command == "wait-signal") return WaitSignal();
  if (command == "sleep") {
    std::printf("pid=%d\n", getpid());
    std::fflush(stdout);
    pause();
    return 0;
  }
  return 64;
}
