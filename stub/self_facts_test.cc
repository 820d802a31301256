// What the stub tells the broker about its capabilities is what the kernel
// says in /proc/self/status, ambient capabilities included: the stub asks
// about ambient ones only where the kernel allows them (permitted and
// inheritable), and none that it leaves out is ambient.

#include "stub/self_facts.h"

#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <string>

#include "gtest/gtest.h"
#include "stub/in_child_for_test.h"

namespace tether::stub {
namespace {

uint64_t StatusMask(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":\t", 0) == 0)
      return std::stoull(line.substr(field.size() + 2), nullptr, 16);
  }
  ADD_FAILURE() << field << " missing from /proc/self/status";
  return 0;
}

void ExpectMatchesProc(const ipc::CapabilitySets& caps) {
  EXPECT_EQ(caps.effective, StatusMask("CapEff"));
  EXPECT_EQ(caps.permitted, StatusMask("CapPrm"));
  EXPECT_EQ(caps.inheritable, StatusMask("CapInh"));
  EXPECT_EQ(caps.bounding, StatusMask("CapBnd"));
  EXPECT_EQ(caps.ambient, StatusMask("CapAmb"));
}

// Makes `caps` inheritable, keeping the other sets.
bool SetInheritable(std::initializer_list<int> caps) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  data[0].inheritable = data[1].inheritable = 0;
  for (int cap : caps) data[cap / 32].inheritable |= 1u << (cap % 32);
  return syscall(SYS_capset, &header, data) == 0;
}

TEST(SelfFactsTest, CapabilitiesAreTheKernelsWithNoneAmbient) {
  ipc::Hello hello = CollectSelfFacts();
  ExpectMatchesProc(hello.caps);
  EXPECT_EQ(hello.caps.ambient, 0u);
}

TEST(SelfFactsTest, AmbientCapabilitiesAreReportedEachOne) {
  InChild([] {
    // CAP_CHOWN inheritable but not raised: not ambient. The other two are.
    ASSERT_TRUE(SetInheritable({CAP_CHOWN, CAP_NET_RAW, CAP_SYS_TIME}));
    ASSERT_EQ(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0), 0);
    ASSERT_EQ(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_TIME, 0, 0), 0);
    ipc::Hello hello = CollectSelfFacts();
    ExpectMatchesProc(hello.caps);
    EXPECT_EQ(hello.caps.ambient, (uint64_t{1} << CAP_NET_RAW) | (uint64_t{1} << CAP_SYS_TIME));
  });
}

TEST(SelfFactsTest, AmbientCapabilityDroppedFromInheritableIsNoLongerReported) {
  InChild([] {
    ASSERT_TRUE(SetInheritable({CAP_NET_RAW}));
    ASSERT_EQ(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0), 0);
    ASSERT_EQ(CollectSelfFacts().caps.ambient, uint64_t{1} << CAP_NET_RAW);
    // The kernel clears it from the ambient set with the inheritable one.
    ASSERT_TRUE(SetInheritable({}));
    ipc::Hello hello = CollectSelfFacts();
    ExpectMatchesProc(hello.caps);
    EXPECT_EQ(hello.caps.ambient, 0u);
  });
}

}  // namespace
}  // namespace tether::stub
