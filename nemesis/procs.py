"""Helper processes the nemesis starts (the NFQUEUE delayer): remembered by PID in a state file so
`harness cleanup` can stop them after a crash, and found by network namespace for verification."""
import json
import os
import signal
import time
from pathlib import Path

DELAYER_MODULE = "nemesis.delayer"


def state_dir() -> Path:
    return Path(os.environ.get("HARNESS_STATE_DIR", "/var/lib/engine-harness")) / "nemesis"


def remember(pid: int, netns: str, node: str):
    d = state_dir()
    d.mkdir(parents=True, exist_ok=True)
    (d / f"delayer-{pid}.json").write_text(json.dumps({"pid": pid, "netns": netns, "node": node}))


def forget(pid: int):
    try:
        (state_dir() / f"delayer-{pid}.json").unlink()
    except FileNotFoundError:
        pass


def remembered() -> list[dict]:
    found = []
    for f in sorted(state_dir().glob("delayer-*.json")):
        try:
            found.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            f.unlink(missing_ok=True)
    return found


def is_delayer(pid: int, netns: str | None = None) -> bool:
    """True when `pid` is still our delayer (guards against PID reuse) and, if given, in `netns`."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if DELAYER_MODULE.encode() not in cmd:
            return False
        return netns is None or os.readlink(f"/proc/{pid}/ns/net") == netns
    except OSError:
        return False


def delayers_in(netns: str, queue: int | None = None) -> list[int]:
    """PIDs of delayer processes living in the network namespace `netns` ('net:[inode]'); with
    `queue`, only those bound to that NFQUEUE number (the lag fault's or the network's)."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and is_delayer(int(p.name), netns) and (queue is None or _queue_of(int(p.name)) == queue):
            pids.append(int(p.name))
    return pids


def _queue_of(pid: int) -> int | None:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return int(argv[argv.index(b"--queue") + 1])
    except (OSError, ValueError, IndexError):
        return None


def terminate(pid: int, timeout: float = 5.0) -> bool:
    """SIGTERM (the delayer accepts what it holds and unbinds), then SIGKILL after `timeout`.
    Reaps it when it is our child. Returns True when it is gone."""
    if not is_delayer(pid):
        forget(pid)
        return True
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        forget(pid)
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            forget(pid)
            return True
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    time.sleep(0.05)
    gone = _gone(pid)
    if gone:
        forget(pid)
    return gone


def _gone(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    except ChildProcessError:
        pass  # not our child: look at /proc instead
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")
    except (OSError, IndexError):
        return True
