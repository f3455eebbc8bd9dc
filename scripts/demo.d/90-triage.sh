# Demo step (sourced by scripts/demo.sh): one command for an incident.
heading "obs triage: everything about the backend in one bundle, while load runs"
if [ -z "${BACKEND_PID:-}" ]; then
  echo "no backend running (00-services did not start it)"
  return 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "(not root: the eBPF CPU and off-CPU sections fall back or say why; see obs doctor)"
fi
# Bounded load through the frontend for the profiling window.
"$LOADGEN" -url "$FRONTEND_URL/api/hash?n=20000" -n 2000 -c 2 -d 6s -q &
triage_load=$!
# Recent traces too, when a trace server (obs trace serve) is listening where
# the services report.
triage_traces=()
if "$LOADGEN" -url "$OBS_ZIPKIN/api/v2/services" -n 1 -q 2>/dev/null; then
  triage_traces=(--traces "$OBS_ZIPKIN")
else
  echo "(no trace server at $OBS_ZIPKIN: the traces section is skipped)"
fi
"$OBS" triage -p "$BACKEND_PID" -d 5s -o "$OBS_DEMO_DIR/triage" --log "$BACKEND_LOG" --lines 100 \
  "${triage_traces[@]}" || return 1
wait "$triage_load" || true
echo
echo "bundle $OBS_DEMO_DIR/triage:"
ls "$OBS_DEMO_DIR/triage" | sed 's/^/  /'
