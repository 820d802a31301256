// The five libm functions the broker calls, defined here so that the
// broker loads glibc's libc.so.6 alone and not libm.so.6 beside it.
//
// Every other math function the broker's code and its static archives call
// (frexp, ldexp, modf and their float and long double forms) is exported by
// libc.so.6 too. Loading one more shared library costs each broker start
// its open, four mappings, its relocations and the page faults on them:
// about 0.3 ms of a 3.5 ms start on a VM whose page table updates are
// dear. The broker links with --as-needed (build_defs/static_binary.bzl),
// so libm.so.6 is left out only while nothing needs it, and
// broker:dynamic_libraries_test fails when a new call brings it back.
// Sanitizer builds leave this file out (broker/BUILD.bazel): their runtimes
// load libm.so.6 anyway.
//
// The callers: abseil's sampling of hash tables and cords (log2, for a
// random skip count), absl::Seconds(double) and friends (round), the
// policy's CPU quota (llround) and abseil's number parsing of "nan(...)"
// (nan, nanf). broker:no_libm_test compares each with libm's own.

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include <climits>
#include <string>

namespace {

// 2^52: from here on every double is an integer.
constexpr double kFirstIntegralMagnitude = 4503599627370496.0;

// As glibc's: a tag that is an n-char-sequence (letters, digits, '_') is
// what strtod reads inside "NAN(...)", a payload for the NaN's mantissa;
// any other tag gives the default NaN.
std::string NanText(const char* tag) {
  for (const char* c = tag; *c != '\0'; ++c) {
    bool n_char = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
                  (*c >= 'A' && *c <= 'Z') || *c == '_';
    if (!n_char) return "NAN";
  }
  return "NAN(" + std::string(tag) + ")";
}

}  // namespace

// Half-way cases away from zero, as C specifies; the sign of zero kept.
extern "C" double round(double x) noexcept {
  double magnitude = __builtin_fabs(x);
  // Integers, infinities and NaNs are their own rounding.
  if (!(magnitude < kFirstIntegralMagnitude)) return x;
  double whole = static_cast<double>(static_cast<int64_t>(magnitude));
  if (magnitude - whole >= 0.5) whole += 1.0;
  return __builtin_copysign(whole, x);
}

// Out of range (and NaN) gives LLONG_MIN, as glibc's does on x86-64; C
// leaves the value unspecified.
extern "C" long long llround(double x) noexcept {
  double rounded = round(x);
  if (!(rounded >= -9223372036854775808.0 && rounded < 9223372036854775808.0)) return LLONG_MIN;
  return static_cast<long long>(rounded);
}

extern "C" double nan(const char* tag) noexcept { return strtod(NanText(tag).c_str(), nullptr); }

extern "C" float nanf(const char* tag) noexcept { return strtof(NanText(tag).c_str(), nullptr); }

// x = m * 2^e with m in [sqrt(1/2), sqrt(2)), and log2(m) from the series
// ln(m) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1) / (m + 1),
// whose terms past s^23/23 at |s| < 0.172 are below a long double's last
// bit. In long double throughout, so that the one rounding to double
// leaves it within a unit in the last place of glibc's (no_libm_test);
// exact for powers of two. The one caller draws a random sample size.
extern "C" double log2(double x) noexcept {
  if (x != x || x == __builtin_inf()) return x;
  if (x < 0) return __builtin_nan("");  // outside the domain
  if (x == 0) return -__builtin_inf();  // the pole
  int exponent = 0;
  long double mantissa = frexp(x, &exponent);  // [0.5, 1), from libc.so.6
  if (mantissa < 0.70710678118654752440L) {
    mantissa *= 2;
    exponent -= 1;
  }
  long double s = (mantissa - 1) / (mantissa + 1);
  long double s2 = s * s;
  long double sum = 0;
  for (int k = 25; k >= 3; k -= 2) sum = (sum + 1.0L / k) * s2;
  constexpr long double kLog2OfE = 1.442695040888963407359924681001892137L;
  return static_cast<double>(exponent + 2 * s * (1 + sum) * kLog2OfE);
}
