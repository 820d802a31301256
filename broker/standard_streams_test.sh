#!/bin/sh
# The broker leaves the C++ standard streams unconstructed
# (broker/no_iostream_init.cc), so a write to one would crash it. This
# lists every function in the broker that refers to a standard stream
# object and fails on any but abseil's cord validation, which dumps a
# corrupt cord to std::cout on its way to abort(). Sanitizer builds
# construct the streams as usual and are not checked.
set -eu
broker="$1"
expect="$2"   # "unconstructed" or "sanitized"
if [ "$expect" = sanitized ]; then
  echo "sanitizer build: not checked"
  exit 0
fi
if ! nm "$broker" | grep -q ' T main$'; then
  echo "$broker has no symbol table: cannot say which functions refer to the streams" >&2
  exit 1
fi
# std::cout, cerr, clog, cin and the wide ones, as objdump names the
# target of each RIP-relative reference.
streams='<_ZSt(4cout|4cerr|4clog|3cin|5wcout|5wcerr|5wclog|4wcin)([>@+])'
referrers="$(objdump -d --no-show-raw-insn "$broker" |
  awk -v streams="$streams" '/^[0-9a-f]+ </ { fn = $2 } $0 ~ streams { print fn }' | sort -u)"
echo "functions referring to a standard stream:"
echo "${referrers:-(none)}"
unexpected="$(echo "$referrers" | grep -v '^$' |
  grep -Ev '^<_ZN4absl[0-9a-z]*13cord_internal12CordRepBtree' || true)"
if [ -n "$unexpected" ]; then
  echo "these write to a standard stream, which the broker never constructs" \
    "(broker/no_iostream_init.cc): use stdio instead" >&2
  echo "$unexpected" >&2
  exit 1
fi
# Nor does the broker's own code make a file or string stream, or a
# locale: a filebuf or a stream builds the C++ classic locale with all its
# facets, which nothing else in a launch needs (a tenth of a millisecond
# and a dozen page faults a run on this project's VMs).
stream_types='(basic_(i|o)?fstream|basic_filebuf|basic_(i|o)?stringstream|basic_stringbuf)'
locale_users="$(objdump -d --no-show-raw-insn "$broker" |
  awk -v types="<_ZNSt(7__cxx11)?[0-9]+$stream_types[^>]*C[12]E|<_ZNSt6localeC[12]Ev" \
    '/^[0-9a-f]+ </ { fn = $2 } fn ~ /^<_ZN[K]?6tether/ && /call/ && $0 ~ types { print fn }' |
  sort -u)"
echo "tether functions making a C++ stream or locale:"
echo "${locale_users:-(none)}"
if [ -n "$locale_users" ]; then
  echo "these build the C++ classic locale on a launch's path: read with base/files.h" \
    "and format with abseil instead" >&2
  exit 1
fi
# The real constructor is not linked: the static Init objects call the
# stand-in, so none of the streams is ever built.
if nm "$broker" | grep -q ' T _ZNSt8ios_base4InitC1Ev$'; then
  echo "libstdc++'s std::ios_base::Init::Init is linked in: the --wrap did not take" >&2
  exit 1
fi
