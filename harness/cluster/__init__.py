"""The cluster layer: real database clusters on one machine (see docs/INTERNALS.md "Cluster layer").

    cluster = up(db="galera", nodes=3, backend="netns", name=None, knobs={...})   # waits until ready
    cluster = load(name); down(name); cleanup_all(); list_clusters()
"""
import contextlib
import os
import secrets
import time

from harness.backends import BACKENDS, DEFAULT as DEFAULT_BACKEND
from harness.cluster import netns, state
from harness.cluster.core import Cluster
from harness.cluster.dbs import DB_NAMES, template
from harness.cluster.dbs import get as get_db
from harness.errors import ClusterError, UsageError

__all__ = ["up", "load", "down", "cleanup_all", "list_clusters", "Cluster", "DB_NAMES", "BACKENDS"]


def _docker_backend():
    try:
        from harness.backends import docker  # noqa: PLC0415 - optional, built separately
    except ImportError as e:
        raise UsageError(f"the docker backend is not available ({e})") from None
    return docker


def _ssh_backend():
    from harness.backends import ssh  # noqa: PLC0415 - only when used
    return ssh


def up(db: str, nodes: int | None = None, backend: str = DEFAULT_BACKEND, name: str | None = None,
       knobs: dict | None = None, timeout: float = 120.0) -> Cluster:
    """Create a cluster and wait until it is ready. On any failure (or Ctrl-C) nothing is left behind."""
    dbdef = get_db(db)
    if backend == "docker":
        return _docker_backend().up(db=db, nodes=nodes, name=name, knobs=knobs, timeout=timeout)
    if backend == "ssh":  # hosts: --hosts (HARNESS_SSH_HOSTS), see harness/backends/ssh_config.py
        return _ssh_backend().up(db=db, nodes=nodes, name=name, knobs=knobs, timeout=timeout)
    if backend != "netns":
        raise UsageError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    knobs = dbdef.validate_knobs(knobs)
    count = dbdef.node_count(nodes, knobs)
    name = state.check_name(name or f"{db}-{secrets.token_hex(3)}")
    if os.geteuid() != 0:
        raise UsageError("the netns backend needs root (network namespaces)")
    dbdef.check_installed()
    record = state.new_record(name, db, "netns", dbdef.roles(count), knobs)
    state.allocate(record, lambda r: netns.fill_names(r, count))
    try:
        netns.create(record, state.save)
        cluster = Cluster(record, dbdef)
        cluster.create(timeout)
        return cluster
    except BaseException:
        try:
            netns.destroy(record)
            state.remove(name)
        except Exception:  # noqa: BLE001 - the original error matters more; cleanup_all retries later
            pass
        raise


def load(name: str) -> Cluster:
    """Re-attach to a running cluster from its state record."""
    record = state.read(state.check_name(name))
    if record is None:
        raise UsageError(f"no cluster named {name!r} (see `harness cluster status`)")
    if record.get("backend") == "docker":
        return _docker_backend().load(name)
    if record.get("backend") == "ssh":
        return _ssh_backend().load(name)
    return Cluster(record, get_db(record["db"]))


def list_clusters() -> list[dict]:
    return state.all_records()


def down(name: str) -> None:
    """Tear a cluster down: processes, namespaces, veths, data dir, record."""
    record = state.read(state.check_name(name))
    if record is None:
        raise UsageError(f"no cluster named {name!r} (see `harness cluster status`)")
    _destroy(record)


def _destroy(record: dict) -> None:
    if record.get("backend") == "docker":
        _docker_backend().destroy(record)
    elif record.get("backend") == "ssh":
        _ssh_backend().destroy(record)
    else:
        netns.destroy(record)
    state.remove(record["name"])


def cleanup_all(caches: bool = False, keep=()) -> list[str]:
    """Remove every cluster this state dir ever recorded (works after the harness was SIGKILLed),
    except those named in `keep`; with caches=True also the cached initialised data dirs.

    Returns the names removed. Raises ClusterError naming the ones that could not be removed.
    """
    removed, failed = [], []
    for record in state.all_records():
        if record.get("name") in keep:
            continue
        try:
            _destroy(record)
            removed.append(record["name"])
        except (ClusterError, UsageError, OSError) as e:
            failed.append(f"{record.get('name')}: {e}")
    if failed:
        raise ClusterError("cleanup incomplete: " + "; ".join(failed))
    for stale in state.clusters_dir().glob("*.tmp*"):  # records half-written when a harness died
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > 60:  # not one being written right now
                stale.unlink()
    if caches:
        template.remove_all()  # under the template lock: a kept cluster's run may be seeding a node
        with contextlib.suppress(OSError):
            state.data_root().rmdir()  # only when empty: other state dirs' clusters may live there
    return removed
