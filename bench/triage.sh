#!/usr/bin/env bash
# bench/triage.sh: what `obs triage` costs the service it looks at. The
# example frontend -> backend pair serves requests (2 in flight) for 8 s
# while `obs triage -d 5s` runs on the backend (all sections: agent, eBPF
# CPU/off-CPU/syscalls, live core), against 8 s of the same load without
# triage, alternating, 3 pairs. The peer is the untriaged service in the
# same run; the figure is the ratio of request rates, and the time the live
# core kept the backend stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
OBS="${OBS:-$PWD/bin/obs}"
[ -x "$OBS" ] || { mkdir -p bin; go build -o bin/obs ./cmd/obs; OBS=$PWD/bin/obs; }
tmp=$(mktemp -d /tmp/obs-bench-triage.XXXXXX)
pids=()
trap 'for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/" ./examples/frontend ./examples/backend ./examples/loadgen

extra=()
if [ "$(id -u)" -ne 0 ]; then
  echo "(not root: triage runs with --no-bpf --no-core, so the figure is the agent's cost only)"
  extra=(--no-bpf --no-core)
fi

start() { # name args... -> sets ADDR
  local name=$1; shift
  "$tmp/$name" -addr-file "$tmp/$name.addr" -log "$tmp/$name.log" "$@" >"$tmp/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do [ -s "$tmp/$name.addr" ] && break; sleep 0.1; done
  [ -s "$tmp/$name.addr" ] || { echo "$name did not start"; exit 1; }
  ADDR=$(cat "$tmp/$name.addr"); LASTPID=$!
}
start backend; BE=$ADDR; BEPID=$LASTPID
start frontend -backend "http://$BE"; FE=$ADDR
url="http://$FE/api/hash?n=5000"
"$tmp/loadgen" -url "$url" -n 50 -c 2 -q # warm up

rate() { # loadgen output -> requests per second
  awk '{ n=$1; d=$4; if (d ~ /ms$/) { sub(/ms$/, "", d); d/=1000 } else { sub(/s$/, "", d) } printf "%.1f", n/d }'
}

base=(); tri=(); stops=()
for i in 1 2 3; do
  base+=("$("$tmp/loadgen" -url "$url" -n 100000 -c 2 -d 8s | rate)")
  "$tmp/loadgen" -url "$url" -n 100000 -c 2 -d 8s > "$tmp/load.$i" &
  lp=$!
  "$OBS" triage -p "$BEPID" -d 5s -o "$tmp/bundle.$i" --json "${extra[@]}" > "$tmp/report.$i.json"
  wait "$lp"
  tri+=("$(rate < "$tmp/load.$i")")
  stops+=("$(grep -o '"stopped_ns": [0-9]*' "$tmp/report.$i.json" | awk '{ printf "%.1f", $2/1e6 }')")
done

echo "requests/s of the example services, 2 in flight, 8 s windows:"
for i in 0 1 2; do
  printf "  pair %d: without triage %7s, during obs triage %7s  ratio %s  core stop %s ms\n" $((i + 1)) \
    "${base[$i]}" "${tri[$i]}" "$(awk -v a="${tri[$i]}" -v b="${base[$i]}" 'BEGIN { printf "%.3f", a/b }')" "${stops[$i]:-n/a}"
done
med() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
mb=$(med "${base[@]}"); mt=$(med "${tri[@]}")
echo "median: without $mb/s, during triage $mt/s: ratio $(awk -v a="$mt" -v b="$mb" 'BEGIN { printf "%.3f", a/b }') (1.000 = no cost)"
