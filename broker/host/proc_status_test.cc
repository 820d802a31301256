#include "broker/host/proc_status.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace tether::broker {
namespace {

constexpr char kStatus[] =
    "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nPid:\t7\n"
    "Uid:\t1000\t1001\t1002\t1003\nGid:\t10\t11\t12\t13\nGroups:\t4 27 \n"
    "CapInh:\t0000000000000001\nCapPrm:\t0000000000000002\n"
    "CapEff:\t0000000000000004\nCapBnd:\t000001ffffffffff\n"
    "CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";

TEST(ProcStatusTest, ParsesIdsGroupsCapsAndFlags) {
  absl::StatusOr<ProcStatus> status = ParseProcStatus(kStatus);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->uids, (ipc::IdTriple{1000, 1001, 1002}));
  EXPECT_EQ(status->fsuid, 1003u);
  EXPECT_EQ(status->gids, (ipc::IdTriple{10, 11, 12}));
  EXPECT_EQ(status->groups, (std::vector<uint32_t>{4, 27}));
  EXPECT_EQ(status->caps.inheritable, 1u);
  EXPECT_EQ(status->caps.permitted, 2u);
  EXPECT_EQ(status->caps.effective, 4u);
  EXPECT_EQ(status->caps.bounding, 0x1ffffffffffu);
  EXPECT_EQ(status->caps.ambient, 0u);
  EXPECT_TRUE(status->no_new_privs);
  EXPECT_EQ(status->seccomp_mode, 2);
}

TEST(ProcStatusTest, MissingFieldIsAnErrorNamingIt) {
  std::string text(kStatus);
  text.erase(text.find("CapBnd"), text.find("CapAmb") - text.find("CapBnd"));
  absl::StatusOr<ProcStatus> status = ParseProcStatus(text);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.status().message().find("CapBnd"), absl::string_view::npos);
}

// A procfs that printed a task's name unescaped would let a process named
// "x\nSeccomp:\t2" add a line; a field found twice is never trusted.
TEST(ProcStatusTest, FieldNamedTwiceIsAnErrorNamingIt) {
  std::string text(kStatus);
  text.replace(text.find("Name:\tcat\n"), 10, "Name:\tx\nSeccomp:\t0\n");
  absl::StatusOr<ProcStatus> status = ParseProcStatus(text);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.status().message().find("Seccomp"), absl::string_view::npos);
}

TEST(ProcStatusTest, GarbledIdsAreAnError) {
  std::string text(kStatus);
  text.replace(text.find("1000"), 4, "x000");
  EXPECT_FALSE(ParseProcStatus(text).ok());
}

TEST(ProcStatusTest, NSpidGivesThePidInTheInnermostNamespace) {
  absl::StatusOr<ProcStatus> status = ParseProcStatus(std::string(kStatus) + "NSpid:\t1234\t1\n");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->pid_in_namespace, 1);
}

TEST(ProcStatusTest, SingleNSpidIsThePidItself) {
  absl::StatusOr<ProcStatus> status = ParseProcStatus(std::string(kStatus) + "NSpid:\t77\n");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->pid_in_namespace, 77);
}

TEST(ProcStatusTest, NoNSpidLeavesPidInNamespaceZero) {
  absl::StatusOr<ProcStatus> status = ParseProcStatus(kStatus);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->pid_in_namespace, 0);
}

struct BadNSpid {
  const char* name;
  const char* line;
};

class BadNSpidTest : public ::testing::TestWithParam<BadNSpid> {};

TEST_P(BadNSpidTest, IsAnErrorNamingIt) {
  absl::StatusOr<ProcStatus> status = ParseProcStatus(std::string(kStatus) + GetParam().line);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.status().message().find("NSpid"), absl::string_view::npos) << status.status();
}

INSTANTIATE_TEST_SUITE_P(Lines, BadNSpidTest,
                         ::testing::Values(BadNSpid{"Empty", "NSpid:\t\n"},
                                           BadNSpid{"NotANumber", "NSpid:\tx\n"},
                                           BadNSpid{"Garbled", "NSpid:\t12x\n"},
                                           BadNSpid{"InnermostNotANumber", "NSpid:\t1234\tone\n"}),
                         [](const ::testing::TestParamInfo<BadNSpid>& info) {
                           return info.param.name;
                         });

TEST(ProcStatusTest, ReadsOwnStatusMatchingGetuid) {
  absl::StatusOr<ProcStatus> status = ReadProcStatus(getpid());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->uids.real, getuid());
  EXPECT_EQ(status->gids.effective, getegid());
  EXPECT_EQ(status->pid_in_namespace, getpid());
}

TEST(ProcStatusTest, ReadsOwnCoreLimit) {
  absl::StatusOr<CoreLimit> limit = ReadCoreLimit(getpid());
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_LE(limit->soft, limit->hard);
}

// Fields are counted from the name's last ')': a name may hold both.
TEST(ProcStatFieldTest, CountsFieldsPastANameWithSpacesAndParentheses) {
  constexpr absl::string_view kStat = "4242 (a) (b c) R 17 4242 4242 0 -1 4194560 99\n";
  EXPECT_EQ(ParseProcStatField(kStat, 4), 17u);    // the parent
  EXPECT_EQ(ParseProcStatField(kStat, 5), 4242u);  // the process group
  EXPECT_EQ(ParseProcStatField(kStat, 10), 99u);   // the last, before the newline
}

TEST(ProcStatFieldTest, WhatIsNotThereOrNotANumberIsZero) {
  constexpr absl::string_view kStat = "1 (init) S 0 1 1\n";
  EXPECT_EQ(ParseProcStatField(kStat, 3), 0u);  // the state, a letter
  EXPECT_EQ(ParseProcStatField(kStat, 2), 0u);  // the name
  EXPECT_EQ(ParseProcStatField(kStat, 1), 0u);  // the pid, before the name
  EXPECT_EQ(ParseProcStatField(kStat, 7), 0u);  // past the end
  EXPECT_EQ(ParseProcStatField("no name here", 4), 0u);
  EXPECT_EQ(ParseProcStatField("1 (x)", 4), 0u);
}

TEST(ProcStatFieldTest, ReadsOwnParentAndBreak) {
  EXPECT_EQ(ReadProcStatField("self", 4), static_cast<uint64_t>(getppid()));
  EXPECT_EQ(ReadProcStatField(absl::StrCat(getpid()), 4), static_cast<uint64_t>(getppid()));
  uint64_t start_brk = ReadProcStatField("self", 47);
  EXPECT_NE(start_brk, 0u);
  EXPECT_LE(start_brk, reinterpret_cast<uintptr_t>(sbrk(0)));
  EXPECT_EQ(ReadProcStatField("0", 4), 0u);  // no such process
}

}  // namespace
}  // namespace tether::broker
