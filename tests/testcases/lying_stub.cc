// A stub that lies in its Hello. The broker must notice.
//   lying_stub --fd N
//       forked by `tether run`: claims to be already at uid/gid 65534 with no
//       capabilities while it really is root.
//   lying_stub --connect PATH -- CMD [ARGS...]
//       a sidecar stub that claims another pid than its own, so as to be
//       served as "not visible" and escape the broker's /proc checks.

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "stub/self_facts.h"
#include "stub/session.h"

namespace {

int Converse(const tether::ipc::Hello& hello) {
  if (!tether::stub::SendHello(3, hello)) return 125;
  std::optional<tether::stub::ReceivedPlan> plan = tether::stub::ReceivePlan(3);
  if (!plan.has_value() || !tether::stub::RunPlan(3, *plan)) return 125;
  if (!tether::stub::SendReady(3)) return 125;
  return tether::stub::AwaitGoAndExec(3, *plan);
}

int LieAboutThePid(const char* socket_path, char** command) {
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path, sizeof(address.sun_path) - 1);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return 125;
  }
  if (!tether::stub::PrepareDescriptors(fd)) return 125;
  tether::ipc::Hello hello = tether::stub::CollectSelfFacts();
  hello.pid += 1000;
  for (char** arg = command; *arg != nullptr; ++arg) hello.requested_argv.emplace_back(*arg);
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) != nullptr) hello.cwd = cwd;
  return Converse(hello);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 5 && std::strcmp(argv[1], "--connect") == 0 && std::strcmp(argv[3], "--") == 0) {
    return LieAboutThePid(argv[2], argv + 4);
  }
  if (argc != 3 || std::strcmp(argv[1], "--fd") != 0) return 64;
  int fd = std::atoi(argv[2]);
  if (!tether::stub::PrepareDescriptors(fd)) return 125;
  tether::ipc::Hello hello = tether::stub::CollectSelfFacts();
  hello.uids = {65534, 65534, 65534};
  hello.gids = {65534, 65534, 65534};
  hello.groups.clear();
  hello.caps = {};
  return Converse(hello);
}
