#!/usr/bin/env bash
# make demo: the README's main job. Builds obs and the example services,
# starts them on loopback, then runs each capability's step from
# scripts/demo.d/ in order. Everything started is stopped on exit.
set -eu
# Steps pipe long listings through head; a command cut short by head (SIGPIPE)
# is not a failure of the demo, so pipelines report their last command.
set +o pipefail
cd "$(dirname "$0")/.."
export OBS_DEMO_ROOT="$PWD"
export OBS="$PWD/bin/obs"
export OBS_DEMO_DIR="${OBS_DEMO_DIR:-$(mktemp -d /tmp/obs-demo.XXXXXX)}"
export PATH="$PWD/bin:$PWD/.ci/node/node_modules/.bin:$PATH"
start=$(date +%s)

heading() { printf '\n\033[1m== %s\033[0m\n' "$*" 2>/dev/null || printf '\n== %s\n' "$*"; }
export -f heading

pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for step in scripts/demo.d/*.sh; do
  [ -e "$step" ] || continue
  # Each step is sourced so it can start services (appending to pids) that
  # later steps use; a step signals failure by returning non-zero.
  # shellcheck disable=SC1090
  source "$step"
done
heading "demo finished in $(( $(date +%s) - start ))s"
