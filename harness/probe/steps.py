"""The vocabulary of a probe test: steps of named sessions, written as data.

A step is one statement of one session: `Step("T2", "read", (1,), "r1")` means "session T2 reads row
1 of the Hermitage table and remembers the value as r1". The same definitions run against a real
cluster (harness/probe/sql.py renders each op as SQL for the cluster's dialect) and against the
in-memory store of the unit tests, so the step logic is tested without a database.

Ops (what `args` holds, what the step returns):
  Hermitage table test(id, value)
    read (id)                 -> the row's value, or None
    select (pred)             -> [(id, value), ...] sorted by id
    update (id, value)        -> rows affected
    update_where (pred, expr) -> rows affected; expr is ("set", v) or ("add", n)
    delete_where (pred)       -> rows affected
    insert (id, value)        -> rows affected
  Engine tables
    rev (id)                  -> REV_ of an execution row
    cas (id, rev, state)      -> rows affected by UPDATE ... SET REV_ = REV_ + 1 WHERE ID_ = ? AND REV_ = ?
    lock (name)               -> VALUE_ of a property row, read with SELECT ... FOR UPDATE
    max_version (key)         -> the highest VERSION_ of a process definition key
    deploy (id, key, version) -> rows affected by inserting a process definition
    insert_var (id, scope, name) -> rows affected by inserting a variable (unique per scope and name)
  commit, rollback
Predicates: ("all",), ("value=", v), ("value%", m, r) (value mod m = r), ("id in", (ids...)).
An argument may be `Ref(label, add)`: the value an earlier step of the same session returned, plus add.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

WRITE_OPS = frozenset({"update", "update_where", "delete_where", "insert", "cas", "deploy", "insert_var",
                       "lock"})  # lock: SELECT ... FOR UPDATE needs a writable node
END_OPS = frozenset({"commit", "rollback"})
READ_OPS = frozenset({"read", "select", "rev", "max_version"})
OPS = WRITE_OPS | END_OPS | READ_OPS

# the tables a test can use, with the columns a final-state dump shows (key first)
TABLES = {
    "test": ("id", "value"),
    "execution": ("id_", "rev_", "state_"),
    "property": ("name_", "value_"),
    "procdef": ("id_", "key_", "version_"),
    "variable": ("id_", "scope_", "name_"),
}


@dataclass(frozen=True)
class Ref:
    """An earlier step's result (of the same session), plus `add`."""
    label: str
    add: int = 0


@dataclass(frozen=True)
class Step:
    session: str
    op: str
    args: tuple = ()
    label: str | None = None

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r}")

    def text(self) -> str:
        """How a person reads the step: `T2 read(1) -> r1`."""
        args = ", ".join(f"{a.label}{'+%d' % a.add if a.add else ''}" if isinstance(a, Ref) else repr(a)
                         for a in self.args)
        return f"{self.session} {self.op}({args})" + (f" -> {self.label}" if self.label else "")


@dataclass(frozen=True)
class Variant:
    """One interleaving. `judge(view)` returns a sentence saying how the anomaly showed, or None."""
    name: str
    steps: tuple
    judge: Callable
    read_only: bool = False  # the anomaly's victim only reads (Hermitage's "R/O" distinction)

    @property
    def sessions(self) -> list[str]:
        seen = []
        for s in self.steps:
            if s.session not in seen:
                seen.append(s.session)
        return seen

    def writes(self, session: str) -> bool:
        return any(s.op in WRITE_OPS for s in self.steps if s.session == session)


@dataclass(frozen=True)
class ProbeTest:
    name: str                 # "G1a", "for-update", ...
    title: str                # "Aborted Reads"
    setup: dict               # table -> rows inserted before every variant
    final: str                # the table whose state after the test is compared across nodes
    variants: tuple
    engine: bool = False      # one of the engine probes (no Hermitage column)
    about: str = ""           # what a person should know about the interleaving
    tables: tuple = field(default=())

    def __post_init__(self):
        object.__setattr__(self, "tables", tuple(sorted(set(self.setup) | {self.final})))
