"""An in-memory "atom" cluster (as Jepsen's atom-db): every node serves ONE shared in-process SQLite
database, one transaction at a time, so the runner (routing, pacing, info -> new process, the final
phase, results.json) runs end to end in a unit test, without root or a real database.

    cluster = AtomCluster(nodes=3)                 # what harness.runner.run_test(spec, cluster=...) uses
    cluster.nodes[0].down = True                   # connect refused; open connections lose the server
    cluster.nodes[0].lose_commit(after=5, then_down=True)   # the 6th COMMIT from now applies, its
                                                             # answer is lost (info), the node dies
    cluster.nodes[0].lie_every = 4                 # a planted bug: every 4th COMMIT rolls back, says ok

Strictly serializable by construction: one process-wide lock is held from BEGIN to COMMIT/ROLLBACK
(a statement outside a transaction takes it for itself), so the runner's checkers must judge every
history it produces valid. SQLite runs the SQL; the cursor translates the little PostgreSQL SQL
that differs (`%s` parameters; `SET SESSION ...` accepted and ignored, any isolation level being
met), so the cluster presents the `postgres` dialect to the workloads (list-append is the one
tested). Errors are the builtin ConnectionError family, which workloads.base.classify calls `info`.
"""
from __future__ import annotations

import itertools
import re
import sqlite3
import threading

DIALECT = "postgres"
_names = itertools.count()
_IGNORED = re.compile(r"\s*SET\s+SESSION\b", re.IGNORECASE)
_START = re.compile(r"\s*START\s+TRANSACTION\b", re.IGNORECASE)  # the mysql spelling
_BEGIN = re.compile(r"\s*BEGIN\b", re.IGNORECASE)
_END = re.compile(r"\s*(COMMIT|ROLLBACK)\b", re.IGNORECASE)


def translate(sql: str) -> str | None:
    """The SQLite text of a statement the workloads send in the postgres dialect; None: skip it."""
    if _IGNORED.match(sql):
        return None  # session isolation: every transaction here is serial anyway
    if _START.match(sql):
        return "BEGIN"
    return sql.replace("%s", "?")


class AtomNode:
    """A node's name, address and role (what routing and the run record read), and its faults."""

    def __init__(self, name: str, ip: str, role: str = "primary"):
        self.name, self.ip, self.role = name, ip, role
        self.down = False
        self._lose_in = None       # COMMITs to let through before one whose answer is lost
        self._then_down = False
        self.lost_commits = 0      # how many COMMIT answers this node lost (they did apply)
        self.lie_every = 0         # > 0: every n-th COMMIT rolls back yet answers ok (a checker's target)
        self._commits = 0

    def lose_commit(self, after: int = 0, then_down: bool = False) -> None:
        """The (after+1)-th COMMIT from now applies but its answer is lost (ConnectionResetError:
        the client cannot tell, `info`); with then_down the node is down from then on."""
        self._lose_in, self._then_down = after, then_down

    def _lies(self) -> bool:
        """Called on each COMMIT; True when this one is to roll back (the planted bug)."""
        self._commits += 1
        return bool(self.lie_every) and self._commits % self.lie_every == 0

    def _committing(self) -> bool:
        """Called on each COMMIT; True when this one's answer is to be lost."""
        if self._lose_in is None:
            return False
        if self._lose_in > 0:
            self._lose_in -= 1
            return False
        self._lose_in = None
        self.lost_commits += 1
        if self._then_down:
            self.down = True
        return True


class _Store:
    """The one database: a named shared-cache SQLite memory database, alive while `keeper` is open,
    and the lock that makes transactions run one at a time."""

    def __init__(self):
        self.uri = f"file:atom-{next(_names)}?mode=memory&cache=shared"
        self.lock = threading.Lock()
        self.keeper = self.open()

    def open(self):
        # isolation_level=None: no implicit transactions, BEGIN/COMMIT are the client's
        return sqlite3.connect(self.uri, uri=True, isolation_level=None, check_same_thread=False)


