// A workload for the isolation tests: one tenant that holds things (files,
// SysV IPC objects, a unix socket) and another that attacks them, plus what a
// process sees of its neighbours. Prints one `key=value` line per fact and
// flushes stdout after each, so that a test can read it while it runs.
//
//   hold NAME KEY     creates /tmp/NAME and /dev/shm/NAME (0600, "secret-NAME"),
//                     a SysV shm segment (holding "secret-NAME") and a message
//                     queue with KEY, a listening unix socket /tmp/NAME.sock
//                     (0777); prints pid= shm_id= msg_id= socket= then ready=1,
//                     and waits for SIGTERM/SIGINT/SIGHUP, removes it all and
//                     prints released=1.
//   attack KIND=ARG...  each attempt prints `KIND:ARG=ok` or `KIND:ARG=ERRNO`
//                     (strerrorname_np), e.g. `read:/tmp/x=ENOENT`:
//                       read=PATH    open O_RDONLY and read (data:PATH=...)
//                       append=PATH  open O_WRONLY|O_APPEND (no O_CREAT), write
//                       stat=PATH    stat (owner:PATH=UID MODE in octal)
//                       connect=PATH connect a SOCK_STREAM unix socket
//                       shmget=KEY   shmget(KEY, 0, 0) (shm_id:KEY=ID)
//                       shmat=ID     shmat(ID, SHM_RDONLY) (shm_data:ID=...)
//                       msgget=KEY   msgget(KEY, 0)
//                       kill=PID     kill(PID, 0)
//                       count=PATH   read, lines:PATH=NUMBER OF LINES
//                     The first line is uid=UID.
//   ps                every pid in /proc: `proc=PID COMM` and `cmdline=PID ARGS`;
//                     then self=, ppid=, init_cmdline= (/proc/1/cmdline,
//                     arguments joined by spaces, or its errno).
//   hostname          hostname=NODENAME (uname)

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

// Under --config=asan this workload is sanitized too, but LeakSanitizer
// needs ptrace, which the sandbox denies; the probe is not what is tested.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }

namespace {

void Print(const std::string& key, const std::string& value) {
  std::printf("%s=%s\n", key.c_str(), value.c_str());
  std::fflush(stdout);
}

std::string Errno(int error) {
  const char* name = strerrorname_np(error);
  return name != nullptr ? name : "errno" + std::to_string(error);
}

std::string Result(bool ok) { return ok ? "ok" : Errno(errno); }

// Reads a whole small file, or returns false with errno set.
bool ReadSmall(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) out->append(buffer, n);
  int saved = errno;
  close(fd);
  errno = saved;
  return n == 0;
}

bool WriteSecret(const std::string& path, const std::string& secret) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = fchmod(fd, 0600) == 0 &&
            write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size());
  int saved = errno;
  close(fd);
  errno = saved;
  return ok;
}

bool UnixAddress(const std::string& path, sockaddr_un* address) {
  if (path.size() >= sizeof(address->sun_path)) {
    errno = ENAMETOOLONG;
    return false;
  }
  std::memset(address, 0, sizeof(*address));
  address->sun_family = AF_UNIX;
  std::memcpy(address->sun_path, path.c_str(), path.size() + 1);
  return true;
}

int Hold(const std::string& name, key_t key) {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, signo);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  const std::string secret = "secret-" + name;
  const std::string tmp_file = "/tmp/" + name;
  const std::string shm_file = "/dev/shm/" + name;
  const std::string socket_path = "/tmp/" + name + ".sock";
  Print("pid", std::to_string(getpid()));
  bool ok = true;
  for (const std::string& path : {tmp_file, shm_file}) {
    bool written = WriteSecret(path, secret);
    Print("create:" + path, Result(written));
    ok &= written;
  }

  int shm_id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
  Print("shmget_create", Result(shm_id >= 0));
  if (shm_id >= 0) {
    void* memory = shmat(shm_id, nullptr, 0);
    Print("shmat_create", Result(memory != reinterpret_cast<void*>(-1)));
    if (memory != reinterpret_cast<void*>(-1)) {
      std::memcpy(memory, secret.c_str(), secret.size() + 1);
      shmdt(memory);
    } else {
      ok = false;
    }
    Print("shm_id", std::to_string(shm_id));
  } else {
    ok = false;
  }
  Print("shm_key", std::to_string(key));
  int msg_id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
  Print("msgget_create", Result(msg_id >= 0));
  if (msg_id >= 0) Print("msg_id", std::to_string(msg_id));
  ok &= msg_id >= 0;

  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address;
  bool bound = listener >= 0 && UnixAddress(socket_path, &address) &&
               bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
               chmod(socket_path.c_str(), 0777) == 0 && listen(listener, 64) == 0;
  Print("bind:" + socket_path, Result(bound));
  ok &= bound;
  if (bound) Print("socket", socket_path);

  Print("ready", ok ? "1" : "0");
  int signo = 0;
  if (ok) sigwait(&set, &signo);

  unlink(tmp_file.c_str());
  unlink(shm_file.c_str());
  unlink(socket_path.c_str());
  if (shm_id >= 0) shmctl(shm_id, IPC_RMID, nullptr);
  if (msg_id >= 0) msgctl(msg_id, IPC_RMID, nullptr);
  Print("released", std::to_string(signo));
  return ok ? 0 : 1;
}

