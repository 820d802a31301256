// The functions no_libm.cc defines in place of libm.so.6's answer as
// libm's own do: the same bits for round, llround, nan and nanf, and log2
// within one unit in the last place (exact for powers of two). libm's
// come from libm.so.6 itself, through dlsym; this binary's own calls bind
// to no_libm.cc's.

#include <dlfcn.h>
#include <math.h>

#include <bit>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

template <typename Function>
Function* FromLibm(const char* name) {
  static void* libm = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
  if (libm == nullptr) return nullptr;
  return reinterpret_cast<Function*>(dlsym(libm, name));
}

// Called through a pointer the compiler cannot see through, so that it
// cannot answer in place.
template <typename Function>
Function* Ours(Function* function) {
  Function* volatile opaque = function;
  return opaque;
}

uint64_t Bits(double value) { return std::bit_cast<uint64_t>(value); }
uint32_t Bits(float value) { return std::bit_cast<uint32_t>(value); }

// Ordered so that adjacent doubles are adjacent integers.
int64_t Ordered(double value) {
  int64_t bits = std::bit_cast<int64_t>(value);
  return bits < 0 ? INT64_MIN - bits : bits;
}

// Values with every sign and magnitude: halves, near-halves, the edges of
// the integral range, subnormals, infinities and NaN.
std::vector<double> EdgeValues() {
  std::vector<double> values = {0.0,
                                -0.0,
                                0.5,
                                -0.5,
                                1.5,
                                -1.5,
                                2.5,
                                -2.5,
                                0.49999999999999994,
                                -0.49999999999999994,
                                0.5000000000000001,
                                4503599627370495.5,
                                -4503599627370495.5,
                                4503599627370496.0,
                                9007199254740993.0,
                                9223372036854774784.0,
                                -9223372036854775808.0,
                                9223372036854775808.0,
                                1e300,
                                -1e300,
                                std::numeric_limits<double>::denorm_min(),
                                -std::numeric_limits<double>::denorm_min(),
                                std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::infinity(),
                                -std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::quiet_NaN()};
  std::mt19937_64 random(15);
  for (int i = 0; i < 100000; ++i) {
    double value = std::bit_cast<double>(random());
    if (value == value) values.push_back(value);
  }
  std::uniform_real_distribution<double> small(-1e6, 1e6);
  for (int i = 0; i < 100000; ++i) values.push_back(small(random));
  for (int i = -2000; i <= 2000; ++i) values.push_back(i / 4.0);
  return values;
}

TEST(NoLibmTest, RoundGivesLibmsBitsForEveryValue) {
  auto* libm_round = FromLibm<double(double)>("round");
  ASSERT_NE(libm_round, nullptr) << dlerror();
  auto* our_round = Ours<double(double)>(&::round);
  ASSERT_NE(our_round, libm_round);
  for (double value : EdgeValues()) {
    ASSERT_EQ(Bits(our_round(value)), Bits(libm_round(value))) << value;
  }
}

TEST(NoLibmTest, RoundGoesHalfWayCasesAwayFromZero) {
  auto* our_round = Ours<double(double)>(&::round);
  EXPECT_EQ(our_round(2.5), 3.0);
  EXPECT_EQ(our_round(-2.5), -3.0);
  EXPECT_EQ(our_round(0.49999999999999994), 0.0);
  EXPECT_TRUE(std::signbit(our_round(-0.25)));
}

TEST(NoLibmTest, LlroundGivesLibmsValueInRangeAndLlongMinOutOfIt) {
  auto* libm_llround = FromLibm<long long(double)>("llround");
  ASSERT_NE(libm_llround, nullptr) << dlerror();
  auto* our_llround = Ours<long long(double)>(&::llround);
  for (double value : EdgeValues()) {
    ASSERT_EQ(our_llround(value), libm_llround(value)) << value;
  }
  EXPECT_EQ(our_llround(1e19), LLONG_MIN);
  EXPECT_EQ(our_llround(std::numeric_limits<double>::quiet_NaN()), LLONG_MIN);
  EXPECT_EQ(our_llround(0.5 * 100000), 50000);
}

