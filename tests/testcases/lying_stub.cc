// A stub that lies in its Hello. The broker must notice.
//   lying_stub --fd N
//       forked by `tether run`: claims to be already at uid/gid 65534 with no
//       capabilities while it really is root.
//   old_landlock_stub --fd N (this file built with CLAIM_LANDLOCK_ABI_1)
//       forked by `tether run`: truthful but for its Landlock ABI, which it
//       says is 1. It prints whether the ruleset it was sent handles the
//       right to move files between directories (LANDLOCK_ACCESS_FS_REFER,
//       ABI 2): a ruleset made for ABI 1 does not. Then it goes on as the
//       stub does.
//   lying_stub --connect PATH -- CMD [ARGS...]
//       a sidecar stub that claims another pid than its own, so as to be
//       served as "not visible" and escape the broker's /proc checks.

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "stub/self_facts.h"
#include "stub/session.h"

// Under --config=asan this stub is sanitized too, but LeakSanitizer needs
// ptrace, which the workload filter it loads denies (old_landlock_stub
// goes on to stay pid 1 and exits under it).
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }

namespace {

// Whether the plan's Landlock ruleset handles LANDLOCK_ACCESS_FS_REFER: a
// rule granting a right its ruleset does not handle is EINVAL.
const char* RulesetHandlesRefer(const tether::stub::ReceivedPlan& plan) {
  for (const tether::ipc::Step& step : plan.plan.steps) {
    if (step.action != tether::ipc::Action::kLandlockRestrictSelf) continue;
    int directory = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct landlock_path_beneath_attr rule = {LANDLOCK_ACCESS_FS_REFER, directory};
    long added = syscall(SYS_landlock_add_rule, plan.fds[step.fd_index].get(),
                         LANDLOCK_RULE_PATH_BENEATH, &rule, 0U);
    int error = errno;
    close(directory);
    return added == 0 ? "yes" : error == EINVAL ? "no" : "unknown";
  }
  return "no ruleset";
}

int Converse(const tether::ipc::Hello& hello, bool say_refer = false) {
  if (!tether::stub::SendHello(3, hello)) return 125;
  std::optional<tether::stub::ReceivedPlan> plan = tether::stub::ReceivePlan(3);
  if (plan.has_value() && say_refer) {
    std::fprintf(stderr, "lying_stub: ruleset handles refer: %s\n", RulesetHandlesRefer(*plan));
  }
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
#ifdef CLAIM_LANDLOCK_ABI_1
  constexpr bool old_landlock = true;
#else
  constexpr bool old_landlock = false;
#endif
  if (argc != 3 || std::strcmp(argv[1], "--fd") != 0) return 64;
  int fd = std::atoi(argv[2]);
  if (!tether::stub::PrepareDescriptors(fd)) return 125;
  tether::ipc::Hello hello = tether::stub::CollectSelfFacts();
  if (old_landlock) {
    hello.landlock_abi = 1;
    return Converse(hello, /*say_refer=*/true);
  }
  hello.uids = {65534, 65534, 65534};
  hello.gids = {65534, 65534, 65534};
  hello.groups.clear();
  hello.caps = {};
  return Converse(hello);
}
