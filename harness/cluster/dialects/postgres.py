"""The PostgreSQL family (single node, primary + hot standbys): what a client needs to know about it.

psycopg 3 has no timeout for queries: a watchdog shuts the socket down when a call overruns, which
makes the blocked call fail with OperationalError (the connection is then dead, as after any
timeout). A paused (SIGSTOP) server accepts TCP connections but never answers, and its kernel
still ACKs our packets, so only a client-side timer notices.
"""
import math
import socket
import threading

import psycopg

from harness.cluster.dialects.common import isolation_sql

NAME = "postgres"
BEGIN = "BEGIN"
SNAPSHOT_READ = ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",)   # one snapshot of the database
TABLE_OPTIONS = ""

STANDBY_NOTE = ("read-only transactions on the hot standby ran at REPEATABLE READ "
                "(PostgreSQL has no SERIALIZABLE on standbys)")


def session_isolation(level: str, standby: bool = False) -> tuple[str, str | None]:
    """(the statement that sets the session's level, a note for the run or None). PostgreSQL offers
    no SERIALIZABLE on a hot standby; its snapshot reads are what a read-only transaction routed
    there gets."""
    words, note = isolation_sql(level), None
    if standby and words == "SERIALIZABLE":
        words, note = "REPEATABLE READ", STANDBY_NOTE
    return f"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL {words}", note


class _Watchdog:
    """Shut the connection's socket down if the guarded block runs longer than `timeout`."""

    def __init__(self, conn, timeout):
        self.conn, self.timeout, self.fired = conn, timeout, False
        self.timer = None

    def _fire(self):
        self.fired = True
        try:
            s = socket.socket(fileno=self.conn.pgconn.socket)
        except OSError:
            return
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            s.detach()  # the fd belongs to libpq

    def __enter__(self):
        if self.timeout:
            self.timer = threading.Timer(self.timeout, self._fire)
            self.timer.daemon = True
            self.timer.start()
        return self

    def __exit__(self, et, ev, tb):
        if self.timer:
            self.timer.cancel()
        if self.fired and et is not None and issubclass(et, psycopg.Error):
            raise psycopg.OperationalError(f"timed out after {self.timeout}s waiting for the server") from ev
        return False


class TimeoutCursor(psycopg.Cursor):
    def execute(self, query, params=None, **kw):
        with _Watchdog(self.connection, self.connection.op_timeout):
            return super().execute(query, params, **kw)

    def executemany(self, query, params_seq, **kw):
        with _Watchdog(self.connection, self.connection.op_timeout):
            return super().executemany(query, params_seq, **kw)

    def fetchone(self):
        with _Watchdog(self.connection, self.connection.op_timeout):
            return super().fetchone()

    def fetchall(self):
        with _Watchdog(self.connection, self.connection.op_timeout):
            return super().fetchall()


class TimeoutConnection(psycopg.Connection):
    op_timeout = None

    def commit(self):
        with _Watchdog(self, self.op_timeout):
            return super().commit()

    def rollback(self):
        with _Watchdog(self, self.op_timeout):
            return super().rollback()
    # Connection.execute runs through TimeoutCursor.execute


def driver_level(level: str) -> psycopg.IsolationLevel:
    """psycopg's name for a level (READ COMMITTED -> IsolationLevel.READ_COMMITTED)."""
    return psycopg.IsolationLevel[isolation_sql(level).replace(" ", "_")]


def connect(host, port, user, password, database=None, timeout=5.0, isolation=None, autocommit=False):
    conn = TimeoutConnection.connect(host=host, port=port, user=user, password=password, dbname=database,
                                     connect_timeout=max(1, math.ceil(timeout)), autocommit=autocommit,
                                     cursor_factory=TimeoutCursor)
    conn.op_timeout = timeout
    if isolation:
        conn.isolation_level = driver_level(isolation)
    return conn


def lock_timeout(seconds: int, admin: bool = False) -> str:
    """Give up a lock wait (row or table) after `seconds`."""
    return f"SET lock_timeout = '{int(seconds)}s'"


def session_id(conn) -> int:
    """What another connection names this one by to cancel its statement."""
    return conn.info.backend_pid


def cancel(session: int) -> tuple[str, tuple]:
    """(sql, params) that cancels the running statement of another session."""
    return "SELECT pg_cancel_backend(%s)", (session,)


# -- errors: SQLSTATEs --------------------------------------------------------------------------
DEFINITE_ABORT = {"40001", "40P01"}  # serialization failure, deadlock: rolled back, even at COMMIT
# the server is gone or going: admin/crash shutdown, cannot connect now, connection failures
CONNECTION_LOST = {"57P01", "57P02", "57P03", "08000", "08003", "08006"}
NODE_UNAVAILABLE = {"57P01", "57P03"}  # shutting down, starting up
CONFLICT = {"40001": "serialization failure", "40P01": "deadlock", "23505": "unique violation",
            "55P03": "lock timeout"}
CANCELLED = {"57014"}  # pg_cancel_backend, statement_timeout


def code(exc: BaseException):
    """The SQLSTATE; None when there is none."""
    return getattr(exc, "sqlstate", None)


def is_connection_error(exc: BaseException) -> bool:
    if not (type(exc).__module__ or "").startswith("psycopg"):
        return False
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return False  # statement_timeout: the statement was cancelled, the session lives on
    if isinstance(exc, psycopg.OperationalError) and not code(exc):
        return True  # no SQLSTATE: the server never answered (connection gone, client timeout)
    return isinstance(exc, psycopg.InterfaceError) or (code(exc) or "") in CONNECTION_LOST


def error_kind(exc: BaseException) -> str | None:
    """"cancelled" | "conflict" | "error" for a server error of this family, None for any other."""
    if isinstance(exc, psycopg.Error) and code(exc):
        return "cancelled" if code(exc) in CANCELLED else "conflict" if code(exc) in CONFLICT else "error"
    return None


# -- replication status -------------------------------------------------------------------------
IN_RECOVERY = "SELECT pg_is_in_recovery()"  # true on a standby
STREAMING_STANDBYS = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"  # on the primary
CURRENT_LSN = "SELECT pg_current_wal_lsn()::text"
REPLAYED = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"  # has this standby replayed up to an LSN
