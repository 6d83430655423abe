"""A cache of freshly initialised data directories (mariadb-install-db, initdb), per server version.

Initialising costs 0.7-2 s of a 2-core machine; copying the cached result costs ~0.05 s. Only for
backends whose nodes share the host's filesystem (netns); others initialise in place.
"""
import contextlib
import fcntl
import functools
import os
import re
import shutil
import subprocess

from harness.cluster import state
from harness.errors import ClusterError


def templates_dir():
    return state.data_root() / "templates"


@functools.cache
def version_tag(argv: tuple) -> str:
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"\d+\.\d+(\.\d+)?", out)
    return m.group(0) if m else "unknown"


@contextlib.contextmanager
def locked():
    """The templates dir, held under its lock: one builder or remover at a time, machine-wide for
    this data root. remove_all() deletes the lock file too, so a waiter that then gets the lock of
    a deleted file starts over with the new one."""
    while True:
        state.ensure_data_root()
        root = state.private_dir(templates_dir(), 0o711)  # the servers' users build and read below it
        with open(state.open_lock_file(root / ".lock"), "r+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    current = os.stat(root / ".lock").st_ino
                except FileNotFoundError:
                    current = None
                if current == os.fstat(lock.fileno()).st_ino:
                    yield root
                    return
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def seed(node, key: str, build) -> bool:
    """Copy template `key` to node.datadir, building it first with build(dir) if needed.

    Returns False when the backend cannot use host-side templates (the caller initialises in place).
    """
    if not getattr(node, "shares_host_fs", False):
        return False
    with locked() as root:  # also while copying: remove_all() must not pull it away mid-copy
        path = root / key
        if not path.is_dir():
            for stale in root.glob(f".{key}.tmp*"):  # a builder that was killed mid-way
                shutil.rmtree(stale, ignore_errors=True)
            tmp = root / f".{key}.tmp{os.getpid()}"
            try:
                build(str(tmp))
            except subprocess.SubprocessError as e:
                shutil.rmtree(tmp, ignore_errors=True)
                raise ClusterError(f"initialising a {key} data directory failed: {e}") from None
            os.rename(tmp, path)
        node.copy_tree(None, str(path), node.datadir)
    return True


def remove_all() -> None:
    """Remove every template, waiting for a builder or a copy in progress (the template lock)."""
    if not templates_dir().is_dir():
        return
    with locked() as root:
        for entry in root.iterdir():
            if entry.name != ".lock":
                shutil.rmtree(entry, ignore_errors=True)
        os.unlink(root / ".lock")
        with contextlib.suppress(OSError):
            root.rmdir()  # unless a new waiter already made its own lock file here
