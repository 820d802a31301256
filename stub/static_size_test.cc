// The definitions that keep parts of glibc out of the static stub
// (static_size.cc) keep their promises: an assertion still says what failed
// and aborts, KJ still prints every double and float it is given as the
// same value, and parsing one fails instead of answering wrongly.

#include <kj/exception.h>
#include <kj/string.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include "gtest/gtest.h"

// static_size.cc's; <assert.h> declares it only without NDEBUG.
extern "C" void __assert_fail(const char* assertion, const char* file, unsigned int line,
                              const char* function) noexcept __attribute__((noreturn));

namespace {

TEST(StaticSizeTest, FailedAssertionSaysWhatFailedAndAborts) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    __assert_fail("count == 1", "stub/session.cc", 1234567, "RunPlan");
  }
  close(pipe_fds[1]);
  std::string said;
  char buffer[256];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0) said.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) << status;
  EXPECT_EQ(said, "tether-stub: stub/session.cc:1234567: RunPlan: assertion `count == 1' failed\n");
}

TEST(StaticSizeTest, AssertionOnLineZeroPrintsZero) {
  EXPECT_EXIT(__assert_fail("x", "f.cc", 0, "g"), ::testing::KilledBySignal(SIGABRT),
              "f.cc:0: g: assertion `x' failed");
}

TEST(StaticSizeTest, AssertionWithoutAFunctionNameLeavesItOut) {
  EXPECT_EXIT(__assert_fail("x", "f.cc", 7, nullptr), ::testing::KilledBySignal(SIGABRT),
              "f.cc:7: : assertion `x' failed");
}

double ParsedBack(const kj::String& text) {
  double value = std::numeric_limits<double>::quiet_NaN();
  auto [end, error] = std::from_chars(text.begin(), text.end(), value);
  EXPECT_EQ(error, std::errc()) << text.cStr();
  EXPECT_EQ(end, text.end()) << text.cStr();
  return value;
}

TEST(StaticSizeTest, KjPrintsEveryDoubleAsTheSameValue) {
  for (double value : {0.0, -0.0, 1.5, 0.1, 1.0 / 3.0, -2.5e-300, 6.02214076e23,
                       std::numeric_limits<double>::max(), std::numeric_limits<double>::min(),
                       std::numeric_limits<double>::denorm_min()}) {
    kj::String text = kj::str(value);
    EXPECT_EQ(ParsedBack(text), value) << text.cStr();
    EXPECT_EQ(std::signbit(ParsedBack(text)), std::signbit(value)) << text.cStr();
  }
}

TEST(StaticSizeTest, KjPrintsEveryFloatAsTheSameValue) {
  for (float value : {0.0f, 0.1f, 1.0f / 3.0f, 3.4e38f, 1.17549435e-38f}) {
    kj::String text = kj::str(value);
    EXPECT_EQ(static_cast<float>(ParsedBack(text)), value) << text.cStr();
  }
}

TEST(StaticSizeTest, ParsingAFloatingPointNumberFailsRatherThanAnswersWrongly) {
  char text[] = "2.5";
  char* end = nullptr;
  EXPECT_EQ(strtod(text, &end), 0.0);
  EXPECT_EQ(end, text);  // nothing was read
  end = nullptr;
  EXPECT_EQ(strtof(text, &end), 0.0f);
  EXPECT_EQ(end, text);
  EXPECT_THROW(kj::StringPtr("2.5").parseAs<double>(), kj::Exception);
  EXPECT_THROW(kj::StringPtr("2.5").parseAs<float>(), kj::Exception);
}

}  // namespace
