# Demo step (sourced by scripts/demo.sh): start obs trace serve where the
# example services will send their spans ($OBS_ZIPKIN, default
# http://127.0.0.1:9411), before they start, so no span is dropped. Leaves
# the server running for later steps: OBS_TRACE_URL.
heading "obs trace serve: the collector the example services report to"

trace_listen=${OBS_ZIPKIN:=http://127.0.0.1:9411}
trace_listen=${trace_listen#http://}
trace_listen=${trace_listen%%/*}
rm -f "$OBS_DEMO_DIR/trace-serve.json"
"$OBS" trace serve --listen "$trace_listen" --data "$OBS_DEMO_DIR/traces" --retention 1h --json \
  >"$OBS_DEMO_DIR/trace-serve.json" 2>"$OBS_DEMO_DIR/trace-serve.err" &
trace_pid=$!
pids+=("$trace_pid")
for _ in $(seq 100); do
  grep -q '"url"' "$OBS_DEMO_DIR/trace-serve.json" 2>/dev/null && break
  kill -0 "$trace_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '"url"' "$OBS_DEMO_DIR/trace-serve.json" 2>/dev/null; then
  echo "obs trace serve could not listen on $trace_listen:"; cat "$OBS_DEMO_DIR/trace-serve.err"
  echo "serving on a free port instead"
  rm -f "$OBS_DEMO_DIR/trace-serve.json"
  "$OBS" trace serve --listen 127.0.0.1:0 --data "$OBS_DEMO_DIR/traces" --retention 1h --json \
    >"$OBS_DEMO_DIR/trace-serve.json" 2>"$OBS_DEMO_DIR/trace-serve.err" &
  trace_pid=$!
  pids+=("$trace_pid")
  for _ in $(seq 100); do grep -q '"url"' "$OBS_DEMO_DIR/trace-serve.json" 2>/dev/null && break; sleep 0.1; done
fi
OBS_TRACE_URL=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$OBS_DEMO_DIR/trace-serve.json")
[ -n "$OBS_TRACE_URL" ] || { echo "obs trace serve did not start"; cat "$OBS_DEMO_DIR/trace-serve.err"; return 1; }
# The services start after this step: send their spans wherever it listens.
OBS_ZIPKIN=$OBS_TRACE_URL
export OBS_TRACE_URL OBS_ZIPKIN
echo "obs trace serve: $OBS_TRACE_URL, store $OBS_DEMO_DIR/traces (pid $trace_pid)"
