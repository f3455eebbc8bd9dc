# shellcheck shell=bash
# obs repl: a small service with the agent linked in, looked at from outside.
heading "repl: an agent in the service, a REPL into it"

repl_svc="$OBS_DEMO_DIR/repl-svc"
go build -o "$repl_svc" ./repl/testdata/svc || return 1
"$repl_svc" -name repl-demo -workers 5 >"$OBS_DEMO_DIR/repl-svc.out" 2>"$OBS_DEMO_DIR/repl-svc.err" &
repl_pid=$!
pids+=("$repl_pid")
for _ in $(seq 100); do
  grep -q '^ready ' "$OBS_DEMO_DIR/repl-svc.out" 2>/dev/null && break
  sleep 0.1
done
repl_sock=$(awk '/^ready /{print $3}' "$OBS_DEMO_DIR/repl-svc.out")
[ -n "$repl_sock" ] || { echo "repl demo service did not start"; cat "$OBS_DEMO_DIR/repl-svc.err"; return 1; }
echo "service pid $repl_pid listens on $repl_sock ($(stat -c %A "$repl_sock"), directory $(stat -c %A "$(dirname "$repl_sock")"))"

echo "\$ obs ps --agents"
"$OBS" ps --agents || return 1

echo
echo "\$ obs repl repl-demo -e uptime -e 'get stats' -e 'eval stats.hits / (stats.hits + stats.misses)'"
"$OBS" repl repl-demo -e uptime -e 'get stats' -e 'eval stats.hits / (stats.hits + stats.misses)' || return 1

echo
echo "\$ obs repl -p $repl_pid -e goroutines   (first buckets)"
"$OBS" repl -p "$repl_pid" -e goroutines | head -n 12 || true

echo
echo "\$ obs repl -p $repl_pid -e 'loglevel DEBUG' -e 'setgc 200' -e flush -e 'help setgc'"
"$OBS" repl -p "$repl_pid" -e 'loglevel DEBUG' -e 'setgc 200' -e flush -e 'help setgc' || return 1
echo "(the service logged who changed what:)"
grep 'repl: command' "$OBS_DEMO_DIR/repl-svc.err" | grep -E 'cmd=(loglevel|setgc|flush)' | head -n 3 || true

echo
echo "\$ obs repl -p $repl_pid -e 'profile heap > heap.pb.gz' -e 'trace 0.5 > trace.out'"
(cd "$OBS_DEMO_DIR" && "$OBS" repl -p "$repl_pid" -e 'profile heap > heap.pb.gz' -e 'trace 0.5 > trace.out') || return 1
ls -l "$OBS_DEMO_DIR/heap.pb.gz" "$OBS_DEMO_DIR/trace.out" | awk '{print $5, $9}'
go tool pprof -top -nodecount=3 "$OBS_DEMO_DIR/heap.pb.gz" 2>/dev/null | sed -n '4,10p' || true

echo
echo "\$ obs repl -p $repl_pid -e boom -e uptime   (a panicking command is contained)"
if "$OBS" repl -p "$repl_pid" -e boom -e uptime; then
  echo "boom should have failed"; return 1
fi
echo "(exit status 1; the service is still up: $(kill -0 "$repl_pid" && echo yes))"

echo
echo "\$ printf 'eval requests * 2\\nfds\\n' | obs repl --json repl-demo   (a script's view)"
printf 'eval requests * 2\nfds\n' | "$OBS" repl --json repl-demo | head -n 8 || true

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  echo
  echo "\$ setpriv --reuid=nobody obs repl $repl_sock -e uptime   (another user)"
  if setpriv --reuid=65534 --regid=65534 --clear-groups "$OBS" repl "$repl_sock" -e uptime; then
    echo "nobody got in"; return 1
  fi
else
  echo "(skipping the other-user refusal: needs root and setpriv)"
fi

kill -TERM "$repl_pid"
wait "$repl_pid" 2>/dev/null || true
if [ -e "$repl_sock" ]; then
  echo "the service's socket $repl_sock is still there after it stopped"; return 1
fi
echo "service stopped; its socket is gone"