TEST(NoLibmTest, NanCarriesTheTagsPayloadAsLibmsDoes) {
  auto* libm_nan = FromLibm<double(const char*)>("nan");
  auto* libm_nanf = FromLibm<float(const char*)>("nanf");
  ASSERT_NE(libm_nan, nullptr) << dlerror();
  ASSERT_NE(libm_nanf, nullptr) << dlerror();
  auto* our_nan = Ours<double(const char*)>(&::nan);
  auto* our_nanf = Ours<float(const char*)>(&::nanf);
  for (const char* tag :
       {"", "0", "1", "7", "0x7f", "123456789", "0xfffffffffffff", "junk", "1)"}) {
    double ours = our_nan(tag);
    EXPECT_TRUE(std::isnan(ours)) << tag;
    EXPECT_EQ(Bits(ours), Bits(libm_nan(tag))) << tag;
    EXPECT_EQ(Bits(our_nanf(tag)), Bits(libm_nanf(tag))) << tag;
  }
  EXPECT_NE(Bits(our_nan("1")), Bits(our_nan("2")));
}

TEST(NoLibmTest, Log2IsExactForPowersOfTwo) {
  auto* our_log2 = Ours<double(double)>(&::log2);
  for (int exponent = -1074; exponent <= 1023; ++exponent) {
    ASSERT_EQ(our_log2(std::ldexp(1.0, exponent)), exponent);
  }
}

TEST(NoLibmTest, Log2OfSpecialValuesIsLibms) {
  auto* our_log2 = Ours<double(double)>(&::log2);
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  EXPECT_EQ(our_log2(0.0), -kInfinity);
  EXPECT_EQ(our_log2(-0.0), -kInfinity);
  EXPECT_EQ(our_log2(kInfinity), kInfinity);
  EXPECT_TRUE(std::isnan(our_log2(-1.0)));
  EXPECT_TRUE(std::isnan(our_log2(-kInfinity)));
  EXPECT_TRUE(std::isnan(our_log2(std::numeric_limits<double>::quiet_NaN())));
}

TEST(NoLibmTest, Log2IsWithinAUnitInTheLastPlaceOfLibms) {
  auto* libm_log2 = FromLibm<double(double)>("log2");
  ASSERT_NE(libm_log2, nullptr) << dlerror();
  auto* our_log2 = Ours<double(double)>(&::log2);
  std::mt19937_64 random(2);
  std::vector<double> values;
  for (int i = 0; i < 300000; ++i) {
    // Every positive finite double, uniformly by its bits.
    double value = std::bit_cast<double>(random() % 0x7ff0000000000000);
    if (value > 0) values.push_back(value);
  }
  // Near 1, where the result is smallest.
  std::uniform_real_distribution<double> near_one(0.99, 1.01);
  for (int i = 0; i < 100000; ++i) values.push_back(near_one(random));
  // Near the ends of the reduced range, at sqrt(1/2) and sqrt(2).
  for (double edge : {0.70710678118654752440, 1.41421356237309504880}) {
    double value = edge;
    for (int i = 0; i < 1000; ++i) value = std::nextafter(value, 0.0);
    for (int i = 0; i < 2000; ++i) {
      values.push_back(value);
      value = std::nextafter(value, 2.0);
    }
  }
  int64_t worst = 0;
  for (double value : values) {
    int64_t distance = Ordered(our_log2(value)) - Ordered(libm_log2(value));
    if (distance < 0) distance = -distance;
    if (distance > worst) worst = distance;
    ASSERT_LE(distance, 1) << value << " gives " << our_log2(value) << ", libm "
                           << libm_log2(value);
  }
  std::printf("log2: at most %lld ulp from libm's over %zu values\n", static_cast<long long>(worst),
              values.size());
}

}  // namespace
