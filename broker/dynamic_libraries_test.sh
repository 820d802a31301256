#!/bin/sh
# Every shared library costs each broker start its mappings, relocations and
# page faults: the broker loads glibc's libc.so.6 (and its ld.so) and nothing
# else. A new call to a function that only libm.so.6 (or any other shared
# library) exports brings one back; this says which. Sanitizer builds load
# their runtimes' libraries and are not checked.
set -eu
broker="$1"
expect="$2"   # "libc-only" or "sanitized"
needed="$(readelf -dW "$broker" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | sort | tr '\n' ' ')"
echo "tether needs: $needed"
if [ "$expect" = sanitized ]; then
  echo "sanitizer build: not checked"
  exit 0
fi
case "$needed" in
  "libc.so.6 " | "ld-linux-x86-64.so.2 libc.so.6 ") ;;
  *)
    echo "expected libc.so.6 alone (and ld-linux-x86-64.so.2)" >&2
    exit 1
    ;;
esac