void Attack(const std::string& spec) {
  size_t equals = spec.find('=');
  if (equals == std::string::npos) {
    Print("bad_attack", spec);
    return;
  }
  const std::string kind = spec.substr(0, equals);
  const std::string arg = spec.substr(equals + 1);
  const std::string key = kind + ":" + arg;
  if (kind == "read") {
    std::string data;
    bool ok = ReadSmall(arg, &data);
    Print(key, Result(ok));
    if (ok) Print("data:" + arg, data);
  } else if (kind == "append") {
    int fd = open(arg.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    bool ok = fd >= 0 && write(fd, "+tampered", 9) == 9;
    Print(key, Result(ok));
    if (fd >= 0) close(fd);
  } else if (kind == "stat") {
    struct stat st;
    bool ok = stat(arg.c_str(), &st) == 0;
    Print(key, Result(ok));
    if (ok) {
      char mode[16];
      std::snprintf(mode, sizeof(mode), "%o", st.st_mode & 07777);
      Print("owner:" + arg, std::to_string(st.st_uid) + " " + mode);
    }
  } else if (kind == "connect") {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address;
    bool ok = fd >= 0 && UnixAddress(arg, &address) &&
              connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    Print(key, Result(ok));
    if (fd >= 0) close(fd);
  } else if (kind == "shmget") {
    int id = shmget(static_cast<key_t>(std::strtol(arg.c_str(), nullptr, 10)), 0, 0);
    Print(key, Result(id >= 0));
    if (id >= 0) Print("shm_id:" + arg, std::to_string(id));
  } else if (kind == "shmat") {
    void* memory = shmat(std::atoi(arg.c_str()), nullptr, SHM_RDONLY);
    bool ok = memory != reinterpret_cast<void*>(-1);
    Print(key, Result(ok));
    if (ok) {
      Print("shm_data:" + arg, std::string(static_cast<const char*>(memory),
                                           strnlen(static_cast<const char*>(memory), 256)));
      shmdt(memory);
    }
  } else if (kind == "msgget") {
    int id = msgget(static_cast<key_t>(std::strtol(arg.c_str(), nullptr, 10)), 0);
    Print(key, Result(id >= 0));
  } else if (kind == "count") {
    std::string data;
    bool ok = ReadSmall(arg, &data);
    Print(key, Result(ok));
    if (ok) {
      size_t lines = 0;
      for (char c : data) lines += c == '\n';
      Print("lines:" + arg, std::to_string(lines));
    }
  } else if (kind == "kill") {
    pid_t pid = static_cast<pid_t>(std::atoi(arg.c_str()));
    if (pid <= 0) {
      Print("bad_attack", spec);  // 0 or -1 would signal a group
      return;
    }
    Print(key, Result(kill(pid, 0) == 0));
  } else {
    Print("bad_attack", spec);
  }
}

// /proc/PID/cmdline with the NULs as spaces, or the errno name in <>.
std::string Cmdline(const std::string& pid) {
  std::string raw;
  if (!ReadSmall("/proc/" + pid + "/cmdline", &raw)) return "<" + Errno(errno) + ">";
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  for (char& c : raw) {
    if (c == '\0') c = ' ';
  }
  return raw;
}

int Ps() {
  DIR* dir = opendir("/proc");
  if (dir == nullptr) {
    Print("proc_error", Errno(errno));
    return 1;
  }
  while (struct dirent* entry = readdir(dir)) {
    std::string pid = entry->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string comm;
    if (!ReadSmall("/proc/" + pid + "/comm", &comm)) continue;  // gone meanwhile
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    Print("proc", pid + " " + comm);
    Print("cmdline", pid + " " + Cmdline(pid));
  }
  closedir(dir);
  Print("self", std::to_string(getpid()));
  Print("ppid", std::to_string(getppid()));
  Print("init_cmdline", Cmdline("1"));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 64;
  std::string command = argv[1];
  if (command == "hold" && argc == 4) {
    return Hold(argv[2], static_cast<key_t>(std::strtol(argv[3], nullptr, 10)));
  }
  if (command == "attack") {
    Print("uid", std::to_string(getuid()));
    for (int i = 2; i < argc; ++i) Attack(argv[i]);
    Print("done", "1");
    return 0;
  }
  if (command == "ps") return Ps();
  if (command == "hostname") {
    struct utsname names;
    Print("hostname", uname(&names) == 0 ? names.nodename : "<" + Errno(errno) + ">");
    return 0;
  }
  return 64;
}
