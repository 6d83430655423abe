"""Clock skew on one node's server process: restart it under libfaketime (LD_PRELOAD + FAKETIME)
with a random offset, and restart it plainly to heal. Only the server's own clock moves (the
machine's clock is shared by everyone on it); monotonic clocks are left alone so timers work."""
import glob
import os
import pwd
import re
import stat

from nemesis.base import Fault, chosen, heal_each

LIB_GLOBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
             "/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1",
             "/usr/local/lib/faketime/libfaketimeMT.so.1")
_remote_libs: dict[str, str | None] = {}  # host -> its libfaketime (asked once per process)


def remote(node) -> bool:
    """The node is another machine (the ssh backend): its /dev/shm, libraries and /proc are reached
    through node.run, never this machine's. netns and docker nodes share this machine's."""
    return bool(getattr(node, "remote", False))


def read_proc(node, name: str) -> str:
    """/proc/<server pid>/<name> of the machine that runs node's server; OSError etc. when unreadable."""
    path = f"/proc/{int(node.pid)}/{name}"
    if remote(node):
        return node.read_file(path) or ""
    with open(path, errors="replace") as f:
        return f.read()


def libfaketime(node=None) -> str | None:
    """The preload library on the machine that runs node's server (this one when node is local)."""
    if node is not None and remote(node):
        key = str(getattr(node, "host", node.name))
        if key not in _remote_libs:
            out = _sh(node, 'for p in "$@"; do for f in $p; do [ -e "$f" ] && echo "$f"; done; done; true',
                      *LIB_GLOBS).stdout
            _remote_libs[key] = out.split()[0] if out.split() else None
        return _remote_libs[key]
    for pattern in LIB_GLOBS:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    return None


def _sh(node, script, *args, check=True):
    res = node.run(["sh", "-c", script, "sh", *map(str, args)], timeout=15, check=False)
    if check and res.returncode not in (0, 3):  # 3: the script refused (its line on stdout)
        err = (res.stderr or "").strip().splitlines()
        raise ClockError(f"{node.name}: {err[-1] if err else f'exit {res.returncode}'}")
    return res


SHM_DIR = "/dev/shm"


class ClockError(RuntimeError):
    """The libfaketime files cannot be made safely (one line, naming the path)."""


def shared_name(cluster, node) -> str:
    return "hn_faketime_" + re.sub(r"[^A-Za-z0-9_-]", "_", f"{cluster.name}_{node.name}")


