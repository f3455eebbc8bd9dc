#!/usr/bin/env bash
# bench/trace.sh: ingest throughput of `obs trace serve` into its durable
# store (every 202 after an fsync), JSON v2 batches of 100 spans over
# several loopback connections for a bounded time, then the latency of
# fetching single traces back from the filled store.
#
# Peer: the OpenTelemetry collector publishes ~10,500 Zipkin spans/s per
# core (its Zipkin receiver, without storage). No collector can be installed
# on this machine, so that figure is the published one, not measured in this
# run; the ratio printed is against it, per core.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${TRACE_BENCH_SECONDS:-10}
CONNS=${TRACE_BENCH_CONNS:-"8 16"}
tmp=$(mktemp -d /tmp/obs-trace-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
go build -o "$tmp/obs" ./cmd/obs
go build -o "$tmp/traceload" ./tracing/cmd/traceload
cores=$(nproc)
peer_per_core=10500

for c in $CONNS; do
  rm -rf "$tmp/data" "$tmp/serve.json"
  "$tmp/obs" trace serve --listen 127.0.0.1:0 --data "$tmp/data" --json >"$tmp/serve.json" 2>"$tmp/serve.err" &
  pid=$!
  for _ in $(seq 100); do [ -s "$tmp/serve.json" ] && break; sleep 0.1; done
  url=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$tmp/serve.json")
  [ -n "$url" ] || { echo "obs trace serve did not start:"; cat "$tmp/serve.err"; exit 1; }
  cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
  "$tmp/traceload" -url "$url" -conns "$c" -duration "${DUR}s" -json >"$tmp/res.json"
  cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
  load=$(cut -d' ' -f1 /proc/loadavg)
  "$tmp/traceload" -url "$url" -conns 1 -duration 1s -queries 500 -json >"$tmp/q.json"
  python3 - "$tmp/res.json" "$cores" "$peer_per_core" "$(du -sb "$tmp/data" | cut -f1)" "$((cpu1-cpu0))" "$(getconf CLK_TCK)" "$load" "$tmp/q.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); cores = int(sys.argv[2]); peer = float(sys.argv[3]); size = int(sys.argv[4])
cpu = int(sys.argv[5]) / int(sys.argv[6]); load = sys.argv[7]; q = json.load(open(sys.argv[8]))
r.update({k: v for k, v in q.items() if k.startswith("quer") or k.startswith("search")})
per_core = r["spans_per_sec"] / cores
per_cpu = r["spans"] / cpu if cpu > 0 else 0
print(f"obs trace serve, durable store, {r['conns']} connections, {r['seconds']:.1f}s: "
      f"{r['spans_per_sec']:,.0f} spans/s ({per_core:,.0f} per core on {cores} cores), "
      f"ingest p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms; {r['rejected']} rejected, {r['errors']} errors; load average {load}")
print(f"  server CPU: {cpu:.1f} s for {r['spans']:,} spans = {per_cpu:,.0f} spans per CPU-second")
print(f"  vs OpenTelemetry collector's published ~{peer:,.0f} Zipkin spans/s per core without storage (not run here): "
      f"{per_core/peer:.2f}x per core of the machine, {per_cpu/peer:.2f}x per CPU-second obs used")
print(f"  store: {r['spans']:,} spans in {size/1e6:.0f} MB ({size/max(r['spans'],1):.0f} B/span); "
      f"trace by id at that size: p50 {r.get('query_p50_ms',0):.2f} ms p99 {r.get('query_p99_ms',0):.2f} ms "
      f"over {r.get('queries',0)} queries; searches (service, tag, newest 10): p50 {r.get('search_p50_ms',0):.2f} ms "
      f"p99 {r.get('search_p99_ms',0):.2f} ms over {r.get('searches',0)}; {r.get('query_not_found',0)} empty or not found")
PY
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
done

# Trace by id at a large store (spans written in process; default half a
# million, TRACE_BENCH_LARGE=10000000 for the issue's ten million: ~10 GB
# of temporary disk and minutes to fill).
large=${TRACE_BENCH_LARGE:-500000}
OBS_TRACE_BENCH_SPANS=$large go test -run '^$' -bench 'TraceByIDLarge' -benchtime 5000x ./tracing/store |
  awk '/^BenchmarkTraceByIDLarge/ { printf "trace by id in process at %d stored spans: %.3f ms per trace (%s s to fill)\n", $7, $3/1e6, $5 }'
