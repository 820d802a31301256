#!/bin/sh
# The stub ships alone in stub-only images: it must have no dynamic
# dependencies (sanitizer builds excepted, which cannot link statically).
set -eu
stub="$1"
expect="$2"   # "static" or "dynamic"
if ldd "$stub" 2>&1 | grep -q "not a dynamic executable"; then actual=static; else actual=dynamic; fi
echo "tether-stub is $actual (expected $expect)"
[ "$actual" = "$expect" ]
