#!/usr/bin/env bash
# Per-hit cost that `obs probe count` adds to a Go function, against
# bpftrace's `uprobe:BIN:main.work { @ = count(); }` on the same fixture in
# the same run. Both attach before the fixture starts (obs -c, bpftrace -c);
# the fixture times N calls of main.work itself. Added cost per hit =
# probed ns/call - unprobed ns/call. Medians of three rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
OBS=${OBS:-$PWD/bin/obs}
N=${PROBE_BENCH_CALLS:-200000}
ROUNDS=${PROBE_BENCH_ROUNDS:-3}
NS=$((N / 4))  # calls for the dearer single-stepped sites
if [ "$(id -u)" != 0 ]; then echo "bench/probe.sh: skipped (needs root for BPF)"; exit 0; fi
[ -x "$OBS" ] || { mkdir -p bin; CGO_ENABLED=0 go build -o "$OBS" ./cmd/obs; }
BPFTRACE=$(command -v bpftrace || true)
dir=$(mktemp -d /tmp/obs-bench-probe.XXXXXX)
trap 'rm -rf "$dir"' EXIT
CGO_ENABLED=0 go build -o "$dir/fix" ./probes/testdata/gofixture

ns() { sed -n 's/^ns_per_call \([0-9.]*\).*/\1/p' | tail -1; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

base=() obs=() bt=() ss=() lat=()
for r in $(seq "$ROUNDS"); do
  base+=("$("$dir/fix" bench "$N" | ns)")
  out=$("$OBS" probe count --max-rate 0 --json -c "$dir/fix bench $N" main.work 2>/dev/null)
  obs+=("$(printf '%s\n' "$out" | ns)")
  count=$(printf '%s\n' "$out" | sed -n 's/.*"count": \([0-9]*\).*/\1/p' | head -1)
  [ "$count" = "$N" ] || { echo "obs counted $count calls, want $N"; exit 1; }
  # A frameless function (main.mix) has no PUSHQ BP: its entry probe is
  # single-stepped. latency adds a RET-site probe (single-stepped).
  ss+=("$("$OBS" probe count --max-rate 0 -c "$dir/fix bench $NS" main.mix 2>/dev/null | ns)")
  lat+=("$("$OBS" probe latency --max-rate 0 -c "$dir/fix bench $NS" main.work 2>/dev/null | ns)")
  if [ -n "$BPFTRACE" ]; then
    bt+=("$("$BPFTRACE" -q -e "uprobe:$dir/fix:main.work { @ = count(); }" -c "$dir/fix bench $N" 2>/dev/null | ns)")
  fi
done
b=$(printf '%s\n' "${base[@]}" | median)
o=$(printf '%s\n' "${obs[@]}" | median)
printf 'probe count on a Go function, %d calls, median of %d rounds\n' "$N" "$ROUNDS"
printf '  unprobed                 %8.1f ns/call\n' "$b"
printf '  obs probe count          %8.1f ns/call  (+%.0f ns/hit)\n' "$o" "$(echo "$o - $b" | bc -l)"
s1=$(printf '%s\n' "${ss[@]}" | median)
l1=$(printf '%s\n' "${lat[@]}" | median)
printf '  site costs measured by obs itself (for its per-hit estimates):\n'
printf '    emulated entry (PUSHQ BP)         +%.0f ns/hit\n' "$(echo "$o - $b" | bc -l)"
printf '    single-stepped entry (main.mix)   +%.0f ns/hit\n' "$(echo "$s1 - $b" | bc -l)"
printf '    latency: entry + RET site         +%.0f ns/call\n' "$(echo "$l1 - $b" | bc -l)"
if [ -z "$BPFTRACE" ]; then
  echo "  bpftrace not installed: no ratio (.ci/run installs bpftrace)"
  exit 0
fi
t=$(printf '%s\n' "${bt[@]}" | median)
printf '  bpftrace count()         %8.1f ns/call  (+%.0f ns/hit)\n' "$t" "$(echo "$t - $b" | bc -l)"
printf '  obs added cost / bpftrace added cost = %.3fx (goal <= 0.2x)\n' "$(echo "($o - $b) / ($t - $b)" | bc -l)"
