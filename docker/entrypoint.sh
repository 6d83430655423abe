#!/bin/sh
# Entry point of every node container, both for the container itself (CMD: sleep infinity, which
# holds the node's network namespace) and for each server the harness launches in it with
# `docker exec` (so a killed server leaves the namespace and its iptables rules in place, as on
# the netns backend). It ends by exec'ing its arguments, keeping the PID the harness recorded.
#  HARNESS_UIDS="user=uid:gid ...": node directories are bind-mounted from the host and prepared
#    there, so the image's mysql/postgres users take the host's ids (idempotent).
#  HARNESS_START_MARKER=FILE: created on a server's first start in this node. On every later start
#    --wsrep-new-cluster is dropped, so a restarted Galera node rejoins instead of bootstrapping a
#    second cluster (split brain). HARNESS_FORCE_BOOTSTRAP=1 keeps it (a deliberate re-bootstrap
#    after a whole-cluster stop).
#  HARNESS_LOG=FILE: stdout and stderr are appended to FILE (opened as root).
#  HARNESS_RUN_AS=USER: run as USER (setpriv execs, so the PID stays the server's).
set -eu
for entry in ${HARNESS_UIDS:-}; do
  user=${entry%%=*}; ids=${entry#*=}; uid=${ids%%:*}; gid=${ids#*:}
  getent passwd "$user" >/dev/null || continue
  if [ "$(id -g "$user")" != "$gid" ]; then groupmod -o -g "$gid" "$user"; fi
  if [ "$(id -u "$user")" != "$uid" ]; then usermod -o -u "$uid" -g "$gid" "$user" 2>/dev/null; fi
done

if [ -n "${HARNESS_LOG:-}" ]; then
  exec >>"$HARNESS_LOG" 2>&1
fi

marker=${HARNESS_START_MARKER:-}
started_before=0
if [ -n "$marker" ]; then
  [ -e "$marker" ] && started_before=1
  : > "$marker"
fi
n=$#
i=0
while [ $i -lt $n ]; do
  arg=$1; shift; i=$((i + 1))
  if [ "$arg" = "--wsrep-new-cluster" ] && [ $started_before = 1 ] && [ "${HARNESS_FORCE_BOOTSTRAP:-0}" != 1 ]; then
    echo "harness-entrypoint: not bootstrapping again (started before, $marker): joining the cluster" >&2
    continue
  fi
  set -- "$@" "$arg"
done

# libfaketime (clock-skew nemesis): the harness passes LD_PRELOAD as HARNESS_LD_PRELOAD so this
# script itself runs unskewed; FAKETIME_SHARED names a semaphore + shared memory the host made in
# ITS /dev/shm, which is not this container's: make them here, world-writable, so a server that
# switches user (setpriv, same PID) can still open them.
if [ -n "${HARNESS_LD_PRELOAD:-}" ]; then
  if [ -n "${FAKETIME_SHARED:-}" ]; then
    python3 - "$FAKETIME_SHARED" <<'PY'
import _multiprocessing, os, sys
sem, shm = sys.argv[1].split()
sem_path, shm_path = "/dev/shm/sem." + sem.lstrip("/"), "/dev/shm/" + shm.lstrip("/")
if not os.path.exists(sem_path):
    _multiprocessing.SemLock(1, 1, 1, sem, False)  # a POSIX named semaphore, value 1, kept
fd = os.open(shm_path, os.O_CREAT | os.O_RDWR, 0o666)
if os.fstat(fd).st_size < 64:
    os.ftruncate(fd, 64)
os.close(fd)
for path in (sem_path, shm_path):
    os.chmod(path, 0o666)
PY
  fi
  export LD_PRELOAD="$HARNESS_LD_PRELOAD"
  unset HARNESS_LD_PRELOAD
fi

if [ -n "${HARNESS_RUN_AS:-}" ] && [ "$HARNESS_RUN_AS" != root ]; then
  set -- setpriv --reuid="$HARNESS_RUN_AS" --regid="$HARNESS_RUN_AS" --init-groups -- "$@"
fi
exec "$@"
