# Demo step (sourced by scripts/demo.sh): build the example services, start
# them on loopback and send them a few requests. Later steps use:
#   FRONTEND_URL BACKEND_URL FRONTEND_PID BACKEND_PID FRONTEND_LOG BACKEND_LOG
#   LOADGEN (the load generator) and OBS_ZIPKIN (where the services send spans:
#   00-collector.sh serves it before the services start).
heading "example services: build and start frontend -> backend on loopback"

OBS_DEMO_BIN="$OBS_DEMO_DIR/bin"
mkdir -p "$OBS_DEMO_BIN"
go build -o "$OBS_DEMO_BIN/" ./examples/frontend ./examples/backend ./examples/loadgen || return 1
export LOADGEN="$OBS_DEMO_BIN/loadgen"
export OBS_ZIPKIN="${OBS_ZIPKIN:-http://127.0.0.1:9411}"

# demo_service NAME ARGS...: start NAME in the background, wait until it has
# written its address, and set NAME_URL / NAME_PID / NAME_LOG.
demo_service() {
  local name=$1; shift
  local addr_file="$OBS_DEMO_DIR/$name.addr" up=${name^^}
  rm -f "$addr_file"
  # Started from the demo dir so any core lands there.
  (cd "$OBS_DEMO_DIR" && exec "$OBS_DEMO_BIN/$name" -addr-file "$addr_file" \
      -log "$OBS_DEMO_DIR/$name.log" -zipkin "$OBS_ZIPKIN" "$@") \
      >"$OBS_DEMO_DIR/$name.out" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do
    [ -s "$addr_file" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "$name exited:"; cat "$OBS_DEMO_DIR/$name.out"; return 1; }
    sleep 0.1
  done
  [ -s "$addr_file" ] || { echo "$name did not start within 30s"; return 1; }
  export "${up}_URL=http://$(cat "$addr_file")" "${up}_PID=$pid" "${up}_LOG=$OBS_DEMO_DIR/$name.log"
  echo "$name: pid $pid, http://$(cat "$addr_file"), log $OBS_DEMO_DIR/$name.log"
}

# The backend leaks a goroutine on every 10th request (-leak), so that the
# core step has a real leak to find.
demo_service backend -leak || return 1
demo_service frontend -backend "$BACKEND_URL" || return 1

"$LOADGEN" -url "$FRONTEND_URL/healthz" -n 1 -q || return 1
echo "20 requests through the frontend:"
"$LOADGEN" -url "$FRONTEND_URL/api/hash?n=5000" -n 20 -c 2 || return 1
echo "one request's answer:"
"$LOADGEN" -url "$FRONTEND_URL/api/hash?n=5000" -n 1 -q -print || return 1
echo "and the backend's log record of it:"
tail -n 1 "$BACKEND_LOG"
