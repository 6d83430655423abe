"""DB-API connections with connect, read and write timeouts always set.

A paused (SIGSTOP) server accepts TCP connections but never answers, and its kernel still ACKs
our packets, so only a client-side timer notices. PyMySQL has socket read/write timeouts.
psycopg 3 has none for queries: a watchdog shuts the socket down when a call overruns, which
makes the blocked call fail with OperationalError (the connection is then dead, as after any
timeout).
"""
import math
import socket
import threading

import psycopg
import pymysql

from harness import isolation

ISOLATION_SQL = {  # keyed by harness.isolation.LEVELS
    "read-uncommitted": "READ UNCOMMITTED",
    "read-committed": "READ COMMITTED",
    "repeatable-read": "REPEATABLE READ",
    "serializable": "SERIALIZABLE",
}


def isolation_sql(level: str) -> str:
    return ISOLATION_SQL[isolation.check(level)]


def connect_mysql(host, port, user, password, database=None, timeout=5.0, isolation=None,
                  autocommit=False, unix_socket=None):
    conn = pymysql.connect(host=host, port=port, user=user, password=password, database=database,
                           connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout,
                           autocommit=autocommit, unix_socket=unix_socket, charset="utf8mb4")
    if isolation:
        with conn.cursor() as cur:
            cur.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {isolation_sql(isolation)}")
    return conn


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


def connect_postgres(host, port, user, password, database, timeout=5.0, isolation=None, autocommit=False):
    conn = TimeoutConnection.connect(host=host, port=port, user=user, password=password, dbname=database,
                                     connect_timeout=max(1, math.ceil(timeout)), autocommit=autocommit,
                                     cursor_factory=TimeoutCursor)
    conn.op_timeout = timeout
    if isolation:
        conn.isolation_level = {
            "READ UNCOMMITTED": psycopg.IsolationLevel.READ_UNCOMMITTED,
            "READ COMMITTED": psycopg.IsolationLevel.READ_COMMITTED,
            "REPEATABLE READ": psycopg.IsolationLevel.REPEATABLE_READ,
            "SERIALIZABLE": psycopg.IsolationLevel.SERIALIZABLE,
        }[isolation_sql(isolation)]
    return conn
