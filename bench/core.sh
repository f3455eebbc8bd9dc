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

median3() { # command... -> median wall seconds of 3 runs
  local ts=()
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    e=$(date +%s.%N)
    ts+=("$(awk -v a="$s" -v b="$e" 'BEGIN{print b-a}')")
  done
  printf '%s\n' "${ts[@]}" | sort -n | sed -n 2p
}

small=$(core_of 2)
big=$(core_of 300)
ssize=$(stat -c %s "$small"); bsize=$(stat -c %s "$big")
printf 'cores: %d MB (%s) and %d MB\n' $((ssize >> 20)) "$("$OBS" core leaks "$small" --exe "$tmp/crasher" | head -1)" $((bsize >> 20))

t_obs=$(median3 "$OBS" core leaks --exe "$tmp/crasher" "$small")
printf 'obs core leaks, %d MB core: %.3f s (goal < 2 s)\n' $((ssize >> 20)) "$t_obs"

dlv=""
if GOBIN="$tmp/bin" GOFLAGS= go install github.com/go-delve/delve/cmd/dlv@v1.27.2 >/dev/null 2>&1; then
  dlv="$tmp/bin/dlv"
fi
if [ -n "$dlv" ]; then
  printf 'goroutines -t\nexit\n' > "$tmp/dlv.init"
  n=$("$dlv" core "$tmp/crasher" "$small" --init "$tmp/dlv.init" --allow-non-terminal-interactive=true </dev/null 2>/dev/null | grep -c '^ *Goroutine ' || true)
  t_dlv=$(median3 "$dlv" core "$tmp/crasher" "$small" --init "$tmp/dlv.init" --allow-non-terminal-interactive=true)
  printf 'dlv core ... goroutines -t (%s goroutines listed): %.3f s\n' "$n" "$t_dlv"
  printf 'ratio obs leaks / dlv goroutines -t: %.2fx\n' "$(awk -v a="$t_obs" -v b="$t_dlv" 'BEGIN{print a/b}')"
else
  echo "dlv could not be built from the module proxy: no peer figure this run"
fi

t_big=$(median3 "$OBS" core leaks --exe "$tmp/crasher" "$big")
printf 'obs core leaks, %d MB core: %.3f s; %.1fx the core size took %.2fx the time\n' $((bsize >> 20)) "$t_big" \
  "$(awk -v a="$bsize" -v b="$ssize" 'BEGIN{print a/b}')" "$(awk -v a="$t_big" -v b="$t_obs" 'BEGIN{print a/b}')"
