"""A tiny in-memory database of known behaviour, a backend of the probe runner like sql.py: the
unit tests run every definition's steps against it, so a judge is tested without a server.

Per node: committed rows, row locks held until commit (writers wait for writers, as in InnoDB and
PostgreSQL), and a queue of committed row images for every other node, applied by `catch_up`
(asynchronous replication; locks are never shared between nodes). Isolation levels:
  read-uncommitted  reads see other open transactions' writes on the node
  read-committed    every statement sees the newest committed rows; a write that waited re-checks
                    its row (PostgreSQL's EvalPlanQual, InnoDB's semi-consistent read)
  repeatable-read   snapshot isolation: reads from the snapshot of the first statement; writing a
                    row committed by another since then is refused (first updater wins)
  serializable      one transaction at a time per node (a node-wide lock until commit)
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from harness.probe.steps import TABLES


class Conflict(Exception):
    """The store refused a step (serialization failure, duplicate key): the anomaly was prevented."""


class Cancelled(Exception):
    """The runner cancelled a blocked step."""


def matches(pred, row) -> bool:
    kind, value = pred[0], row[1]
    return (kind == "all" or (kind == "value=" and value == pred[1])
            or (kind == "value%" and value % pred[1] == pred[2]) or (kind == "id in" and row[0] in pred[1]))


@dataclass
class _Node:
    name: str
    data: dict = field(default_factory=lambda: {t: {} for t in TABLES})   # table -> key -> row
    written_at: dict = field(default_factory=dict)  # (table, key) -> commit number that last wrote it
    locks: dict = field(default_factory=dict)       # lock name -> transaction holding it
    open: list = field(default_factory=list)        # open transactions, oldest first
    outbox: list = field(default_factory=list)      # committed (table, key, row | None) not yet sent


class MemoryCluster:
    """What probe() needs of a cluster: nodes with names and roles, a db name, a dialect."""

    @dataclass(frozen=True)
    class Node:
        name: str
        role: str

    def __init__(self, nodes=("n1",), dialect="postgres"):
        role = "single" if len(nodes) == 1 else "member"
        self.nodes = [self.Node(n, role) for n in nodes]
        self.db, self.dialect, self.name, self.knobs = "memory", dialect, "memory", {}

    def versions(self):
        return {"server": "in-memory"}


class MemoryBackend:
    def __init__(self, cluster, suffix="", op_timeout=10.0):
        self.cluster = cluster
        self.nodes = {n.name: _Node(n.name) for n in cluster.nodes}
        self.cv = threading.Condition()
        self.committed = 0  # commit number of the newest commit
        self.notes = []

    # -- what probe() asks of a backend -------------------------------------------------------------
    def reachable(self):
        return None

    def asynchronous(self) -> bool:
        return len(self.nodes) > 1

    def create_schema(self):
        pass

    drop_schema = close = create_schema

    def repair(self):
        return []

    def prepare(self, test):
        with self.cv:
            self.nodes = {name: _Node(name) for name in self.nodes}
            for node in self.nodes.values():
                for table, rows in test.setup.items():
                    node.data[table] = {row[0]: tuple(row) for row in rows}

    def open(self, session, node, isolation):
        return _Txn(self, self.nodes[node], isolation)

    def cancel(self, handle):
        with self.cv:
            handle.cancelled = True
            self.cv.notify_all()

    @staticmethod
    def classify(e) -> str:
        return "conflict" if isinstance(e, Conflict) else "cancelled" if isinstance(e, Cancelled) else "error"

    def catch_up(self, origin):
        with self.cv:
            sent, self.nodes[origin].outbox = self.nodes[origin].outbox, []
            for node in self.nodes.values():
                if node.name != origin:
                    for table, key, row in sent:
                        _put(node.data[table], key, row)
        return None

    def final(self, test, writers):
        for node in sorted(writers):
            self.catch_up(node)
        with self.cv:
            return {n.name: sorted(n.data[test.final].values()) for n in self.nodes.values()}


def _put(rows, key, row):
    if row is None:
        rows.pop(key, None)
    else:
        rows[key] = row


class _Txn:
    """One session's transaction on one node; it starts with its first statement."""

    def __init__(self, store, node, isolation):
        self.store, self.node, self.isolation = store, node, isolation
        self.writes = {}          # (table, key) -> row | None (deleted)
        self.held = set()         # lock names
        self.snapshot = None      # (commit number, {table: rows}) for repeatable-read
        self.cancelled = False

    # -- visibility ------------------------------------------------------------------------------------
    def _begin(self):
        if self in self.node.open:
            return
        if self.isolation == "serializable":
            self._lock(("node",))
        self.node.open.append(self)
        if self.isolation == "repeatable-read":
            self.snapshot = (self.store.committed, {t: dict(rows) for t, rows in self.node.data.items()})

    def _rows(self, table, newest=False) -> dict:
        """key -> row as this transaction sees the table (newest: the newest committed, as a
        locking read or a write after its lock sees it)."""
        if self.snapshot and not newest:
            rows = dict(self.snapshot[1][table])
        else:
            rows = dict(self.node.data[table])
        if self.isolation == "read-uncommitted":
            for other in self.node.open:
                if other is not self:
                    for (t, key), row in other.writes.items():
                        if t == table:
                            _put(rows, key, row)
        for (t, key), row in self.writes.items():
            if t == table:
                _put(rows, key, row)
        return rows

    # -- locks -----------------------------------------------------------------------------------------
    def _lock(self, name):
        while self.node.locks.get(name, self) is not self:
            if self.cancelled:
                raise Cancelled("cancelled while waiting for a lock")
            self.store.cv.wait()
        self.node.locks[name] = self
        self.held.add(name)

    def _lock_row(self, table, key):
        """Lock a row for writing; under snapshot isolation refuse a row committed since the snapshot."""
        self._lock((table, key))
        if self.snapshot and self.node.written_at.get((table, key), 0) > self.snapshot[0]:
            raise Conflict(f"could not serialize access: {table} {key!r} changed since the snapshot")

    def _write(self, table, key, row):
        self.writes[(table, key)] = row

    # -- statements --------------------------------------------------------------------------------------
    def run(self, op, args):
        with self.store.cv:
            if self.cancelled:
                raise Cancelled("cancelled")
            self._begin()
            return getattr(self, "op_" + op)(*args)

    def op_read(self, key):
        row = self._rows("test").get(key)
        return row[1] if row else None

    def op_select(self, pred):
        return sorted(r for r in self._rows("test").values() if matches(pred, r))

    def op_update(self, key, value):
        return self.op_update_where(("id in", (key,)), ("set", value))

    def op_update_where(self, pred, expr):
        return self._each_matching(pred, lambda r: (r[0], r[1] + expr[1] if expr[0] == "add" else expr[1]))

    def op_delete_where(self, pred):
        return self._each_matching(pred, lambda r: None)

    def _each_matching(self, pred, change) -> int:
        """Rows the statement's read sees match; each is locked, then re-checked on its newest version."""
        count = 0
        for key in sorted(k for k, r in self._rows("test").items() if matches(pred, r)):
            self._lock_row("test", key)
            row = self._rows("test", newest=True).get(key)
            if row is not None and matches(pred, row):
                self._write("test", key, change(row))
                count += 1
        return count

    def op_insert(self, key, value):
        return self._insert_row("test", (key, value))

    def _insert_row(self, table, row, unique=None):
        self._lock_row(table, row[0])
        if unique is not None:
            self._lock((table, "unique", unique))
        rows = self._rows(table, newest=True)
        if row[0] in rows or (unique is not None and any(r[1:] == unique for r in rows.values())):
            raise Conflict(f"duplicate key {unique or row[0]!r} in {table}")
        self._write(table, row[0], row)
        return 1

    def op_rev(self, key):
        row = self._rows("execution").get(key)
        return row[1] if row else None

    def op_cas(self, key, rev, state):
        if key not in self._rows("execution"):
            return 0
        self._lock_row("execution", key)
        row = self._rows("execution", newest=True).get(key)
        if row is None or row[1] != rev:
            return 0
        self._write("execution", key, (key, rev + 1, state))
        return 1

    def op_lock(self, name):
        self._lock_row("property", name)
        row = self._rows("property", newest=True).get(name)
        return row[1] if row else None

    def op_max_version(self, key):
        return max((r[2] for r in self._rows("procdef").values() if r[1] == key), default=None)

    def op_deploy(self, ident, key, version):
        return self._insert_row("procdef", (ident, key, version))

    def op_insert_var(self, ident, scope, name):
        return self._insert_row("variable", (ident, scope, name), unique=(scope, name))

    # -- the end of a transaction -----------------------------------------------------------------------
    def commit(self):
        with self.store.cv:
            if self.writes:
                self.store.committed = n = self.store.committed + 1
                for (table, key), row in self.writes.items():
                    _put(self.node.data[table], key, row)
                    self.node.written_at[(table, key)] = n
                    self.node.outbox.append((table, key, row))
            self._end()

    def rollback(self):
        with self.store.cv:
            self._end()

    close = rollback

    def _end(self):
        for name in self.held:
            if self.node.locks.get(name) is self:
                del self.node.locks[name]
        if self in self.node.open:
            self.node.open.remove(self)
        self.writes, self.held, self.snapshot = {}, set(), None
        self.store.cv.notify_all()

