#!/usr/bin/env bash
# make-cores.sh [OUTDIR] [TOOLCHAIN...]: build the crasher fixture with each
# Go toolchain (default: the installed one and go1.25.4 through GOTOOLCHAIN)
# and make a kernel core of every mode, plus a live dump of the hold mode
# when obs is built. Cores and binaries go to OUTDIR (default a new
# directory under /tmp), never into the repository.
#
#   OUTDIR/<toolchain>/crasher
#   OUTDIR/<toolchain>/<mode>/core     nil panic deadlock leak
#   OUTDIR/<toolchain>/hold.core       obs core dump of a running crasher
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d /tmp/obs-cores.XXXXXX)}"
shift || true
toolchains=("$@")
[ ${#toolchains[@]} -gt 0 ] || toolchains=(local go1.25.4)
mkdir -p "$out"
ulimit -c unlimited
pattern=$(cat /proc/sys/kernel/core_pattern)
case "$pattern" in
  core*) ;;
  *) echo "core_pattern is '$pattern': cores will not land next to the program (set it to 'core')" >&2 ;;
esac
obs="${OBS:-$root/bin/obs}"
for tc in "${toolchains[@]}"; do
  d="$out/$tc"
  mkdir -p "$d/src"
  cp "$here/crasher/main.go" "$d/src/"
  # A module of its own, so that older toolchains can build it.
  printf 'module crasher\n\ngo 1.25.0\n' > "$d/src/go.mod"
  (cd "$d/src" && GOTOOLCHAIN="$tc" CGO_ENABLED=0 GOFLAGS= go build -o "$d/crasher" .)
  for mode in nil panic deadlock leak; do
    mkdir -p "$d/$mode"
    rm -f "$d/$mode"/core*
    (cd "$d/$mode" && GOTRACEBACK=crash "$d/crasher" $mode >out.txt 2>&1 || true)
    c=$(ls "$d/$mode"/core* 2>/dev/null | head -1 || true)
    echo "$tc $mode: ${c:-NO CORE} $( [ -n "$c" ] && du -h --apparent-size "$c" | cut -f1)"
  done
  if [ -x "$obs" ]; then
    "$d/crasher" hold > "$d/hold.out" &
    pid=$!
    for _ in $(seq 300); do grep -q ready "$d/hold.out" 2>/dev/null && break; sleep 0.1; done
    "$obs" core dump -p "$pid" -o "$d/hold.core" || echo "$tc hold: dump failed (ptrace not permitted?)"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
done
echo "cores in $out"
