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


def libfaketime() -> str | None:
    for pattern in LIB_GLOBS:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    return None


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
    sem_path, shm_path = f"{SHM_DIR}/sem.{name}_sem", f"{SHM_DIR}/{name}_shm"
    user = getattr(getattr(cluster, "dbdef", None), "server_user", None)
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
    name = shared_name(cluster, node)
    return [p for p in (f"{SHM_DIR}/sem.{name}_sem", f"{SHM_DIR}/{name}_shm") if os.path.exists(p)]


def remove_shared(cluster, node):
    for path in shared_files(cluster, node):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def faketime_env(offset_s: int, shared: str | None = None) -> dict:
    env = {"LD_PRELOAD": libfaketime(), "FAKETIME": f"{offset_s:+d}s", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    if shared:
        env["FAKETIME_SHARED"] = shared
    return env


def is_skewed(pid: int) -> bool:
    """True when the process runs under libfaketime (its environment says so)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return any(v.startswith(b"FAKETIME=") for v in f.read().split(b"\0"))
    except OSError:
        return False


class ClockSkew(Fault):
    name = "clock-skew"
    family = "clock-skew"
    stop_rank = 3

    def __init__(self, max_offset_s: int = 120, targets=None):
        self.max_offset_s = max_offset_s
        self.target_names = targets
        self.skewed = []

    def applicable(self, cluster):
        return None if libfaketime() else "clock-skew needs libfaketime (apt-get install libfaketime)"

    def start(self, cluster, rng):
        offsets = {}
        with self.healing_on_failure(cluster):
            for n in chosen(cluster, rng, self.target_names, 1):
                offset = rng.choice([-1, 1]) * rng.randint(1, self.max_offset_s)
                self.skewed.append(n)
                n.restart(env=faketime_env(offset, make_shared(cluster, n)))
                offsets[n.name] = offset
        return {"fault": self.name, "offsets_s": offsets}

    def stop(self, cluster):
        names = [n.name for n in self.skewed]
        self.heal(cluster)
        return {"fault": self.name, "restored": names}

    def heal(self, cluster):
        """Restart without libfaketime every node whose server runs skewed."""
        def restore(n):
            if n in skewed or (n.alive() and is_skewed(n.pid)):
                n.restart(env={})  # {} clears the env the node would reuse
            if not (n.alive() and is_skewed(n.pid)):
                remove_shared(cluster, n)
        skewed, self.skewed = self.skewed, []
        heal_each(cluster.nodes, restore)
