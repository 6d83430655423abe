"""The MySQL family (MariaDB, Galera, master-master): what a client needs to know about it."""
import pymysql

from harness.cluster.dialects.common import isolation_sql

NAME = "mysql"
BEGIN = "START TRANSACTION"
# one read-only snapshot of the whole database (the final dump of a node)
SNAPSHOT_READ = ("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                 "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
TABLE_OPTIONS = " ENGINE=InnoDB"  # transactional, row locks (whatever the server's default engine)


def session_isolation(level: str, standby: bool = False) -> tuple[str, str | None]:
    """(the statement that sets the session's level, a note for the run or None)."""
    return f"SET SESSION TRANSACTION ISOLATION LEVEL {isolation_sql(level)}", None


def connect(host, port, user, password, database=None, timeout=5.0, isolation=None, autocommit=False):
    """A PyMySQL connection with connect, read and write timeouts set: a paused (SIGSTOP) server
    accepts TCP connections but never answers, and only a client-side timer notices."""
    conn = pymysql.connect(host=host, port=port, user=user, password=password, database=database,
                           connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout,
                           autocommit=autocommit, charset="utf8mb4")
    if isolation:
        with conn.cursor() as cur:
            cur.execute(session_isolation(isolation)[0])
    return conn


def lock_timeout(seconds: int, admin: bool = False) -> str:
    """Give up a lock wait after `seconds`: row locks in a session; metadata locks (what DDL and
    TRUNCATE wait for) on an admin connection."""
    return f"SET SESSION {'lock_wait_timeout' if admin else 'innodb_lock_wait_timeout'} = {int(seconds)}"


def session_id(conn) -> int:
    """What another connection names this one by to cancel its statement."""
    return conn.thread_id()


def cancel(session: int) -> tuple[str, tuple]:
    """(sql, params) that cancels the running statement of another session."""
    return f"KILL QUERY {int(session)}", ()


# -- errors: MariaDB's error numbers ------------------------------------------------------------
# "this transaction definitely did not commit", even in answer to COMMIT: deadlock / Galera
# certification failure, lock wait timeout
DEFINITE_ABORT = {1213, 1205}
# client-side codes of PyMySQL/MySQL for a connection that is gone or timed out: the outcome is open
CONNECTION_LOST = {2002, 2003, 2006, 2013, 2014, 2027, 2055, 0}
# the node itself cannot serve (a load balancer's health check would take it out): Galera
# non-primary (1047 WSREP not ready), server shutting down (1053)
NODE_UNAVAILABLE = {1047, 1053}
# refusals of a statement because of another transaction (the probe's "conflict")
CONFLICT = {1213: "deadlock or certification failure", 1205: "lock wait timeout",
            1062: "duplicate key", 1020: "record changed since last read"}
CANCELLED = {1317}  # KILL QUERY


def code(exc: BaseException):
    """The error number (PyMySQL's first arg); None when there is none."""
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_connection_error(exc: BaseException) -> bool:
    if not (type(exc).__module__ or "").startswith("pymysql"):
        return False
    if isinstance(exc, pymysql.err.InterfaceError):
        return True
    return isinstance(exc, pymysql.err.OperationalError) and code(exc) in CONNECTION_LOST


def error_kind(exc: BaseException) -> str | None:
    """"cancelled" | "conflict" | "error" for a server error of this family, None for any other."""
    if isinstance(exc, pymysql.MySQLError) and code(exc) is not None:
        return "cancelled" if code(exc) in CANCELLED else "conflict" if code(exc) in CONFLICT else "error"
    return None


# -- replication status -------------------------------------------------------------------------
REPLICA_STATUS = "SHOW SLAVE STATUS"


class ReplicaStatus:
    """One row of SHOW SLAVE STATUS by column name (empty on a server that replicates from nobody).
    The same whether read over PyMySQL (typed values) or from the mariadb client (text)."""

    def __init__(self, fields: dict):
        self.fields = fields

    def get(self, key, default=None):
        return self.fields.get(key, default)

    @property
    def io_running(self):
        return self.fields.get("Slave_IO_Running")

    @property
    def sql_running(self):
        return self.fields.get("Slave_SQL_Running")

    @property
    def running(self) -> bool:
        return (self.io_running, self.sql_running) == ("Yes", "Yes")

    @property
    def sql_errno(self) -> int:
        return int(self.fields.get("Last_SQL_Errno") or 0)

    @property
    def error(self) -> str | None:
        """The applier's last error, else the receiver's."""
        return self.fields.get("Last_SQL_Error") or self.fields.get("Last_IO_Error") or None

    @property
    def broken(self) -> bool:
        """The applier stopped on an error: waiting will not heal it."""
        return self.sql_running == "No" and self.sql_errno != 0

    @property
    def apply_stopped(self) -> bool:
        """The applier was stopped on purpose (STOP SLAVE SQL_THREAD), not by an error."""
        return self.sql_running == "No" and self.sql_errno == 0

    @property
    def delay_s(self) -> int:
        """MASTER_DELAY in force."""
        return int(self.fields.get("SQL_Delay") or 0)


def replica_status(conn) -> ReplicaStatus:
    """SHOW SLAVE STATUS over a DB-API connection."""
    with conn.cursor() as cur:
        cur.execute(REPLICA_STATUS)
        row = cur.fetchone()
        names = [d[0] for d in cur.description] if cur.description else []
    return ReplicaStatus(dict(zip(names, row or ())))


def parse_replica_status(text: str) -> ReplicaStatus:
    """SHOW SLAVE STATUS as the mariadb client prints it in batch mode (-B): a line of column names,
    a line of values, tab-separated. An empty value counts as absent."""
    lines = text.splitlines()
    if len(lines) < 2:
        return ReplicaStatus({})
    return ReplicaStatus({k: v for k, v in zip(lines[0].split("\t"), lines[1].split("\t")) if v != ""})
