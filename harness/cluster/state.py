"""The record of everything a cluster creates, written BEFORE it is created.

One JSON file per cluster under `$HARNESS_STATE_DIR/clusters/` (default /var/lib/engine-harness).
Because every name (namespaces, veths, data dirs) is derived and saved before the first resource
exists, `cleanup_all()` can remove all of it even after the harness was killed with SIGKILL.
Kernel resources (subnets, namespace names) are shared by every state dir on the machine, so
allocation happens under one machine-wide lock and also checks what the kernel already has.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import stat
import subprocess
import threading
import time
from pathlib import Path

from harness.errors import UsageError

DEFAULT_STATE_DIR = "/var/lib/engine-harness"
GLOBAL_LOCK = "/run/lock/engine-harness.lock"  # machine-wide: subnets and netns names are global
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
SUBNETS = range(1, 251)  # 10.77.<k>.0/24; 10.78.x.x is the docker backend's


def state_dir() -> Path:
    return Path(os.environ.get("HARNESS_STATE_DIR", DEFAULT_STATE_DIR))


def private_dir(path, mode: int = 0o700) -> Path:
    """`path` as a directory of ours with exactly `mode`: created so, or an existing one verified
    (not a symlink, owned by this user) and tightened. UsageError naming the path otherwise: a
    directory someone else planted (e.g. on a shared tmpfs) would let them swap what root writes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        what = "a symlink" if os.path.islink(path) else f"not a usable directory ({e.strerror})"
        raise UsageError(f"{path} is {what}: refusing to use it (remove it)") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise UsageError(f"{path} is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()}): "
                             "refusing to use it (remove it)")
        if stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return path


def clusters_dir() -> Path:
    """The records (they hold the database password): 0700 in a 0700 state dir."""
    private_dir(state_dir())
    return private_dir(state_dir() / "clusters")


def data_root() -> Path:
    """Where node data dirs live: HARNESS_DATA_DIR, else /dev/shm/engine-harness (tmpfs), else <state dir>/data.

    tmpfs because init and commits are fsync-bound and the machine's disk is slow and shared
    (mariadb-install-db: 4.6 s on disk, 0.6 s on tmpfs). Killing a server (SIGKILL) keeps its
    written data either way: page cache and tmpfs both outlive the process.
    """
    if os.environ.get("HARNESS_DATA_DIR"):
        return Path(os.environ["HARNESS_DATA_DIR"])
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        if str(state_dir()) == DEFAULT_STATE_DIR:
            return Path("/dev/shm/engine-harness")
        # a private state dir (tests) gets private data: same cluster names must not collide
        return Path("/dev/shm") / ("engine-harness-" + hashlib.sha1(str(state_dir()).encode()).hexdigest()[:10])
    return state_dir() / "data"


def fs_type(path) -> str | None:
    """The type of the filesystem holding `path` ("tmpfs", "ext4", ...), from /proc/self/mountinfo."""
    path = os.path.realpath(str(path))
    best, kind = "", None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                mount = fields[4].replace("\\040", " ") if len(fields) > 4 else ""
                if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                    best, kind = mount, (right.split() or [None])[0]
    except OSError:
        return None
    return kind


def ensure_data_root() -> Path:
    """data_root(), created or verified ours (it usually sits on the world-writable /dev/shm, where
    anyone could plant it first). Mode 0711: the servers (mysql, postgres) traverse it to their data
    dirs below, nobody else can list it or create anything in it."""
    return private_dir(data_root(), 0o711)


def record_path(name: str) -> Path:
    return clusters_dir() / f"{name}.json"


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise UsageError(f"bad cluster name {name!r}: use 1-24 of a-z, 0-9, '-' (starting with a letter or digit)")
    return name


def new_record(name: str, db: str, backend: str, roles: list[str], knobs: dict, local_data: bool = True,
               **extra) -> dict:
    """A cluster's record before anything of it exists: credentials, data dir, one entry per node.
    local_data=False: the nodes' files live elsewhere (ssh hosts): no data dir here, node homes None."""
    home = str(ensure_data_root() / name) if local_data else None
    return {
        "name": name, "db": db, "backend": backend, "status": "creating", "created": time.time(),
        "owner_pid": os.getpid(), "owner_start": process_start(os.getpid()), "knobs": knobs, "data_dir": home, **extra,
        "user": "harness", "password": secrets.token_hex(12), "database": "harness",
        "repl_password": secrets.token_hex(12),  # replication user (async topologies), independent
        "nodes": [{"name": f"n{i}", "index": i, "role": role, "home": home and os.path.join(home, f"n{i}"),
                   "pid": None} for i, role in enumerate(roles, 1)],
    }


