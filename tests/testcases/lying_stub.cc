// A stub that lies in its Hello: it claims to be already at uid/gid 65534
// with no capabilities while it really is root. The broker must notice.

#include <cstdlib>
#include <cstring>

#include "stub/self_facts.h"
#include "stub/session.h"

int main(int argc, char** argv) {
  if (argc != 3 || std::strcmp(argv[1], "--fd") != 0) return 64;
  int fd = std::atoi(argv[2]);
  if (!tether::stub::PrepareDescriptors(fd)) return 125;
  tether::ipc::Hello hello = tether::stub::CollectSelfFacts();
  hello.uids = {65534, 65534, 65534};
  hello.gids = {65534, 65534, 65534};
  hello.groups.clear();
  hello.caps = {};
  if (!tether::stub::SendHello(3, hello)) return 125;
  std::optional<tether::stub::ReceivedPlan> plan = tether::stub::ReceivePlan(3);
  if (!plan.has_value() || !tether::stub::RunPlan(3, *plan)) return 125;
  if (!tether::stub::SendReady(3)) return 125;
  return tether::stub::AwaitGoAndExec(3, plan->plan.exec);
}