def make_shared(cluster, node) -> str:
    """The semaphore + shared memory libfaketime keeps per process tree, made fresh by us for the
    server's OS user only (0600, owned by it).

    Left to itself libfaketime creates them in the first process that loads it, as that process's
    user: a server started as root that switches user before exec'ing (setpriv ... postgres, same
    PID) then cannot open its own semaphore and dies. Handing it FAKETIME_SHARED avoids that. They
    live in the world-writable /dev/shm (sem_open and shm_open look nowhere else), so a name someone
    planted there first (a symlink, a file of theirs) is refused, never followed or reused."""
    import _multiprocessing  # the stdlib's sem_open; a glibc POSIX named semaphore
    name = shared_name(cluster, node)
    sem_path, shm_path = _paths(name)
    user = getattr(getattr(cluster, "dbdef", None), "server_user", None)
    if remote(node):
        res = _sh(node, MAKE_SHARED_SH, SHM_DIR, sem_path, shm_path, user or "")
        if res.returncode == 3:
            raise ClockError(f"{node.name}: {res.stdout.strip().splitlines()[-1]}")
        return f"/{name}_sem /{name}_shm"
    owner = pwd.getpwnam(user) if user else pwd.getpwuid(os.geteuid())
    for path in (sem_path, shm_path):
        _remove_ours(path, owner.pw_uid)
    try:
        # sem_open(O_CREAT|O_EXCL): glibc link()s a new file into place, never through a symlink
        _multiprocessing.SemLock(1, 1, 1, f"/{name}_sem", False)  # kind SEMAPHORE, value 1, kept
    except FileExistsError:
        raise ClockError(f"{sem_path} appeared while the harness made it: refusing to use it") from None
    fds = [os.open(sem_path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)]
    try:
        try:
            fds.append(os.open(shm_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
        except FileExistsError:
            raise ClockError(f"{shm_path} appeared while the harness made it: refusing to use it") from None
        os.ftruncate(fds[1], 64)
        for fd in fds:
            os.fchown(fd, owner.pw_uid, owner.pw_gid)
            os.fchmod(fd, 0o600)
    finally:
        for fd in fds:
            os.close(fd)
    return f"/{name}_sem /{name}_shm"


def _paths(name) -> tuple[str, str]:
    return f"{SHM_DIR}/sem.{name}_sem", f"{SHM_DIR}/{name}_shm"


# make_shared on another machine, run there as root: the same checks as _remove_ours, then the
# semaphore file exactly as glibc's sem_open writes it (x86-64 sem_t: value 1, FUTEX_SHARED flag,
# 32 bytes; the unit tests compare it with sem_open's) and a zeroed 64-byte shm, both made in a
# fresh private dir (mktemp -d) with owner and 0600 set there, then link()ed into place: link never
# follows, replaces or writes into what is already at the name. Exit 3 with one line: refused.
MAKE_SHARED_SH = r"""
set -e; dir=$1; sem=$2; shm=$3; owner=${4:-$(id -un)}
uid=$(id -u "$owner"); me=$(id -u)
refuse() { echo "$1"; exit 3; }
for f in "$sem" "$shm"; do
  if [ -L "$f" ]; then
    refuse "$f is a symlink (planted in the shared $dir?): refusing to use it for libfaketime (remove it)"
  elif [ -e "$f" ]; then
    [ -f "$f" ] || refuse "$f is not a regular file, not the harness's: refusing to use it for libfaketime (remove it)"
    u=$(stat -c %u "$f")
    [ "$u" = "$uid" ] || [ "$u" = "$me" ] || \
      refuse "$f is owned by uid $u, not the harness's: refusing to use it for libfaketime (remove it)"
    rm -f "$f"
  fi
done
tmp=$(mktemp -d "$dir/.hn_faketime.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
umask 077
{ printf '\001\000\000\000\000\000\000\000\200'; head -c 23 /dev/zero; } > "$tmp/sem"
head -c 64 /dev/zero > "$tmp/shm"
chown "$owner:" "$tmp/sem" "$tmp/shm"; chmod 600 "$tmp/sem" "$tmp/shm"
ln -T "$tmp/sem" "$sem" 2>/dev/null || refuse "$sem appeared while the harness made it: refusing to use it"
ln -T "$tmp/shm" "$shm" 2>/dev/null || { rm -f "$sem"; refuse "$shm appeared while the harness made it: refusing to use it"; }
"""


def _remove_ours(path, server_uid):
    """Unlink an earlier skew's file (ours or the server user's); refuse anything else there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise ClockError(f"{path} is a symlink (planted in the shared {SHM_DIR}?): refusing to use it "
                           "for libfaketime (remove it)")
    if not stat.S_ISREG(st.st_mode) or st.st_uid not in (os.geteuid(), server_uid):
        what = "not a regular file" if not stat.S_ISREG(st.st_mode) else f"owned by uid {st.st_uid}"
        raise ClockError(f"{path} is {what}, not the harness's: refusing to use it for libfaketime "
                           "(remove it)")
    os.unlink(path)


def shared_files(cluster, node) -> list[str]:
    """The node's libfaketime files that exist, on the machine that runs its server."""
    paths = _paths(shared_name(cluster, node))
    if remote(node):
        out = _sh(node, 'for f in "$@"; do [ -e "$f" ] || [ -L "$f" ] && echo "$f"; done; true', *paths).stdout
        return out.split()
    return [p for p in paths if os.path.exists(p)]


def remove_shared(cluster, node):
    if remote(node):
        _sh(node, 'rm -f "$@"', *_paths(shared_name(cluster, node)))
        return
    for path in shared_files(cluster, node):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def faketime_env(offset_s: int, shared: str | None = None, lib: str | None = None) -> dict:
    env = {"LD_PRELOAD": lib or libfaketime(), "FAKETIME": f"{offset_s:+d}s", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    if shared:
        env["FAKETIME_SHARED"] = shared
    return env


def is_skewed(node) -> bool:
    """True when the node's server runs under libfaketime (its environment says so), read through
    the node from the /proc of the host that runs it."""
    try:
        text = read_proc(node, "environ")
    except Exception:  # noqa: BLE001 - gone, unreadable or no pid: not skewed
        return False
    return any(v.startswith("FAKETIME=") for v in text.split("\0"))


class ClockSkew(Fault):
    name = "clock-skew"
    family = "clock-skew"
    stop_rank = 3

    def __init__(self, max_offset_s: int = 120, targets=None):
        self.max_offset_s = max_offset_s
        self.target_names = targets
        self.skewed = []

    def applicable(self, cluster):
        hosts = [n for n in cluster.nodes if remote(n)]
        if not hosts:
            return None if libfaketime() else "clock-skew needs libfaketime (apt-get install libfaketime)"
        lacking = [str(getattr(n, "host", n.name)) for n in hosts if not libfaketime(n)]
        if lacking:
            return f"clock-skew needs libfaketime on {', '.join(lacking)} (harness setup --hosts ...)"
        return None

    def start(self, cluster, rng):
        offsets = {}
        with self.healing_on_failure(cluster):
            for n in chosen(cluster, rng, self.target_names, 1):
                offset = rng.choice([-1, 1]) * rng.randint(1, self.max_offset_s)
                self.skewed.append(n)
                n.restart(env=faketime_env(offset, make_shared(cluster, n), libfaketime(n)))
                offsets[n.name] = offset
        return {"fault": self.name, "offsets_s": offsets}

    def stop(self, cluster):
        names = [n.name for n in self.skewed]
        self.heal(cluster)
        return {"fault": self.name, "restored": names}

    def heal(self, cluster):
        """Restart without libfaketime every node whose server runs skewed."""
        def restore(n):
            if n in skewed or (n.alive() and is_skewed(n)):
                n.restart(env={})  # {} clears the env the node would reuse
            if not (n.alive() and is_skewed(n)):
                remove_shared(cluster, n)
        skewed, self.skewed = self.skewed, []
        heal_each(cluster.nodes, restore)
