#!/usr/bin/env bash
# obs logs against the bunyan CLI (2.0.5) on the same 20 MB+ service log, long
# mode, in the same run: MB/s for each (best of $RUNS by wall clock), the
# ratio, and MB per CPU-second (obs's MB/s per core; on a shared host the
# CPU figure is the steadier one). The outputs are
# compared byte for byte first. Then the Go benchmarks of the renderer and
# the slog handler (allocations per record).
set -euo pipefail
cd "$(dirname "$0")/.."
OBS=${OBS:-bin/obs}
BUNYAN=${BUNYAN:-.ci/node/node_modules/.bin/bunyan}
RUNS=${RUNS:-3}
[ -x "$OBS" ] || { mkdir -p bin; go build -o bin/obs ./cmd/obs; OBS=bin/obs; }
command -v "$BUNYAN" >/dev/null 2>&1 || [ -x "$BUNYAN" ] || { echo "logs bench: bunyan not installed (.ci/run installs it)"; exit 1; }
dir=$(mktemp -d /tmp/obs-bench-logs.XXXXXX)
trap 'rm -rf "$dir"' EXIT

# A service log: plain records with extras, and one in ten each with a
# request, a response with headers, an error with a stack, a nested object.
awk 'BEGIN{ split("GET POST PUT DELETE", M, " ");
  for (i = 0; i < 110000; i++) {
    t = sprintf("2024-03-01T%02d:%02d:%02d.%03dZ", int(i/36000)%24, int(i/600)%60, int(i/10)%60, (i*7)%1000)
    lv = (i%17 == 0) ? 50 : ((i%5 == 0) ? 20 : 30); r = i % 10; ex = ""
    if (r == 0) ex = sprintf(",\"req\":{\"method\":\"%s\",\"url\":\"/api/v1/items/%d?x=1\",\"headers\":{\"host\":\"svc.local\",\"user-agent\":\"curl/8.0\",\"accept\":\"*/*\"},\"remoteAddress\":\"10.0.0.%d\",\"remotePort\":%d}", M[i%4+1], i, i%255, 40000+i%2000)
    else if (r == 1) ex = sprintf(",\"res\":{\"statusCode\":200,\"header\":\"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n\"},\"latency\":%d", i%5000, i%300)
    else if (r == 2) ex = ",\"err\":{\"message\":\"connection reset\",\"name\":\"Error\",\"stack\":\"Error: connection reset\\n    at Socket.onend (net.js:412:11)\\n    at emit (events.js:92:17)\",\"code\":\"ECONNRESET\"}"
    else if (r == 3) ex = sprintf(",\"user\":{\"id\":%d,\"name\":\"user %d\",\"roles\":[\"a\",\"b\"]},\"note\":\"a longer note that goes past fifty characters for details\"", i, i)
    else ex = sprintf(",\"component\":\"worker\",\"req_id\":\"%08x-1c2d\",\"count\":%d,\"ok\":true,\"path\":\"/var/data/file-%d.dat\"", (i*2654435761)%4294967296, i, i%97)
    printf "{\"name\":\"api\",\"hostname\":\"host-%d\",\"pid\":%d,\"level\":%d%s,\"msg\":\"handled request number %d\",\"time\":\"%s\",\"v\":0}\n", i%3, 1000+i%4, lv, ex, i, t
  } }' > "$dir/big.log"
bytes=$(stat -c %s "$dir/big.log")
mb=$(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1e6}')
echo "input: $mb MB, $(wc -l < "$dir/big.log") records"

export BUNYAN_NO_COLOR=1 BUNYAN_NO_PAGER=1 TZ=UTC
"$BUNYAN" "$dir/big.log" > "$dir/bunyan.out"
"$OBS" logs "$dir/big.log" > "$dir/obs.out"
if cmp -s "$dir/bunyan.out" "$dir/obs.out"; then
  echo "outputs identical ($(stat -c %s "$dir/obs.out") bytes)"
else
  echo "logs bench: outputs differ"; cmp "$dir/bunyan.out" "$dir/obs.out" | head -1; exit 1
fi

# run "$@" > /dev/null $RUNS times; print the best wall-clock seconds and
# the CPU seconds (user+sys) of that run
best() {
  local b=999999 bc=0 r u sy
  for _ in $(seq "$RUNS"); do
    read -r r u sy < <( { TIMEFORMAT='%R %U %S'; time "$@" > /dev/null; } 2>&1 )
    if awk -v r="$r" -v b="$b" 'BEGIN{exit !(r < b)}'; then
      b=$r; bc=$(awk -v u="$u" -v s="$sy" 'BEGIN{print u+s}')
    fi
  done
  echo "$b $bc"
}
read -r tb cb < <(best "$BUNYAN" "$dir/big.log")
read -r to co < <(best "$OBS" logs "$dir/big.log")
read -r t1 c1 < <(best "$OBS" logs --workers 1 "$dir/big.log")
cores=$(nproc)
awk -v mb="$mb" -v tb="$tb" -v cb="$cb" -v to="$to" -v co="$co" -v t1="$t1" -v n="$cores" 'BEGIN{
  printf "bunyan 2.0.5 long:  %7.1f MB/s wall (%.3f s), %7.1f MB per CPU-second\n", mb/tb, tb, mb/cb
  printf "obs logs long:      %7.1f MB/s wall (%.3f s, %d cores), %7.1f MB per CPU-second (per core)\n", mb/to, to, n, mb/co
  printf "obs logs 1 worker:  %7.1f MB/s wall (%.3f s)\n", mb/t1, t1
  printf "ratio obs/bunyan:   %7.1fx wall (goal >= 10x), %.1fx CPU\n", tb/to, cb/co
}'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "-- go test -bench (renderer per core, slog handler)"
go test -run '^$' -bench 'LongOneCore|LongAllCores|Handler|Filtered' -benchtime=2s ./logfmt/ | grep -E '^Benchmark'
