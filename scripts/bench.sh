#!/usr/bin/env bash
# Runs every benchmark script under bench/ in turn. Each prints its figures as
# ratios against a peer measured in the same run.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for b in bench/*.sh; do
  [ -e "$b" ] || continue
  echo "==== $b"
  bash "$b" || { echo "bench $b failed"; status=1; }
done
exit $status
