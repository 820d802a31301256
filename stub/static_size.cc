// Definitions that keep parts of glibc and libstdc++ out of the static stub.
//
// A static link takes an archive member only for a symbol nothing else
// defines, so each definition here keeps a whole member, and what it pulls
// in, out of the binary (about 120 KB together, of a 1.03 MB stub). Each
// one is safe because of how the stub uses the code that calls it, which
// the comment beside it says. Sanitizer builds link dynamically and leave
// this file out (stub/BUILD.bazel): there the real ones serve.

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cstddef>

// glibc's own assertions (in its start code, stdio and mutexes) end here.
// Its version formats the message through gettext and wide-character stdio:
// about 33 KB of message catalogs, locale aliases and vfwprintf. This one
// writes the same facts with write(2), without stdio or malloc (either may
// be what failed), and aborts as glibc's does. Declared here because
// <assert.h> declares it only without NDEBUG.
extern "C" void __assert_fail(const char* assertion, const char* file, unsigned int line,
                              const char* function) noexcept __attribute__((noreturn));

namespace {

void WriteToStderr(const char* text, size_t length) {
  // Best effort: stderr may be gone, and abort() follows either way.
  while (length > 0) {
    ssize_t written = write(STDERR_FILENO, text, length);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;
    text += written;
    length -= static_cast<size_t>(written);
  }
}

void WriteToStderr(const char* text) {
  if (text != nullptr) WriteToStderr(text, strlen(text));
}

}  // namespace

extern "C" void __assert_fail(const char* assertion, const char* file, unsigned int line,
                              const char* function) noexcept {
  char digits[12];
  char* number = digits + sizeof(digits);
  do {
    *--number = static_cast<char>('0' + line % 10);
    line /= 10;
  } while (line != 0 && number > digits);
  WriteToStderr("tether-stub: ");
  WriteToStderr(file);
  WriteToStderr(":");
  WriteToStderr(number, static_cast<size_t>(digits + sizeof(digits) - number));
  WriteToStderr(": ");
  WriteToStderr(function);
  WriteToStderr(": assertion `");
  WriteToStderr(assertion);
  WriteToStderr("' failed\n");
  abort();
}

// The stub parses no floating-point number. The only callers are KJ's
// string.o (linked whole, for kj::heapString): parseAs<double>, which these
// make fail ("not a valid number") instead of answering wrongly, and the
// printing of a double or float, which checks its shortest form by parsing
// it back and, when that does not round-trip, prints all the digits, so it
// still prints the right value. glibc's strtod brings in its locale tables
// and case-insensitive compares: about 49 KB.
extern "C" double strtod(const char* text, char** end) noexcept {
  if (end != nullptr) *end = const_cast<char*>(text);
  return 0;
}

extern "C" float strtof(const char* text, char** end) noexcept {
  if (end != nullptr) *end = const_cast<char*>(text);
  return 0;
}

// KJ's exception code demangles type names for messages the stub never
// prints (it reports errnos and frame errors, and a broken message ends it
// before exec). This stands in for libstdc++'s demangler, 40 KB: it always
// answers "invalid name" (-2), and callers then show the name as it is.
namespace __cxxabiv1 {
extern "C" char* __cxa_demangle(const char* /*mangled*/, char* /*buffer*/, size_t* /*length*/,
                                int* status) {
  if (status != nullptr) *status = -2;
  return nullptr;
}
}  // namespace __cxxabiv1
