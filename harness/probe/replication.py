"""Has the rest of the cluster applied what a node committed? The database definition knows how.

- Galera (causal_reads): a read with wsrep_sync_wait=1 waits until the node has applied every write
  set the cluster committed before it (the backend's admin connections are opened that way).
- Otherwise commit_position on the origin, wait_applied on each other node: MariaDB master-master
  MASTER_GTID_WAIT for the origin's own GTID domain, PostgreSQL standby replay LSN >= the primary's.
Each wait ends with None when the node caught up, else a one-line note (timeout, replication stopped).
"""
from __future__ import annotations

from harness.cluster.util import scalar


def is_async(cluster) -> bool:
    """Can a read on another node miss a commit that has already returned? Then cross-node tests
    also run `settled` (after the others caught up)."""
    return len(cluster.nodes) >= 2 and cluster.dbdef.reads_may_lag(cluster)


def catch_up(dbdef, admin, origin, others, table, timeout) -> list[str]:
    """Wait until every node in `others` applied what `origin` committed; `admin(name)` is a node's
    admin connection, `table` one the causal read may read. Notes "node: why" for those that did not."""
    if dbdef.causal_reads():
        for n in others:
            scalar(admin(n), f"SELECT COUNT(*) FROM {table}")  # causal: waits for the node to apply
        return []
    position = dbdef.commit_position(admin(origin))
    notes = []
    for n in others:
        note = dbdef.wait_applied(admin(n), position, timeout)
        if note:
            notes.append(f"{n}: {note}")
    return notes
