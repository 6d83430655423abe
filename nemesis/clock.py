"""Clock skew on one node's server process: restart it under libfaketime (LD_PRELOAD + FAKETIME)
with a random offset, and restart it plainly to heal. Only the server's own clock moves (the
machine's clock is shared by everyone on it); monotonic clocks are left alone so timers work."""
import glob

from nemesis.base import Fault, pick

LIB_GLOBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
             "/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1",
             "/usr/local/lib/faketime/libfaketimeMT.so.1")


def libfaketime() -> str | None:
    for pattern in LIB_GLOBS:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    return None


def faketime_env(offset_s: int) -> dict:
    return {"LD_PRELOAD": libfaketime(), "FAKETIME": f"{offset_s:+d}s",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


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
        if self.target_names:
            targets = [n for n in cluster.nodes if n.name in self.target_names]
        else:
            targets = pick(rng, cluster.nodes, 1)
        offsets = {}
        try:
            for n in targets:
                offset = rng.choice([-1, 1]) * rng.randint(1, self.max_offset_s)
                self.skewed.append(n)
                n.restart(env=faketime_env(offset))
                offsets[n.name] = offset
        except BaseException:
            self.heal(cluster)
            raise
        return {"fault": self.name, "offsets_s": offsets}

    def stop(self, cluster):
        names = [n.name for n in self.skewed]
        self.heal(cluster)
        return {"fault": self.name, "restored": names}

    def heal(self, cluster):
        """Restart without libfaketime every node whose server runs skewed."""
        errors = []
        for n in cluster.nodes:
            try:
                if n in self.skewed or (n.alive() and is_skewed(n.pid)):
                    n.restart(env={})  # {} clears the env the node would reuse
            except Exception as e:
                errors.append(e)
        self.skewed = []
        if errors:
            raise errors[0]
