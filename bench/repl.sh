#!/usr/bin/env bash
# The REPL agent's costs: idle (against no agent), one request (against a
# bare frame ping-pong) and output streaming (against a bare unix socket),
# each peer measured in the same go test -bench run.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'Idle|Request|Output' -benchtime 2s ./repl
