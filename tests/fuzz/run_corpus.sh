#!/bin/sh
# Replays a fuzz target's seed corpus: run_corpus.sh FUZZER CORPUS_DIR
set -eu
[ -d "$2" ] && [ -n "$(ls "$2")" ] || { echo "empty corpus: $2" >&2; exit 1; }
exec "$1" -runs=0 "$2"
