# obs core: post-mortem analysis of Go core dumps. Sourced by scripts/demo.sh
# ($OBS, $OBS_DEMO_DIR, heading, pids).
heading "obs core: a crashed program's core, its goroutines, leaks and heap"
core_dir="$OBS_DEMO_DIR/core"
mkdir -p "$core_dir/leak"
go build -o "$core_dir/crasher" ./testdata/cores/crasher
if ! (ulimit -c unlimited) 2>/dev/null; then
  echo "skipping obs core: cannot raise the core size limit here"
else
  # The fixture parks goroutines (some leaked on purpose), then panics;
  # GOTRACEBACK=crash makes the runtime abort so the kernel writes a core.
  (cd "$core_dir/leak" && ulimit -c unlimited && GOTRACEBACK=crash ../crasher leak >/dev/null 2>&1) || true
  core=$(ls "$core_dir/leak"/core* 2>/dev/null | head -1 || true)
  if [ -z "$core" ]; then
    echo "skipping obs core: no core written (core_pattern is '$(cat /proc/sys/kernel/core_pattern)'; it must be 'core')"
  else
    "$OBS" core info "$core" | sed -n '1,14p'
    echo
    "$OBS" core goroutines "$core" | sed -n "1,8p"
    echo
    "$OBS" core leaks "$core" | cut -c1-220
    echo
    "$OBS" core heap --top 5 --pprof "$core_dir/heap.pb.gz" "$core"
    echo
    "$OBS" core report --junit "$core_dir/report.xml" "$core" || echo "(report exits 1: the core shows a crash)"
  fi
fi
heading "obs core dump: a live core of a running process, which runs on"
"$core_dir/crasher" hold > "$core_dir/hold.out" &
hold_pid=$!
pids+=("$hold_pid")
for _ in $(seq 200); do grep -q ready "$core_dir/hold.out" 2>/dev/null && break; sleep 0.05; done
if "$OBS" core dump -p "$hold_pid" -o "$core_dir/live.core"; then
  kill -0 "$hold_pid" && echo "pid $hold_pid still running"
  "$OBS" core goroutines "$core_dir/live.core" | sed -n "1,6p"
else
  echo "skipping the live dump: ptrace is not permitted here (needs CAP_SYS_PTRACE or ptrace_scope 0/1)"
fi
kill "$hold_pid" 2>/dev/null || true
