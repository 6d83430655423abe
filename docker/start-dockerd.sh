#!/usr/bin/env bash
# Start dockerd in the background when no daemon answers, and wait (max 60 s) until it does.
# Log: ${DOCKERD_LOG:-/var/log/engine-harness/dockerd.log}. Idempotent: does nothing if one runs.
set -euo pipefail
docker info >/dev/null 2>&1 && exit 0
command -v dockerd >/dev/null || { echo "start-dockerd: dockerd not installed (apt-get install docker.io)" >&2; exit 1; }
log=${DOCKERD_LOG:-/var/log/engine-harness/dockerd.log}
mkdir -p "$(dirname "$log")"
setsid dockerd --log-level=warn >>"$log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 120); do
  docker info >/dev/null 2>&1 && { echo "start-dockerd: dockerd running (pid $pid, log $log)"; exit 0; }
  kill -0 "$pid" 2>/dev/null || { echo "start-dockerd: dockerd exited; see $log" >&2; tail -5 "$log" >&2; exit 1; }
  sleep 0.5
done
echo "start-dockerd: dockerd did not answer within 60 s; see $log" >&2
exit 1
