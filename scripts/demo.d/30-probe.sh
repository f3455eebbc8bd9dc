# Demo step (sourced by scripts/demo.sh): dynamic probes on the running
# backend (Go) and on python3.11's USDT probes, pure Go eBPF, no restarts.
heading "obs probe: count, latency, trace, stacks and syscalls on the live backend"
if [ "$(id -u)" -ne 0 ]; then
  echo "(skipped: obs probe needs root for BPF and uprobes)"
else
  echo "functions of the backend matching 'main.*':"
  "$OBS" probe list -p "$BACKEND_PID" 'main.*' || return 1
  "$LOADGEN" -url "$FRONTEND_URL/api/hash?n=3000" -n 100000 -c 2 -d 9s -q &
  probe_load=$!
  pids+=("$probe_load")
  echo; echo "calls per function over 2 s (counted in the kernel):"
  "$OBS" probe count -p "$BACKEND_PID" -d 2s main.doWork 'main.(*backend).work' main.intParam 'net/http.(*ServeMux).ServeHTTP' || return 1
  echo; echo "latency of main.doWork: uprobes on every RET, matched by goroutine (no uretprobe on Go):"
  "$OBS" probe latency -p "$BACKEND_PID" -d 2s main.doWork || return 1
  echo "three calls traced with decoded Go arguments:"
  "$OBS" probe trace -p "$BACKEND_PID" -n 3 -d 5s main.intParam --ret || return 1
  echo; echo "where main.intParam is called from (folded stacks):"
  "$OBS" probe stacks -p "$BACKEND_PID" -d 1s --folded --top 2 main.intParam || return 1
  echo; echo "the backend's syscalls for 1 s:"
  "$OBS" probe syscalls -p "$BACKEND_PID" -d 1s || return 1
  wait "$probe_load" 2>/dev/null || true
  if [ -x /usr/bin/python3.11 ]; then
    echo; echo "USDT in python3.11 (semaphore-gated, set by the kernel while attached): 7 gc.collect() calls plus the interpreter's own collections:"
    "$OBS" probe count -c "/usr/bin/python3.11 -c 'import gc; [gc.collect() for _ in range(7)]'" \
      usdt:python:gc__start usdt:python:gc__done || return 1
  else
    echo "(/usr/bin/python3.11 not installed: USDT part skipped)"
  fi
fi
