# Demo step (sourced by scripts/demo.sh): CPU and off-CPU profiles of the
# running backend with eBPF, while the load generator keeps it busy.
heading "obs profile: CPU and off-CPU profiles of the running backend (eBPF, pprof)"
if [ "$(id -u)" -ne 0 ]; then
  echo "(skipped: obs profile cpu/offcpu need root for BPF and perf events)"
else
  "$LOADGEN" -url "$FRONTEND_URL/api/hash?n=20000" -n 100000 -c 2 -d 7s -q &
  load_pid=$!
  pids+=("$load_pid")
  "$OBS" profile cpu -p "$BACKEND_PID" -d 3s -n 8 -o "$OBS_DEMO_DIR/backend-cpu.pb.gz" || return 1
  echo "the same profile, read back (go tool pprof opens it too):"
  "$OBS" profile top "$OBS_DEMO_DIR/backend-cpu.pb.gz" -n 3 || return 1
  echo "off-CPU: where the backend's threads wait, 2 s:"
  "$OBS" profile offcpu -p "$BACKEND_PID" -d 2s -n 6 -o "$OBS_DEMO_DIR/backend-offcpu.pb.gz" || return 1
  wait "$load_pid" 2>/dev/null || true
  echo "(obs profile web $OBS_DEMO_DIR/backend-cpu.pb.gz serves the flame graph on loopback)"
fi
