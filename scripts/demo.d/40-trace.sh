# Demo step (sourced by scripts/demo.sh): obs trace. The server started in
# 00-collector.sh has the example services' spans; this drives a few more
# requests through them and reads the traces back from the terminal. Also imports a
# small hand-made trace (a backend whose clock runs early, and an error) so
# the step shows skew correction and error marks even without the services.
heading "obs trace: Zipkin-compatible collector, store and terminal viewer"

if [ -z "${OBS_TRACE_URL:-}" ]; then
  echo "no trace server from the earlier step"; return 1
fi
trace_listen=${OBS_ZIPKIN#http://}
trace_listen=${trace_listen%%/*}

# A hand-made trace: the backend's clock is 18ms early, its span has an error.
now_us=$(( $(date +%s) * 1000000 ))
t0=$(( now_us - 3000000 ))
cat >"$OBS_DEMO_DIR/trace-sample.json" <<JSON
[{"traceId":"5af7183fb1d4cf5f86f7da1c2b7b3c4d","id":"0000000000000001","kind":"SERVER","name":"GET /checkout","timestamp":$t0,"duration":120000,"localEndpoint":{"serviceName":"shop","ipv4":"127.0.0.1","port":8080},"tags":{"http.method":"GET","http.path":"/checkout"}},
 {"traceId":"5af7183fb1d4cf5f86f7da1c2b7b3c4d","parentId":"0000000000000001","id":"0000000000000002","kind":"CLIENT","name":"get /price","timestamp":$((t0+10000)),"duration":60000,"localEndpoint":{"serviceName":"shop"},"remoteEndpoint":{"serviceName":"pricing"}},
 {"traceId":"5af7183fb1d4cf5f86f7da1c2b7b3c4d","parentId":"0000000000000001","id":"0000000000000002","kind":"SERVER","name":"get /price","timestamp":$((t0+2000)),"duration":40000,"shared":true,"localEndpoint":{"serviceName":"pricing"},"tags":{"error":"upstream timeout"}},
 {"traceId":"5af7183fb1d4cf5f86f7da1c2b7b3c4d","parentId":"0000000000000002","id":"0000000000000003","kind":"CLIENT","name":"select prices","timestamp":$((t0+5000)),"duration":30000,"localEndpoint":{"serviceName":"pricing"},"remoteEndpoint":{"serviceName":"postgres","port":5432}},
 {"traceId":"5af7183fb1d4cf5f86f7da1c2b7b3c4d","parentId":"0000000000000001","id":"0000000000000004","name":"render","timestamp":$((t0+75000)),"duration":40000,"localEndpoint":{"serviceName":"shop"}},
 {"traceId":"5af7183fb1d4cf5f86f7da1c2b7b3c4d","parentId":"0000000000000001","id":"0000000000000005","name":"audit log","timestamp":$((t0+30000)),"duration":6000,"localEndpoint":{"serviceName":"shop"}}]
JSON
"$OBS" trace import --server "$OBS_TRACE_URL" "$OBS_DEMO_DIR/trace-sample.json" || return 1

if [ -n "${FRONTEND_URL:-}" ] && [ -n "${LOADGEN:-}" ] && [ "$OBS_TRACE_URL" = "http://$trace_listen" ]; then
  echo "10 requests through the example services (they report to $OBS_ZIPKIN):"
  "$LOADGEN" -url "$FRONTEND_URL/api/hash?n=5000" -n 10 -c 2 || return 1
  # The services' reporters flush every 200ms; wait until their traces land.
  for _ in $(seq 50); do
    n=$("$OBS" trace ls --server "$OBS_TRACE_URL" --service backend --since 5m --json | grep -c '"traceId"' || true)
    [ "${n:-0}" -ge 10 ] && break
    sleep 0.2
  done
  sleep 0.5 # the other service's last batch
fi

echo; echo "\$ obs trace ls --since 5m"
"$OBS" trace ls --server "$OBS_TRACE_URL" --since 5m --limit 8 || return 1
echo; echo "\$ obs trace show 5af7183fb1d4cf5f86f7da1c2b7b3c4d --tags   (solid bars: critical path; ~: clock skew corrected)"
"$OBS" trace show --server "$OBS_TRACE_URL" 5af7183fb1d4cf5f86f7da1c2b7b3c4d --tags || return 1
fe_trace=$("$OBS" trace ls --server "$OBS_TRACE_URL" --service backend --since 5m --limit 2 --json |
  sed -n 's/.*"traceId": *"\([^"]*\)".*/\1/p')
if [ -n "$fe_trace" ]; then
  first=$(echo "$fe_trace" | head -n1); second=$(echo "$fe_trace" | sed -n 2p)
  echo; echo "\$ obs trace show $first   (a request through frontend -> backend)"
  "$OBS" trace show --server "$OBS_TRACE_URL" "$first" || return 1
  if [ -n "$second" ]; then
    echo; echo "\$ obs trace diff $first $second"
    "$OBS" trace diff --server "$OBS_TRACE_URL" "$first" "$second" || return 1
  fi
fi
echo; echo "\$ obs trace deps --since 1h"
"$OBS" trace deps --server "$OBS_TRACE_URL" --since 1h || return 1
echo; echo "\$ obs trace top --since 5m"
"$OBS" trace top --server "$OBS_TRACE_URL" --since 5m || return 1
