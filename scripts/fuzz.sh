#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (default 5s).
# A target that finds a crashing input fails the run; the fuzzer's own
# "context deadline exceeded" on a loaded host, with no failing input, is
# retried once.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-5s}
fails=0
count=0
while IFS= read -r line; do
  file=${line%%:*}
  name=$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
  pkg=./$(dirname "$file")
  count=$((count+1))
  echo "== $pkg $name ($FUZZTIME)"
  for try in 1 2; do
    if out=$(go test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" "$pkg" 2>&1); then
      break
    fi
    if [ "$try" = 1 ] && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input' <<<"$out"; then
      echo "   (fuzzer timed out starting on a loaded host; retrying)"
      continue
    fi
    echo "$out"
    fails=$((fails+1))
    break
  done
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sort)
echo "fuzz: $count targets, $fails failed"
[ "$fails" = 0 ]