class AtomConnection:
    """A DB-API connection to one node (autocommit; transactions are explicit BEGIN ... COMMIT)."""

    def __init__(self, store: _Store, node: AtomNode, timeout: float):
        self._store, self.node, self.timeout = store, node, timeout
        self._db = store.open()
        self._in_txn = False
        self.closed = False

    def cursor(self):
        return AtomCursor(self)

    def commit(self):  # autocommit connections: nothing pending outside an explicit transaction
        pass

    def close(self):
        if self.closed:
            return
        self.closed = True
        self._db.close()               # SQLite rolls back an open transaction
        if self._in_txn:               # ... which releases the store to the next client
            self._in_txn = False
            self._store.lock.release()

    def _acquire(self):
        if not self._store.lock.acquire(timeout=self.timeout):
            raise TimeoutError(f"{self.node.name}: no answer within {self.timeout:g} s (store busy)")

    def _run(self, sql: str, params):
        if self.closed:
            raise ConnectionAbortedError(f"{self.node.name}: connection already closed")
        if self.node.down:
            self.close()
            raise ConnectionResetError(f"{self.node.name}: server closed the connection")
        text = translate(sql)
        if text is None:
            return None
        if _BEGIN.match(text):
            self._acquire()
            self._in_txn = True
            return self._db.execute(text)
        if self._in_txn:
            if _END.match(text):
                commit = text.lstrip().upper().startswith("COMMIT")
                lost = commit and self.node._committing()
                if commit and self.node._lies():
                    text = "ROLLBACK"
                try:
                    return self._db.execute(text)
                finally:
                    self._in_txn = False
                    self._store.lock.release()
                    if lost:
                        self.close()
                        raise ConnectionResetError(f"{self.node.name}: connection lost during COMMIT")
            return self._db.execute(text, params or ())
        self._acquire()  # a statement on its own is its own transaction
        try:
            return self._db.execute(text, params or ())
        finally:
            self._store.lock.release()


class AtomCursor:
    def __init__(self, conn: AtomConnection):
        self.conn = conn
        self._rows: list = []
        self.rowcount = -1

    def execute(self, sql: str, params=None):
        cur = self.conn._run(sql, params)
        self._rows = cur.fetchall() if cur is not None else []
        self.rowcount = cur.rowcount if cur is not None else -1

    def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    def fetchall(self):
        rows, self._rows = self._rows, []
        return rows

    def close(self):
        self._rows = []


class AtomCluster:
    """What harness.runner and the workloads use of a harness.cluster.Cluster, in memory."""

    backend = "atom"
    db = "atom"
    dialect = DIALECT
    has_network = False  # the nodes share a process: no machines to delay packets between (runner)

    def __init__(self, nodes: int = 1, name: str = "atom"):
        self.name = name
        self.knobs: dict = {}
        self.nodes = [AtomNode(f"n{i + 1}", f"127.0.0.{i + 1}") for i in range(nodes)]
        self.store = _Store()
        self.resets = 0

    @property
    def primary(self) -> AtomNode:
        return self.nodes[0]

    def node(self, name: str) -> AtomNode:
        return next(n for n in self.nodes if n.name == name)

    def connect(self, node=None, timeout: float = 5.0, isolation: str | None = None,
                autocommit: bool = False, database: str | None = None):
        """Cluster.connect's signature. Always autocommit (the harness's use: transactions are
        explicit); with autocommit=False each statement still commits alone and commit() is a no-op."""
        node = self.node(node) if isinstance(node, str) else (node or self.primary)
        if node.down:
            raise ConnectionRefusedError(f"{node.name} ({node.ip}): connection refused")
        return AtomConnection(self.store, node, timeout)

    def status(self) -> list[dict]:
        return [{"name": n.name, "ip": n.ip, "role": n.role, "up": not n.down} for n in self.nodes]

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Healing brings every node back (a real cluster's nodes rejoin)."""
        for n in self.nodes:
            n.down = False

    def reset_data(self) -> None:
        """Drop every table: the next workload setup starts from an empty database."""
        with self.store.lock:
            tables = [r[0] for r in self.store.keeper.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            for t in tables:
                self.store.keeper.execute(f'DROP TABLE "{t}"')
        self.resets += 1

    def versions(self) -> dict:
        return {n.name: f"sqlite {sqlite3.sqlite_version}" for n in self.nodes}

    def teardown(self) -> None:
        self.store.keeper.close()
