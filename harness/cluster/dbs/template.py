"""A cache of freshly initialised data directories (mariadb-install-db, initdb), per server version.

Initialising costs 0.7-2 s of a 2-core machine; copying the cached result costs ~0.05 s. Only for
backends whose nodes share the host's filesystem (netns); others initialise in place.
"""
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


def seed(node, key: str, build) -> bool:
    """Copy template `key` to node.datadir, building it first with build(dir) if needed.

    Returns False when the backend cannot use host-side templates (the caller initialises in place).
    """
    if not getattr(node, "shares_host_fs", False):
        return False
    state.ensure_data_root()
    root = state.private_dir(templates_dir(), 0o711)  # the servers' users build and read below it
    path = root / key
    with open(state.open_lock_file(root / ".lock"), "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time, machine-wide for this data root
        try:
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
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    node.copy_tree(None, str(path), node.datadir)
    return True


def remove_all() -> None:
    shutil.rmtree(templates_dir(), ignore_errors=True)
