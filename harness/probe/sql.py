"""The probe's backend for a real cluster: the ops of harness/probe/steps.py as SQL, one connection
per session (cluster.connect: connect, read and write timeouts always set), admin connections per
node for setup, replica catch-up, cancelling a blocked statement and reading the final state.

Tables are named eh_probe<suffix>_<table> so parallel lanes never share a row, a gap or a table lock.
"""
from __future__ import annotations

import math

from harness.cluster import dialects
from harness.errors import ClusterError
from harness.probe import replication
from harness.probe.runner import one_line
from harness.probe.steps import TABLES

COLUMNS = {
    "test": "id INT PRIMARY KEY, value INT",
    "execution": "id_ VARCHAR(64) PRIMARY KEY, rev_ INT, state_ VARCHAR(64)",
    "property": "name_ VARCHAR(64) PRIMARY KEY, value_ VARCHAR(64)",
    "procdef": "id_ VARCHAR(64) PRIMARY KEY, key_ VARCHAR(64), version_ INT",
    "variable": "id_ VARCHAR(64) PRIMARY KEY, scope_ VARCHAR(64), name_ VARCHAR(64), UNIQUE (scope_, name_)",
}

def predicate(pred) -> tuple[str, tuple]:
    kind = pred[0]
    if kind == "all":
        return "1 = 1", ()
    if kind == "value=":
        return "value = %s", (pred[1],)
    if kind == "value%":
        return "MOD(value, %s) = %s", (pred[1], pred[2])
    if kind == "id in":
        return "id IN (" + ", ".join(["%s"] * len(pred[1])) + ")", tuple(pred[1])
    raise ValueError(f"unknown predicate {pred!r}")


def render(op: str, args: tuple, t) -> tuple[str, tuple, str]:
    """(sql, params, what to return: scalar | rows | count) for one op; t(name) is a table name."""
    if op == "read":
        return f"SELECT value FROM {t('test')} WHERE id = %s", args, "scalar"
    if op == "select":
        where, params = predicate(args[0])
        return f"SELECT id, value FROM {t('test')} WHERE {where} ORDER BY id", params, "rows"
    if op == "update":
        return f"UPDATE {t('test')} SET value = %s WHERE id = %s", (args[1], args[0]), "count"
    if op == "update_where":
        where, params = predicate(args[0])
        kind, n = args[1]
        expr = "value + %s" if kind == "add" else "%s"
        return f"UPDATE {t('test')} SET value = {expr} WHERE {where}", (n, *params), "count"
    if op == "delete_where":
        where, params = predicate(args[0])
        return f"DELETE FROM {t('test')} WHERE {where}", params, "count"
    if op == "insert":
        return f"INSERT INTO {t('test')} (id, value) VALUES (%s, %s)", args, "count"
    if op == "rev":
        return f"SELECT rev_ FROM {t('execution')} WHERE id_ = %s", args, "scalar"
    if op == "cas":
        return (f"UPDATE {t('execution')} SET rev_ = rev_ + 1, state_ = %s WHERE id_ = %s AND rev_ = %s",
                (args[2], args[0], args[1]), "count")
    if op == "lock":
        return f"SELECT value_ FROM {t('property')} WHERE name_ = %s FOR UPDATE", args, "scalar"
    if op == "max_version":
        return f"SELECT MAX(version_) FROM {t('procdef')} WHERE key_ = %s", args, "scalar"
    if op == "deploy":
        return f"INSERT INTO {t('procdef')} (id_, key_, version_) VALUES (%s, %s, %s)", args, "count"
    if op == "insert_var":
        return f"INSERT INTO {t('variable')} (id_, scope_, name_) VALUES (%s, %s, %s)", args, "count"
    raise ValueError(f"op {op!r} has no SQL")


class Handle:
    """One session's connection."""

    def __init__(self, conn, dialect, table, node):
        self.conn, self.table, self.node = conn, table, node
        self.ident = dialect.session_id(conn)

    def run(self, op, args):
        sql, params, shape = render(op, args, self.table)
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            if shape == "count":
                return cur.rowcount
            rows = [tuple(r) for r in cur.fetchall()]
        if shape == "rows":
            return rows
        return rows[0][0] if rows else None

    def commit(self):
        self.conn.commit()

    def rollback(self):
        self.conn.rollback()

    def close(self):
        self.conn.close()