def process_start(pid) -> int | None:
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22); None when it
    is gone or a zombie. Together with the PID it names one process: PIDs are reused."""
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _boot_time() -> float:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def live_owner(record: dict) -> int | None:
    """The PID of the process that made the cluster (its run) while that very process still runs,
    else None. Same PID and same start time; a record without owner_start (older harness) trusts a
    process that started before the record was written."""
    pid = record.get("owner_pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    start = process_start(pid)
    if start is None:
        return None
    if record.get("owner_start") is not None:
        return pid if start == record["owner_start"] else None
    started_at = _boot_time() + start / os.sysconf("SC_CLK_TCK")
    return pid if started_at <= float(record.get("created") or 0) + 1 else None


def save(record: dict) -> None:
    """Atomically replace the cluster's record: a fresh 0600 file (it holds the password), renamed."""
    path = record_path(record["name"])
    tmp = path.with_suffix(f".tmp{os.getpid()}-{threading.get_ident()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # this name is this thread's alone: a leftover of a killed harness with our PID
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:   # closes fd
            os.fchmod(f.fileno(), 0o600)  # the umask may have narrowed 0600 only
            f.write(json.dumps(record, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read(name: str) -> dict | None:
    try:
        return json.loads(record_path(name).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise UsageError(f"{record_path(name)}: unreadable cluster record ({e})") from None


def remove(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        record_path(name).unlink()


def all_records() -> list[dict]:
    out = []
    for p in sorted(clusters_dir().glob("*.json")):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue  # a half-written tmp never has .json; anything else unreadable is skipped
    return out


def open_lock_file(path) -> int:
    """An fd of the lock file `path` (created 0600 if missing), never through a symlink and only when
    the file is ours: /run/lock is world-writable, anyone could plant the name first."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        what = "a symlink" if os.path.islink(path) else f"not usable ({e.strerror})"
        raise UsageError(f"lock file {path} is {what}: refusing to use it (remove it)") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(st.st_mode) else f"owned by uid {st.st_uid}"
        raise UsageError(f"{path} is {what}, not this user's (uid {os.geteuid()}): refusing to use it "
                         "as a lock (remove it)")
    if stat.S_IMODE(st.st_mode) != 0o600:
        os.fchmod(fd, 0o600)
    return fd


@contextlib.contextmanager
def global_lock(timeout: float = 30.0):
    os.makedirs(os.path.dirname(GLOBAL_LOCK), exist_ok=True)
    with os.fdopen(open_lock_file(GLOBAL_LOCK), "r+") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise UsageError(f"could not lock {GLOBAL_LOCK} within {timeout:.0f}s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _kernel_subnets_in_use() -> set[int]:
    """10.77.k.x subnets the kernel already has (any namespace we can see by name, and the root ns)."""
    used = set()
    out = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, timeout=10).stdout
    out += subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, timeout=10).stdout
    for m in re.finditer(r"\b10\.77\.(\d+)\.", out):
        used.add(int(m.group(1)))
    for ns in netns_names():
        m = re.match(r"^eh(\d+)-", ns)
        if m:
            used.add(int(m.group(1)))
    return used


def netns_names() -> list[str]:
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def allocate(record: dict, fill) -> dict:
    """Pick a free subnet for `record` and save it, atomically with respect to every harness on the machine.

    `fill(record)` derives every name (namespaces, veths, addresses, data dirs) from
    record["subnet"]; the result is saved here, before anything is created.
    """
    check_name(record["name"])
    with global_lock():
        if read(record["name"]) is not None:
            raise UsageError(f"a cluster named {record['name']!r} already exists "
                             f"(harness cluster down --name {record['name']})")
        taken = {r.get("subnet") for r in all_records()} | _kernel_subnets_in_use()
        free = [k for k in SUBNETS if k not in taken]
        if not free:
            raise UsageError("no free 10.77.x.0/24 subnet: run `harness cleanup`")
        record["subnet"] = free[0]
        fill(record)
        save(record)
    return record
