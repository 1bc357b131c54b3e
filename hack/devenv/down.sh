#!/usr/bin/env bash
# Stops every component of the local environment (reverse start order) and leaves no process
# behind: SIGTERM to each process group, then SIGKILL after a grace period. Keeps data and logs;
# `make devenv-clean` removes them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The demo's processes first (hack/demo.ts: operator and workers, one pid file each per namespace).
for pidfile in "$PIDS"/demo/*/*.pid; do
  [[ -f $pidfile ]] || continue
  pid=$(cat "$pidfile")
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
done
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  name=${COMPONENTS[i]}
  pidfile=$PIDS/$name.pid
  [[ -f $pidfile ]] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
done
rm -f "$STATE/env"
log "local environment stopped"
