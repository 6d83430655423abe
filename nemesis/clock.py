"""Clock skew on one node's server process: restart it under libfaketime (LD_PRELOAD + FAKETIME)
with a random offset, and restart it plainly to heal. Only the server's own clock moves (the
machine's clock is shared by everyone on it); monotonic clocks are left alone so timers work."""
import glob
import os
import re

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


def shared_name(cluster, node) -> str:
    return "hn_faketime_" + re.sub(r"[^A-Za-z0-9_-]", "_", f"{cluster.name}_{node.name}")


def make_shared(cluster, node) -> str:
    """The semaphore + shared memory libfaketime keeps per process tree, made by us, world-writable.

    Left to itself libfaketime creates them in the first process that loads it, as that process's
    user: a server started as root that switches user before exec'ing (setpriv ... postgres, same
    PID) then cannot open its own semaphore and dies. Handing it FAKETIME_SHARED avoids that."""
    import _multiprocessing  # the stdlib's sem_open; a glibc POSIX named semaphore
    name = shared_name(cluster, node)
    sem_path, shm_path = f"{SHM_DIR}/sem.{name}_sem", f"{SHM_DIR}/{name}_shm"
    if not os.path.exists(sem_path):
        _multiprocessing.SemLock(1, 1, 1, f"/{name}_sem", False)  # kind SEMAPHORE, value 1, kept
    fd = os.open(shm_path, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        if os.fstat(fd).st_size < 64:
            os.ftruncate(fd, 64)
    finally:
        os.close(fd)
    for path in (sem_path, shm_path):
        os.chmod(path, 0o666)
    return f"/{name}_sem /{name}_shm"


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
