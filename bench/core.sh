#!/usr/bin/env bash
# bench/core.sh: time `obs core leaks` (the full report: goroutines, heap
# index, reachability mark) on a ~55 MB kernel core of the crasher fixture
# with 2049 goroutines, against `dlv core` listing every goroutine with its
# stack (goroutines -t) on the same core in the same run; then on a ~500 MB
# core to show how time grows. Medians of 3 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
OBS="${OBS:-$PWD/bin/obs}"
[ -x "$OBS" ] || { mkdir -p bin; go build -o bin/obs ./cmd/obs; OBS=$PWD/bin/obs; }
tmp=$(mktemp -d /tmp/obs-bench-core.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/crasher" ./testdata/cores/crasher
ulimit -c unlimited

core_of() { # MB -> path of a kernel core of `crasher bench MB`
  local d="$tmp/core-$1"
  mkdir -p "$d"
  (cd "$d" && GOTRACEBACK=crash "$tmp/crasher" bench "$1" >/dev/null 2>&1 || true)
  local c
  c=$(ls "$d"/core* 2>/dev/null | head -1)
  [ -n "$c" ] || { echo "no core written (core_pattern: $(cat /proc/sys/kernel/core_pattern))" >&2; exit 1; }
  echo "$c"
}

# median3 command... -> "wall cpu": medians over 3 runs of wall seconds and
# of CPU seconds (user+sys; the host is shared, so both are given).
median3() {
  local walls=() cpus=()
  local TIMEFORMAT='%R %U %S'
  for _ in 1 2 3; do
    local t
    t=$( { time "$@" >/dev/null 2>&1; } 2>&1 ) || true
    walls+=("$(echo "$t" | awk '{print $1}')")
    cpus+=("$(echo "$t" | awk '{print $2+$3}')")
  done
  echo "$(printf '%s\n' "${walls[@]}" | sort -n | sed -n 2p) $(printf '%s\n' "${cpus[@]}" | sort -n | sed -n 2p)"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "n/a" }'; }

small=$(core_of 2)
big=$(core_of 300)
ssize=$(stat -c %s "$small"); bsize=$(stat -c %s "$big")
printf 'cores: %d MB (%s) and %d MB\n' $((ssize >> 20)) "$("$OBS" core leaks "$small" --exe "$tmp/crasher" | head -1)" $((bsize >> 20))

read -r t_obs c_obs < <(median3 "$OBS" core leaks --exe "$tmp/crasher" "$small")
printf 'obs core leaks, %d MB core: %.3f s wall, %.3f s CPU (goal < 2 s)\n' $((ssize >> 20)) "$t_obs" "$c_obs"

dlv=""
if GOBIN="$tmp/bin" GOFLAGS= go install github.com/go-delve/delve/cmd/dlv@v1.27.2 >/dev/null 2>&1; then
  dlv="$tmp/bin/dlv"
fi
if [ -n "$dlv" ]; then
  printf 'goroutines -t\nexit\n' > "$tmp/dlv.init"
  n=$("$dlv" core "$tmp/crasher" "$small" --init "$tmp/dlv.init" --allow-non-terminal-interactive=true </dev/null 2>/dev/null | grep -c '^ *Goroutine ' || true)
  read -r t_dlv c_dlv < <(median3 "$dlv" core "$tmp/crasher" "$small" --init "$tmp/dlv.init" --allow-non-terminal-interactive=true)
  printf 'dlv core ... goroutines -t (%s goroutines listed): %.3f s wall, %.3f s CPU\n' "$n" "$t_dlv" "$c_dlv"
  printf 'ratio obs leaks / dlv goroutines -t: %sx wall, %sx CPU\n' "$(ratio "$t_obs" "$t_dlv")" "$(ratio "$c_obs" "$c_dlv")"
else
  echo "dlv could not be built from the module proxy: no peer figure this run"
fi

read -r t_big c_big < <(median3 "$OBS" core leaks --exe "$tmp/crasher" "$big")
printf 'obs core leaks, %d MB core: %.3f s wall, %.3f s CPU; %sx the core size took %sx the CPU time\n' $((bsize >> 20)) \
  "$t_big" "$c_big" "$(ratio "$bsize" "$ssize")" "$(ratio "$c_big" "$c_obs")"
