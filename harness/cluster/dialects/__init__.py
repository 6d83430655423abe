"""SQL families: everything a client must know that differs between MariaDB and PostgreSQL.

One module per family (mysql, postgres), each with the same names: NAME, BEGIN, SNAPSHOT_READ,
TABLE_OPTIONS,
`connect(...)` (connect, read and write timeouts always set), `session_isolation(level)`,
`lock_timeout(seconds)`, `session_id(conn)` / `cancel(session)`, the error
codes (DEFINITE_ABORT, CONNECTION_LOST, NODE_UNAVAILABLE, CONFLICT, CANCELLED) with
`is_connection_error` / `error_kind`, and how to read replication state. A database definition names
its family (`DbDef.dialect`); a new database on an existing family needs nothing here.

The error questions below take only the exception: which driver raised it says which family it is.
"""
import socket

from harness.cluster.dialects import mysql, postgres
from harness.cluster.dialects.common import LEVEL_SQL, isolation_sql

DIALECTS = {mysql.NAME: mysql, postgres.NAME: postgres}


def get(name: str):
    if name not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {name!r} (one of {', '.join(DIALECTS)})")
    return DIALECTS[name]


def is_connection_error(exc: BaseException) -> bool:
    """True when the connection is lost or timed out (it must be thrown away; the outcome is open)."""
    if isinstance(exc, (socket.timeout, TimeoutError, ConnectionError, BrokenPipeError)):
        return True
    return any(d.is_connection_error(exc) for d in DIALECTS.values())


def is_node_unavailable(exc: BaseException) -> bool:
    """True when the node itself cannot serve (the failover router then moves on)."""
    return (is_connection_error(exc) or mysql.code(exc) in mysql.NODE_UNAVAILABLE
            or postgres.code(exc) in postgres.NODE_UNAVAILABLE)


def is_definite_abort(exc: BaseException) -> bool:
    """True when the error proves the transaction was rolled back (safe to record `fail`)."""
    return mysql.code(exc) in mysql.DEFINITE_ABORT or postgres.code(exc) in postgres.DEFINITE_ABORT


def error_kind(exc: BaseException) -> str:
    """"cancelled" | "conflict" | "error": why a database refused a statement (the probe's words)."""
    for d in DIALECTS.values():
        kind = d.error_kind(exc)
        if kind:
            return kind
    return "error"


__all__ = ["DIALECTS", "LEVEL_SQL", "get", "isolation_sql", "is_connection_error", "is_node_unavailable",
           "is_definite_abort", "error_kind", "mysql", "postgres"]
