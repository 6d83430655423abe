"""Has the rest of the cluster applied what a node committed? One wait per topology.

- Galera: a read with wsrep_sync_wait=1 waits until the node has applied every write set the
  cluster committed before it (the backend's admin connections are opened that way).
- MariaDB master-master: MASTER_GTID_WAIT for the origin's own GTID domain on the peer (given up at
  once when the peer's applier waits for a row lock one of the probe's open sessions holds).
- PostgreSQL standby: poll until pg_last_wal_replay_lsn() reaches the primary's current WAL LSN.
Each returns None when the node caught up, else a one-line note (timeout, replication stopped).
"""
from __future__ import annotations

import time

from harness.cluster.dialects import mysql, postgres


def is_async(cluster) -> bool:
    """Can a read on another node miss a commit that has already returned? Then cross-node tests
    also run `settled` (after the others caught up). The database definition knows."""
    return len(cluster.nodes) >= 2 and cluster.dbdef.reads_may_lag(cluster)


def _scalar(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
        return row[0] if row else None


def galera_caught_up(conn, table) -> None:
    _scalar(conn, f"SELECT COUNT(*) FROM {table}")  # causal: waits for the node to apply


def mm_position(conn) -> str | None:
    """The newest GTID this master wrote in its own domain."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@gtid_domain_id, @@gtid_binlog_pos")
        domain, pos = cur.fetchone()
    for gtid in (pos or "").split(","):
        if gtid.strip().startswith(f"{domain}-"):
            return gtid.strip()
    return None


def mm_wait(conn, gtid, timeout) -> str | None:
    """Wait in short slices, so that a replica that stopped on an error is reported at once."""
    if gtid is None:
        return None
    deadline = time.monotonic() + timeout
    while True:
        if _scalar(conn, "SELECT MASTER_GTID_WAIT(%s, 0.05)", (gtid,)) == 0:
            return None
        st = mysql.replica_status(conn)
        if st.sql_errno:
            return f"replication stopped: {st.get('Last_SQL_Error')}"
        if _applier_waits_for_lock(conn):  # it waits for a probe session that is still open: no use waiting
            return f"did not apply {gtid}: its replication applier waits for a row lock an open transaction holds"
        if time.monotonic() > deadline:
            return f"did not apply {gtid} within {timeout:g} s"


def _applier_waits_for_lock(conn) -> bool:
    return bool(_scalar(conn, "SELECT COUNT(*) FROM information_schema.innodb_trx t JOIN "
                              "information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
                              "WHERE t.trx_state = 'LOCK WAIT' AND p.command LIKE 'Slave%%'"))


def pg_position(conn) -> str:
    return _scalar(conn, postgres.CURRENT_LSN)


def pg_wait(conn, lsn, timeout) -> str | None:
    deadline = time.monotonic() + timeout
    while True:
        if _scalar(conn, postgres.REPLAYED, (lsn,)):
            return None
        if time.monotonic() > deadline:
            return f"did not replay {lsn} within {timeout:g} s"
        time.sleep(0.005)