class SqlBackend:
    def __init__(self, cluster, suffix="", op_timeout=10.0, sync_timeout=5.0):
        self.cluster, self.dialect = cluster, dialects.get(cluster.dialect)
        self.suffix, self.op_timeout, self.sync_timeout = suffix, op_timeout, sync_timeout
        self.roles = {n.name: n.role for n in cluster.nodes}
        self.primary = cluster.primary.name
        self.admin = {}
        self.notes = []  # repairs made along the way
        self.lock_wait = max(1, math.ceil(op_timeout / 2))  # the database's own safety net, below op_timeout

    def table(self, name):
        return f"eh_probe{self.suffix}_{name}"

    # -- connections ---------------------------------------------------------------------------
    def reachable(self):
        """Raise ClusterError (one line) unless every node accepts a connection."""
        for node in self.cluster.nodes:
            try:
                self.cluster.connect(node, timeout=min(self.op_timeout, 5.0)).close()
            except Exception as e:  # noqa: BLE001 - any failure means: cannot probe
                raise ClusterError(f"cannot connect to {node.name} ({node.ip}) of cluster "
                                   f"{self.cluster.name}: {one_line(e)}") from None

    def asynchronous(self) -> bool:
        return replication.is_async(self.cluster)

    def _admin(self, node):
        if node not in self.admin:
            conn = self.cluster.connect(node, timeout=self.op_timeout, autocommit=True)
            with conn.cursor() as cur:
                for statement in [self.dialect.lock_timeout(self.lock_wait, admin=True),
                                  *self.cluster.dbdef.causal_reads()]:  # every admin read is causal
                    cur.execute(statement)
            self.admin[node] = conn
        return self.admin[node]

    def open(self, session, node, isolation):
        conn = self.cluster.connect(node, timeout=self.op_timeout, isolation=isolation)
        try:
            with conn.cursor() as cur:
                cur.execute(self.dialect.lock_timeout(self.lock_wait))
            conn.commit()
            return Handle(conn, self.dialect, self.table, node)
        except BaseException:
            conn.close()
            raise

    def cancel(self, handle):
        with self._admin(handle.node).cursor() as cur:
            cur.execute(*self.dialect.cancel(handle.ident))

    def classify(self, e) -> str:
        return dialects.error_kind(e)  # the database's error codes: harness/cluster/dialects

    def close(self):
        for conn in self.admin.values():
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
        self.admin.clear()

    # -- schema and data ----------------------------------------------------------------------------
    def _execute(self, node, statements):
        with self._admin(node).cursor() as cur:
            for sql, params in statements:
                cur.execute(sql, params)

    def create_schema(self):
        opts = self.dialect.TABLE_OPTIONS
        self._execute(self.primary, [(f"CREATE TABLE IF NOT EXISTS {self.table(t)} ({COLUMNS[t]}){opts}", ())
                                     for t in TABLES])
        self.catch_up(self.primary)

    def drop_schema(self):
        self._execute(self.primary, [(f"DROP TABLE IF EXISTS {self.table(t)}", ()) for t in TABLES])

    def prepare(self, test):
        self.notes += self.repair()
        statements = [(f"TRUNCATE TABLE {self.table(t)}", ()) for t in test.tables]
        for t, rows in test.setup.items():
            cols = TABLES[t]
            for row in rows:
                statements.append((f"INSERT INTO {self.table(t)} ({', '.join(cols[:len(row)])}) VALUES "
                                   f"({', '.join(['%s'] * len(row))})", tuple(row)))
        self._execute(self.primary, statements)
        note = self.catch_up(self.primary)
        if note:
            raise RuntimeError(f"the setup did not reach every node: {note}")

    def final(self, test, writers) -> dict:
        for node in sorted(writers):
            self.catch_up(node)
        cols = TABLES[test.final]
        out = {}
        for n in self.cluster.nodes:
            with self._admin(n.name).cursor() as cur:
                cur.execute(f"SELECT {', '.join(cols)} FROM {self.table(test.final)} ORDER BY {cols[0]}")
                out[n.name] = [tuple(r) for r in cur.fetchall()]
        return out

    # -- replication ----------------------------------------------------------------------------------
    def catch_up(self, origin) -> str | None:
        """Wait until every other node applied what `origin` committed; a note when one did not."""
        others = [n.name for n in self.cluster.nodes if n.name != origin]
        if not others or self.roles.get(origin) == "standby":
            return None
        notes = replication.catch_up(self.cluster.dbdef, self._admin, origin, others, self.table("test"),
                                     self.sync_timeout)
        return "; ".join(notes) or None

    def repair(self) -> list[str]:
        """A replica that stopped on a conflicting event (the probe's duplicate keys on
        master-master) skips it and runs again; the next test's TRUNCATE makes both sides equal.
        Returns what it did."""
        done = []
        for n in self.cluster.dbdef.replicas(self.cluster):
            done += [f"{n.name}: {x}" for x in self.cluster.dbdef.skip_failed_apply(self._admin(n.name))]
        if done:
            self.cluster.wait_healthy(30)
        return done
