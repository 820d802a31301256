// A stub that says Hello, announces its pid on stderr and then never answers
// the plan, so that a test can SIGKILL it in the middle of the handshake.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "stub/self_facts.h"
#include "stub/session.h"

int main(int argc, char** argv) {
  if (argc != 3 || std::strcmp(argv[1], "--fd") != 0) return 64;
  if (!tether::stub::PrepareDescriptors(std::atoi(argv[2]))) return 125;
  if (!tether::stub::SendHello(3, tether::stub::CollectSelfFacts())) return 125;
  std::fprintf(stderr, "stalling-stub pid=%d\n", getpid());
  std::fflush(stderr);
  while (true) pause();
}
