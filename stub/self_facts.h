#ifndef TETHER_STUB_SELF_FACTS_H_
#define TETHER_STUB_SELF_FACTS_H_

#include "ipc/messages.h"

namespace tether::stub {

// Reads what this process can see about itself without changing anything:
// ids, groups, the five capability sets, no_new_privs, seccomp mode,
// Landlock ABI and audit arch.
ipc::Hello CollectSelfFacts();

}  // namespace tether::stub

#endif  // TETHER_STUB_SELF_FACTS_H_
