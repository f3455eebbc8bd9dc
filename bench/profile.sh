#!/usr/bin/env bash
# bench/profile.sh: what `obs profile cpu` costs its target and how its
# stacks compare with `perf record -g`, each measured against its peer in
# this run:
#   1. overhead at 99 Hz: the CPU time a fixed amount of work takes in the
#      leaf fixture, profiled vs unprofiled, in interleaved pairs (median);
#   2. symbolization of a 100k-sample profile (go test -bench), goal < 1 s;
#   3. perf record -F 99 -g on the same fixtures: top functions, and the
#      callers of the frameless Go leaf (3:1 by construction).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "profile bench: needs root (BPF, perf events); skipped"
  exit 0
fi
tmp=$(mktemp -d /tmp/obs-bench-profile.XXXXXX)
bgpids=()
cleanup() {
  for p in "${bgpids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
OBS=${OBS:-$PWD/bin/obs}
if ! "$OBS" profile cpu --help >/dev/null 2>&1; then
  CGO_ENABLED=0 go build -o "$tmp/obs" ./cmd/obs
  OBS=$tmp/obs
fi
CGO_ENABLED=0 go build -o "$tmp/leaf" ./probes/sample/testdata/leaf
gcc -O0 -fno-omit-frame-pointer -o "$tmp/cspin" probes/sample/testdata/cspin/main.c

# wait_for FILE PATTERN [PID]: until the pattern shows up (60 s at most),
# failing at once if PID exits first.
wait_for() {
  for _ in $(seq 600); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then
      echo "profile bench: process $3 exited before '$2': $(head -c 300 "$1")" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "profile bench: timed out waiting for '$2' in $1" >&2
  return 1
}

ROUNDS=${ROUNDS:-1500}
PAIRS=${PAIRS:-7}
# run_pair: runs two copies of the leaf fixture at the same time, each doing
# ROUNDS rounds of work, with obs profile cpu -F 99 attached to the second
# for the whole of its work; prints "plain_cpu_ns profiled_cpu_ns". Running
# them together exposes both to the same load from the rest of the host;
# with $1 = 1 the first copy started is the profiled one (pairs alternate).
run_pair() {
  : >"$tmp/a.out"; : >"$tmp/b.out"; : >"$tmp/obs.err"
  "$tmp/leaf" -wait -rounds "$ROUNDS" >"$tmp/a.out" &
  local apid=$!
  "$tmp/leaf" -wait -rounds "$ROUNDS" >"$tmp/b.out" &
  local bpid=$!
  wait_for "$tmp/a.out" ready "$apid"
  wait_for "$tmp/b.out" ready "$bpid"
  local target=$bpid plain=a.out prof=b.out
  if [ "$1" = 1 ]; then target=$apid plain=b.out prof=a.out; fi
  "$OBS" profile cpu -p "$target" -F 99 -d 0 -o "$tmp/bench.pb.gz" --json >"$tmp/obs.json" 2>"$tmp/obs.err" &
  local opid=$!
  # obs says so once the per-CPU events are enabled.
  wait_for "$tmp/obs.err" "profiling pid" "$opid"
  kill -USR1 "$apid" "$bpid"
  wait "$apid" "$bpid" "$opid"
  echo "$(awk 'NR==2 {print $1}' "$tmp/$plain") $(awk 'NR==2 {print $1}' "$tmp/$prof")"
}

echo "== 1. overhead of obs profile cpu at 99 Hz (leaf fixture, $ROUNDS rounds, $PAIRS pairs run side by side)"
ratios=()
for i in $(seq "$PAIRS"); do
  read -r a b <<<"$(run_pair $((i % 2)))"
  r=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.4f", b/a}')
  ratios+=("$r")
  printf '  pair %d: unprofiled %.3f s CPU, profiled %.3f s CPU, ratio %s\n' "$i" \
    "$(awk -v a="$a" 'BEGIN{print a/1e9}')" "$(awk -v b="$b" 'BEGIN{print b/1e9}')" "$r"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
spread=$(printf '%s\n' "${ratios[@]}" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END{printf "%.3f..%.3f", lo, hi}')
echo "  median CPU ratio profiled/unprofiled: ${median}x (overhead $(awk -v m="$median" 'BEGIN{printf "%+.2f%%", 100*(m-1)}'), pairs ${spread}; goal < 1%)"
# The cost obs puts on the target itself: the BPF program runs in the
# target's context for each of its samples.
jnum() { grep -o "\"$1\": [0-9.e+-]*" "$tmp/obs.json" | head -1 | awk '{print $2}'; }
s_n=$(jnum samples); s_bpf=$(jnum bpf_ns_per_run); s_tcpu=$(jnum target_cpu_ns); s_obs=$(jnum obs_cpu_share)
echo "  last profiled run: $s_n samples, $(jnum lost) lost, BPF $s_bpf ns per run;" \
  "BPF time on the target $(awk -v n="$s_n" -v b="$s_bpf" -v t="$s_tcpu" 'BEGIN{ if (t > 0) printf "%.4f%%", 100*n*b/t; else printf "?" }') of its CPU;" \
  "obs itself $(awk -v s="$s_obs" 'BEGIN{printf "%.2f%%", 100*s}') of a CPU"
echo "== 2. symbolization of a 100k-sample profile (goal < 1 s)"
go test -run '^$' -bench 'Build100k' -benchtime 5x ./probes/sample |
  awk '/^BenchmarkBuild100k/ {printf "  BenchmarkBuild100k: %.3f s wall, %.3f s CPU per 100k samples (%.2fx the 1 s goal in CPU)\n", $3/1e9, $5/1e9, $5/1e9}'

echo "== 3. obs profile cpu vs perf record -F 99 -g (same fixture, 4 s each, one after the other)"
# count_folded FILE: samples, leaf, callerA, callerB from folded stacks.
count_folded() {
  awk '{n=$NF; t+=n; if ($0 ~ /main\.leaf/) l+=n; if ($0 ~ /main\.callerA/) a+=n; if ($0 ~ /main\.callerB/) b+=n}
       END {printf "%d %d %d %d\n", t, l, a, b}' "$1"
}
# count_perf FILE: the same from perf script's sample blocks.
count_perf() {
  perf script -i "$1" 2>/dev/null | awk 'BEGIN{RS=""} {t++; if ($0 ~ /main\.leaf/) l++; if ($0 ~ /main\.callerA/) a++; if ($0 ~ /main\.callerB/) b++}
       END {printf "%d %d %d %d\n", t, l, a, b}'
}
top_folded() { awk '{n=$NF; k=split($1, f, ";"); c[f[k]]+=n; t+=n} END {for (x in c) printf "%s %.1f%%\n", x, 100*c[x]/t}' "$1" | sort -k2 -t' ' -rn | head -1; }
top_perf() {
  perf report -i "$1" --no-children --sort symbol --stdio 2>/dev/null | awk '/^ +[0-9.]+%/ {print $3, $1; exit}'
}
: >"$tmp/leaf.out"
"$tmp/leaf" >"$tmp/leaf.out" &
lpid=$!
bgpids+=("$lpid")
wait_for "$tmp/leaf.out" ready
"$OBS" profile cpu -p "$lpid" -d 4s -o "$tmp/leaf.pb.gz" --folded >"$tmp/leaf.folded" 2>/dev/null
perf record -q -F 99 -g -p "$lpid" -o "$tmp/perf.data" -- sleep 4 >/dev/null 2>&1
kill "$lpid"
read -r ot ol oa ob <<<"$(count_folded "$tmp/leaf.folded")"
read -r pt pl pa pb <<<"$(count_perf "$tmp/perf.data")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else printf "-" }'; }
printf '  %-22s %8s %10s %10s %10s %8s\n' "Go leaf fixture" samples "main.leaf" callerA callerB "A:B"
printf '  %-22s %8d %10d %10d %10d %8s\n' "obs profile cpu" "$ot" "$ol" "$oa" "$ob" "$(ratio "$oa" "$ob")"
printf '  %-22s %8d %10d %10d %10d %8s\n' "perf record -g" "$pt" "$pl" "$pa" "$pb" "$(ratio "$pa" "$pb")"
echo "  callers kept: obs $(ratio $((oa + ob)) "$ol")x of the leaf's samples, perf $(ratio $((pa + pb)) "$pl")x (3:1 by construction)"
echo "  top function: obs $(top_folded "$tmp/leaf.folded"), perf $(top_perf "$tmp/perf.data")"

: >"$tmp/c.out"
"$tmp/cspin" >"$tmp/c.out" &
cpid=$!
bgpids+=("$cpid")
wait_for "$tmp/c.out" ready
"$OBS" profile cpu -p "$cpid" -d 4s -o "$tmp/c.pb.gz" --folded >"$tmp/c.folded" 2>/dev/null
perf record -q -F 99 -g -p "$cpid" -o "$tmp/cperf.data" -- sleep 4 >/dev/null 2>&1
kill "$cpid"
ca=$(awk '$0 ~ /hot_a/ {s+=$NF} END{print s+0}' "$tmp/c.folded")
cb=$(awk '$0 ~ /hot_b/ {s+=$NF} END{print s+0}' "$tmp/c.folded")
pca=$(perf script -i "$tmp/cperf.data" 2>/dev/null | awk 'BEGIN{RS=""} /hot_a/ {n++} END{print n+0}')
pcb=$(perf script -i "$tmp/cperf.data" 2>/dev/null | awk 'BEGIN{RS=""} /hot_b/ {n++} END{print n+0}')
echo "  C fixture (-O0, frame pointers): top function obs $(top_folded "$tmp/c.folded"), perf $(top_perf "$tmp/cperf.data");" \
  "hot_a:hot_b obs $(ratio "$ca" "$cb") ($ca:$cb), perf $(ratio "$pca" "$pcb") ($pca:$pcb)"
