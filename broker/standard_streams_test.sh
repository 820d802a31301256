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
# The real constructor is not linked: the static Init objects call the
# stand-in, so none of the streams is ever built.
if nm "$broker" | grep -q ' T _ZNSt8ios_base4InitC1Ev$'; then
  echo "libstdc++'s std::ios_base::Init::Init is linked in: the --wrap did not take" >&2
  exit 1
fi
