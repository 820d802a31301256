#!/bin/sh
# tether_sandboxed_run.sh TETHER STUB BINARY POLICY|- [ARGS...]
# Runs BINARY under `tether run`; the exit status is the sandboxed binary's.
set -eu
tether="$1"; stub="$2"; binary="$3"; policy="$4"; shift 4
dir="$(mktemp -d /tmp/tether-bazel-XXXXXX)"
trap 'rm -rf "$dir"' EXIT
chmod 0755 "$dir"
cp "$tether" "$dir/tether"
cp "$stub" "$dir/tether-stub"
# The egress proxy's program, beside the broker among the runfiles.
cp "$(dirname "$tether")/tether-egress" "$dir/tether-egress"
cp "$binary" "$dir/$(basename "$binary")"
chmod 0755 "$dir"/*
set -- "--" "./$(basename "$binary")" "$@"
if [ "$policy" != "-" ]; then
  cp "$policy" "$dir/policy.json"
  set -- "--policy" "$dir/policy.json" "$@"
fi
cd "$dir"
status=0
./tether run --network host "$@" || status=$?
exit "$status"
