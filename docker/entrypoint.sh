#!/bin/sh
# Entry point of every node container. It execs its arguments (so the server is the container's
# PID 1 and `docker kill -s SIG` signals the server itself), after two fix-ups:
#  - HARNESS_CHOWN="user:dir user:dir ...": the node's directories are bind-mounted from the host,
#    whose mysql/postgres uids may differ from this image's; hand them to the image's users.
#  - --wsrep-new-cluster is honoured only on the container's very first start for that data
#    directory (marker file HARNESS_BOOTSTRAP_MARKER): a restarted node that bootstrapped again
#    would form a second cluster (split brain) instead of rejoining.
set -eu
for pair in ${HARNESS_CHOWN:-}; do
  chown -R "${pair%%:*}:${pair%%:*}" "${pair#*:}"
done
marker=${HARNESS_BOOTSTRAP_MARKER:-/var/lib/engine-harness/.wsrep-bootstrapped}
first=1
[ -e "$marker" ] && first=0
n=$#
i=0
while [ $i -lt $n ]; do
  arg=$1; shift; i=$((i + 1))
  if [ "$arg" = "--wsrep-new-cluster" ]; then
    if [ $first -eq 0 ]; then
      echo "harness-entrypoint: not bootstrapping again (marker $marker exists): joining" >&2
      continue
    fi
    mkdir -p "$(dirname "$marker")" && : > "$marker"
  fi
  set -- "$@" "$arg"
done
exec "$@"
