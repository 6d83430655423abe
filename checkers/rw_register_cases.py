"""rw-register's non-cycle anomalies: one record type per anomaly, and the cases judged outside
the checker's per-txn pass, each a pure function (see checkers/rw_register.py).

What the cases see: `writer` ((key, value) -> writer txn), `final` ((key, value) -> whether it
was its writer's last write of the key), `types[tid]` (OK / FAIL / INFO), `first_reads`
[(tid, key, value or INIT)], `txn_writes` {tid: {key: final value}}, per-key version order
`facts` {key: {(lower, higher)}}. internal and future-read are judged as `feed` walks a txn's
micro-ops (they need the txn's own state so far); their records are here all the same.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from checkers.explain import fmt_value
from checkers.findings import Finding
from checkers.graph import FAIL, OK

INIT = ("<init>",)   # the initial version (nil) as a hashable marker distinct from any value


def _shown(x):
    return fmt_value(None if x is INIT else x)


@dataclass(frozen=True, slots=True)
class G1a(Finding):
    """A read of a version whose writer failed."""
    kind = "G1a"
    reader: int
    key: object
    value: object
    writer: int

    txn_fields = ("reader", "writer")

    def text(self, ex):
        return (f"{ex.name(self.reader)} read key {self.key!r} = {fmt_value(self.value)}, written by "
                f"{ex.name(self.writer)}, which failed: a read of a write that never committed.")


@dataclass(frozen=True, slots=True)
class G1b(Finding):
    """A read of a version its committed writer overwrote in the same txn."""
    kind = "G1b"
    reader: int
    key: object
    value: object
    writer: int

    txn_fields = ("reader", "writer")

    def text(self, ex):
        return (f"{ex.name(self.reader)} read key {self.key!r} = {fmt_value(self.value)}, but "
                f"{ex.name(self.writer)} overwrote that value with another write to the same key before "
                f"committing: an intermediate state.")


@dataclass(frozen=True, slots=True)
class Internal(Finding):
    """A read that is not the txn's own last write (how="w") or last read (how="r") of the key."""
    kind = "internal"
    tid: int
    key: object
    expected: object
    read: object
    how: str

    txn_fields = ("tid",)

    def text(self, ex):
        T, k = ex.name(self.tid), self.key
        text = (f"{T} wrote {_shown(self.expected)} to key {k!r} and then read it as {_shown(self.read)}: "
                f"a transaction must see its own writes." if self.how == "w" else
                f"{T} read key {k!r} = {_shown(self.expected)} and later, with no write of its own "
                f"in between, read it as {_shown(self.read)}: a transaction must see one state.")
        return text


@dataclass(frozen=True, slots=True)
class GarbageRead(Finding):
    """A read of a value no txn wrote to that key."""
    kind = "garbage-read"
    tid: int
    key: object
    value: object

    txn_fields = ("tid",)

    def text(self, ex):
        return (f"{ex.name(self.tid)} read key {self.key!r} = {fmt_value(self.value)}, a value no transaction "
                f"in the history wrote to that key.")


@dataclass(frozen=True, slots=True)
class FutureRead(Finding):
    """A read shows the value its own txn writes only later."""
    kind = "future-read"
    tid: int
    key: object
    value: object

    txn_fields = ("tid",)

    def text(self, ex):
        return (f"{ex.name(self.tid)} read key {self.key!r} = {fmt_value(self.value)}, a value it writes "
                f"itself only later.")


@dataclass(frozen=True, slots=True)
class LostUpdate(Finding):
    """Committed txns whose first read of a key showed the same version, and which all wrote it."""
    kind = "lost-update"
    key: object
    value: object        # the version read (INIT: nil)
    tids: list

    @property
    def txns(self):
        return list(self.tids)

    def text(self, ex):
        names = ", ".join(ex.name(t) for t in self.tids)
        return (f"{names} all read key {self.key!r} = {_shown(self.value)} (the same version) "
                f"and each then wrote it and committed: each one's update ignores the others'.")


@dataclass(frozen=True, slots=True)
class CyclicVersions(Finding):
    """The assumed version order of a key has a cycle (that key then gives no ww / rw edges)."""
    kind = "cyclic-versions"
    key: object
    path: list           # versions around the cycle, the first repeated at the end

    txn_fields = ()

    def text(self, ex):
        chain = " < ".join(_shown(x) for x in self.path)
        return (f"The assumed version order of key {self.key!r} is cyclic: {chain}.")


# -- cases --------------------------------------------------------------------------------
def judge_read(tid, k, v, writer, final, types):
    """A read of (k, v) by txn `tid` (v not INIT): (G1a / G1b / garbage-read record or None, the
    writer for a wr edge or None when there is none: unknown, failed, or the reader itself)."""
    w = writer.get((k, v))
    if w is None:
        return GarbageRead(tid, k, v), None
    if w == tid:
        return None, None
    if types[w] == FAIL:
        return G1a(tid, k, v, w), None
    if not final.get((k, v), True) and types[w] == OK:
        return G1b(tid, k, v, w), w
    return None, w


def lost_updates(first_reads, txn_writes, types) -> list:
    """lost-update (as Elle): committed txns whose first read of a key showed the same version,
    and which all then wrote that key."""
    groups = defaultdict(list)
    for t, k, v in first_reads:
        if k in txn_writes.get(t, ()) and types[t] == OK:
            groups[(k, v)].append(t)
    return [LostUpdate(k, v, both) for (k, v), both in groups.items() if len(both) > 1]


def cyclic_versions(facts) -> list:
    """cyclic-versions: a cycle in each key's version order facts {key: {(lower, higher)}}."""
    out = []
    for k, fs in facts.items():
        path = version_cycle(fs)
        if path:
            out.append(CyclicVersions(k, path))
    return out


def version_cycle(facts):
    """A cycle in one key's version order facts, as a list of versions, or None."""
    import networkx as nx
    if len(facts) < 2:
        return None
    g = nx.DiGraph()
    g.add_edges_from(sorted(facts, key=repr))  # the cycle named must not depend on set (hash) order
    try:
        c = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return None
    return [e[0] for e in c] + [c[0][0]]
