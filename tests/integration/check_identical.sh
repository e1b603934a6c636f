#!/bin/sh
# The canonical records (no rank, batch or times) of several runs must be byte-identical.
set -u
first=$1
n=0
for f in "$@"; do
  if [ ! -s "$f" ]; then echo "FAIL: $f is missing or empty"; exit 1; fi
  if ! cmp "$first" "$f"; then echo "FAIL: $f differs from $first"; exit 1; fi
  n=$((n + 1))
done
echo "check_identical: $n passed, 0 failed ($(wc -l < "$first") records each)"
