# shellcheck shell=bash
# obs logs: the bunyan CLI's output, byte for byte, faster. Sourced by
# scripts/demo.sh ($OBS, $OBS_DEMO_DIR, heading).
heading "obs logs: bunyan log rendering"
logs_dir="$OBS_DEMO_DIR/logs"
mkdir -p "$logs_dir"
cat > "$logs_dir/app.log" <<'EOF'
{"name":"shop","hostname":"web-1","pid":4242,"level":30,"msg":"listening","port":8080,"time":"2024-03-01T10:00:00.000Z","v":0}
{"name":"shop","hostname":"web-1","pid":4242,"level":30,"req_id":"a1b2","req":{"method":"GET","url":"/cart","headers":{"host":"shop.local","accept":"*/*"},"remoteAddress":"10.0.0.7","remotePort":51234},"res":{"statusCode":200,"headers":{"content-type":"application/json"}},"latency":12,"msg":"handled","time":"2024-03-01T10:00:01.250Z","v":0}
{"name":"shop","hostname":"web-1","pid":4242,"component":"db","level":40,"msg":"slow query","sql":"select * from carts where user_id = $1","ms":812.5,"time":"2024-03-01T10:00:02.000Z","v":0}
not a JSON line: passed through as bunyan does
{"name":"shop","hostname":"web-1","pid":4242,"level":50,"err":{"message":"connection reset","name":"Error","stack":"Error: connection reset\n    at Socket.onend (net.js:412:11)","code":"ECONNRESET"},"msg":"payment failed","time":"2024-03-01T10:00:03.500Z","v":0}
EOF
echo "\$ obs logs app.log"
"$OBS" logs --no-pager "$logs_dir/app.log"
echo
echo "\$ obs logs -l warn -o short app.log"
"$OBS" logs -l warn -o short "$logs_dir/app.log"
echo
echo "\$ obs logs -c 'this.latency > 10 || this.component === \"db\"' -o simple --strict app.log"
"$OBS" logs -c 'this.latency > 10 || this.component === "db"' -o simple --strict "$logs_dir/app.log"
echo
echo "\$ obs logs --stats app.log"
"$OBS" logs --stats "$logs_dir/app.log"

# The example services log through logfmt.Handler.
if [ -n "${BACKEND_LOG:-}" ] && [ -s "${BACKEND_LOG:-}" ]; then
  echo
  echo "\$ obs logs -o short backend.log frontend.log | tail -4   # merged in time order"
  "$OBS" logs -o short "$BACKEND_LOG" "$FRONTEND_LOG" | tail -4
  if [ "$(id -u)" = 0 ] && [ -n "${FRONTEND_PID:-}" ] && [ -n "${LOADGEN:-}" ]; then
    echo
    echo "\$ obs logs -p \$FRONTEND_PID -o short   # every level, live, while 5 requests arrive"
    "$OBS" logs -p "$FRONTEND_PID" -o short > "$logs_dir/snoop.out" 2> "$logs_dir/snoop.err" &
    snoop_pid=$!
    for _ in $(seq 100); do grep -q snooping "$logs_dir/snoop.err" 2>/dev/null && break; sleep 0.1; done
    "$LOADGEN" -url "$FRONTEND_URL/api/hash?n=100" -n 5 -q >/dev/null 2>&1 || true
    sleep 0.5
    kill -INT "$snoop_pid" 2>/dev/null; wait "$snoop_pid" 2>/dev/null || true
    cat "$logs_dir/snoop.err"
    head -n 6 "$logs_dir/snoop.out"
    echo "($(grep -c "^[0-9]" "$logs_dir/snoop.out") records snooped)"
  else
    echo "(obs logs -p skipped: needs root and the example services)"
  fi
fi

if command -v bunyan >/dev/null 2>&1; then
  same=0 total=0
  for args in "" "-o short" "-j" "-0" "-o simple" "--color" "-l warn"; do
    total=$((total+1))
    # shellcheck disable=SC2086
    if cmp -s <(BUNYAN_NO_PAGER=1 bunyan $args "$logs_dir/app.log") <("$OBS" logs --no-pager $args "$logs_dir/app.log"); then
      same=$((same+1))
    fi
  done
  echo
  echo "byte-identical to bunyan $(bunyan --version | cut -d' ' -f2) in $same of $total output modes"
  # A quick speed comparison on ~6 MB (bench/logs.sh does this properly).
  awk 'BEGIN{for(i=0;i<30000;i++) printf "{\"name\":\"api\",\"hostname\":\"h\",\"pid\":1,\"level\":30,\"req_id\":\"r%d\",\"count\":%d,\"user\":{\"id\":%d},\"msg\":\"handled request %d\",\"time\":\"2024-03-01T10:%02d:%02d.%03dZ\",\"v\":0}\n", i, i, i, i, int(i/600)%60, int(i/10)%60, i%1000}' > "$logs_dir/big.log"
  s=$(date +%s%N); bunyan "$logs_dir/big.log" > /dev/null; b=$(( $(date +%s%N) - s ))
  s=$(date +%s%N); "$OBS" logs "$logs_dir/big.log" > /dev/null; o=$(( $(date +%s%N) - s ))
  awk -v b="$b" -v o="$o" -v sz="$(stat -c %s "$logs_dir/big.log")" 'BEGIN{printf "%.1f MB: bunyan %.0f ms, obs logs %.0f ms (%.1fx)\n", sz/1e6, b/1e6, o/1e6, b/o}'
else
  echo "(bunyan not installed: skipping the byte-for-byte comparison; .ci/run installs it)"
fi
