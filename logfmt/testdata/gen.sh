#!/usr/bin/env bash
# Regenerates golden/ from bunyan 2.0.5 (the oracle): for each input under
# cases/ and corpus/ and each option set below, golden/<input>.<set> holds
# bunyan's stdout. golden_test.go renders the same inputs with the same
# options through logfmt and compares bytes. Run after adding a case.
set -euo pipefail
cd "$(dirname "$0")"
BUNYAN=${BUNYAN:-../../.ci/node/node_modules/.bin/bunyan}
"$BUNYAN" --version | grep -q '^bunyan 2.0.5$' || { echo "gen.sh: need bunyan 2.0.5 at $BUNYAN" >&2; exit 1; }
export TZ=America/New_York BUNYAN_NO_COLOR= BUNYAN_NO_PAGER=1
rm -rf golden && mkdir golden
# set name -> bunyan arguments (keep in step with goldenSets in golden_test.go)
sets=(
  "long|"
  "short|-o short"
  "simple|-o simple"
  "json|-j"
  "json4|-o json-4"
  "json0|-o json-0"
  "bunyan|-0"
  "color|--color"
  "local|-L"
  "shortlocal|-o short --time local"
  "strict|--strict"
  "warn|-l warn"
  "level35|-l 35"
  "inspect|-o inspect"
)
for in in cases/*.log corpus/*.log corpus/*.log.gz; do
  for s in "${sets[@]}"; do
    name=${s%%|*}; args=${s#*|}
    # shellcheck disable=SC2086
    "$BUNYAN" $args "$in" > "golden/$(basename "$in").$name" || true
  done
done
# merging several files in time order
"$BUNYAN" corpus/log1.log corpus/log2.log > golden/merge-log1-log2.long
"$BUNYAN" corpus/log2.log corpus/log1.log > golden/merge-log2-log1.long
# with lines that are not records, which bunyan writes as it reads them
"$BUNYAN" corpus/all.log corpus/bogus.log corpus/simple.log > golden/merge-all-bogus-simple.long
"$BUNYAN" corpus/withreq.log corpus/all.log corpus/log1.log > golden/merge-withreq-all-log1.long
"$BUNYAN" -o short corpus/log1.log corpus/all.log > golden/merge-log1-all.short
du -sh golden
