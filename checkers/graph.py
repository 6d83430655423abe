"""Transactions as integers, and the dependency graph on integer arrays.

`TxnTable` pairs each client invoke with its completion (by process) and numbers the completed
transactions 0..n-1, keeping per-transaction arrays (type, process, invoke/complete time, op
positions). Workload checkers add data-dependency edges (ww, wr, rw); `process_edges` and
`realtime_edges` add the session and real-time orders; `DepGraph` finds strongly connected
components with scipy.

Real-time order is not materialised pair by pair. Each ok completion gets a "barrier" node; the
barriers form a chain in completion-time order; a txn points to its own barrier, and each barrier
points to every txn invoked after it (only from the latest barrier before the invoke). So A
reaches B through barriers exactly when A completed before B was invoked: O(n) edges for an
order that can have O(n^2) pairs.

`info` ops: an info txn may or may not have happened and its completion time is unknown, so it is
never the source of a process or real-time edge, and only ok txns complete a barrier.
"""
from __future__ import annotations

import struct

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from checkers.history import HistoryError

OK, FAIL, INFO = 0, 1, 2
TYPE_CODE = {"ok": OK, "fail": FAIL, "info": INFO}
TYPE_NAME = {OK: "ok", FAIL: "fail", INFO: "info"}

# edge types
WW, WR, RW, PROC, RT, RTB = 0, 1, 2, 3, 4, 5
EDGE_NAME = {WW: "ww", WR: "wr", RW: "rw", PROC: "process", RT: "realtime", RTB: "realtime"}
NO_TIME = -(2 ** 62)

pack_row = struct.Struct("6q").pack     # one TxnTable row: raises struct.error for a non-integer


class TxnTable:
    """Completed client transactions of one kind (`f`), numbered 0..n-1 in completion order.

    feed(pos, op, line) -> None for ops that are not a txn completion, else
    (tid, type_code, value) where value is what the txn did: the completion's value for ok,
    the invoke's value (falling back to the completion's) for fail and info.
    """

    def __init__(self, path="<history>", fs=("txn",)):
        self.path = path
        self.fs = frozenset(fs)
        self.pending = {}            # process -> (pos, time, value) of its open invoke
        self.procs = {}              # process value -> small int
        # one row of COLS per txn, packed int64 (compact: 48 bytes per txn); append with
        # `cols += pack_row(...)`: 4x cheaper than array.extend of a tuple, which matters once
        # per txn in the hot loop
        self.cols = bytearray()
        self.n = 0

    COLS = ("type", "proc", "t_inv", "t_cmp", "pos_inv", "pos_cmp")

    def feed(self, pos, op, line):
        if op.get("f") not in self.fs:
            return None
        p = op.get("process")
        t = op["type"]
        if t == "invoke":
            if p is None or p == "nemesis":
                return None  # without a process a completion cannot be paired: it stands alone
            pend = self.pending
            if p in pend:
                raise HistoryError(self.path, line,
                                   f"process {p} invoked a new op before its previous op "
                                   f"(position {pend[p][0]}) completed")
            pend[p] = (pos, op.get("time"), op.get("value"))
            return None
        if p == "nemesis":
            return None
        tm = op.get("time")
        inv = self.pending.pop(p, None)
        code = TYPE_CODE[t]
        value = op.get("value")
        if inv is not None:
            pos_inv, t_inv = inv[0], inv[1]
            if code != OK and inv[2] is not None:
                value = inv[2]
            if t_inv is None:
                t_inv = NO_TIME
        else:
            pos_inv, t_inv = -1, NO_TIME
        tid = self.n
        self.n = tid + 1
        pid = self.procs.get(p, -1) if p is not None else -1
        if pid == -1 and p is not None:
            pid = self.procs[p] = len(self.procs)
        self.cols += pack_row(code, pid, int(t_inv), NO_TIME if tm is None else int(tm), pos_inv, pos)
        return tid, code, value

    def finish(self):
        """Ops still pending at the end never completed (the runner stopped mid-op). They are
        indeterminate exactly like info, so they become info txns (their writes may exist)."""
        leftovers = []
        for p, (pos, tm, value) in self.pending.items():
            tid = self.n
            self.n += 1
            pid = self.procs.setdefault(p, len(self.procs))
            self.cols += pack_row(INFO, pid, NO_TIME if tm is None else int(tm), NO_TIME, pos, pos)
            leftovers.append((tid, INFO, value, pos))
        self.pending = {}
        self._table = None
        return leftovers

    def table(self):
        """(n, 6) int64 array of COLS."""
        if getattr(self, "_table", None) is None or len(self._table) != self.n:
            self._table = (np.frombuffer(self.cols, dtype=np.int64).reshape(self.n, len(self.COLS))
                           if self.n else np.zeros((0, len(self.COLS)), np.int64))
        return self._table

    def col(self, name):
        return self.table()[:, self.COLS.index(name)]

    def arrays(self):
        """(types, procs, t_inv, t_cmp) as numpy arrays."""
        return (self.col("type").astype(np.int8), self.col("proc"), self.col("t_inv"),
                self.col("t_cmp"))

    def check_times(self):
        """Position of the first op that completes before its invoke, or None (bad input: it
        would make real-time order cyclic)."""
        tinv, tcmp = self.col("t_inv"), self.col("t_cmp")
        bad = np.nonzero((tinv != NO_TIME) & (tcmp != NO_TIME) & (tcmp < tinv))[0]
        return int(self.col("pos_cmp")[bad[0]]) if len(bad) else None

    def row(self, tid):
        """{'type', 'proc', 't_inv', 't_cmp', 'pos_inv', 'pos_cmp'} of one txn."""
        return dict(zip(self.COLS, (int(x) for x in self.table()[tid])))

    def stats(self):
        counts = np.bincount(self.col("type"), minlength=3) if self.n else [0, 0, 0]
        ok, fail, info = (int(c) for c in counts[:3])
        return {"txns": ok + fail + info, "ok": ok, "fail": fail, "info": info}


IDX = np.int32   # node ids: a check of more than 2**31 txns would not fit in memory anyway


def process_edges(types, procs):
    """Session order: each ok txn -> the next non-failed txn of the same process."""
    keep = np.nonzero((types != FAIL) & (procs >= 0))[0].astype(IDX)
    if len(keep) < 2:
        return np.zeros(0, IDX), np.zeros(0, IDX)
    p = procs[keep]
    # numpy's stable sort is a radix sort for 16-bit keys: O(n) for the usual few processes
    p = p.astype(np.int16 if p.max() < 2 ** 15 else np.int32)
    order = keep[np.argsort(p, kind="stable")]   # by process, then completion order
    a, b = order[:-1], order[1:]
    m = (procs[a] == procs[b]) & (types[a] == OK)
    return a[m], b[m]


def realtime_edges(types, t_inv, t_cmp, first_node):
    """Real-time order through barrier nodes numbered from `first_node`.

    Returns (src, dst, kind, n_barriers, barrier_txn) where kind is RT for txn->barrier and RTB
    for barrier->barrier / barrier->txn edges, and barrier_txn[i] is the txn that completed at
    barrier i.
    """
    done = np.nonzero((types == OK) & (t_cmp != NO_TIME))[0].astype(IDX)
    if len(done) == 0:
        z = np.zeros(0, IDX)
        return z, z, np.zeros(0, np.int8), 0, z
    ctimes = t_cmp[done]
    if len(ctimes) > 1 and not (ctimes[1:] >= ctimes[:-1]).all():   # files are mostly in time order
        o = np.argsort(ctimes, kind="stable")
        done, ctimes = done[o], ctimes[o]
    nb = len(done)
    bar = (first_node + np.arange(nb, dtype=np.int64)).astype(IDX)
    # latest barrier completed strictly before each invoke -> the invoked txn
    targets = np.nonzero((types != FAIL) & (t_inv != NO_TIME))[0].astype(IDX)
    j = np.searchsorted(ctimes, t_inv[targets], side="left")   # completions with time < invoke
    m = j > 0
    # txn -> its barrier; barrier chain; barrier -> txns invoked after it
    src = np.concatenate([done, bar[:-1], bar[j[m] - 1]])
    dst = np.concatenate([bar, bar[1:], targets[m]])
    kind = np.full(len(src), RTB, np.int8)
    kind[:nb] = RT
    return src, dst, kind, nb, done


class DepGraph:
    """Edges as parallel arrays (src, dst, type); nodes 0..n_txn-1 are txns, the rest barriers."""

    def __init__(self, n_txn):
        self.n_txn = n_txn
        self.n_nodes = n_txn
        self._src, self._dst, self._typ = [], [], []
        self.barrier_txn = np.zeros(0, IDX)

    def add(self, src, dst, typ):
        """Add edges src[i] -> dst[i] of type `typ` (one type, or an array of types)."""
        src = np.asarray(src, dtype=IDX)
        dst = np.asarray(dst, dtype=IDX)
        if len(src):
            self._src.append(src)
            self._dst.append(dst)
            self._typ.append(np.full(len(src), typ, np.int8) if np.ndim(typ) == 0
                             else np.asarray(typ, dtype=np.int8))

    def add_session_and_realtime(self, types, procs, t_inv, t_cmp):
        a, b = process_edges(types, procs)
        self.add(a, b, PROC)
        src, dst, kind, nb, bt = realtime_edges(types, t_inv, t_cmp, self.n_txn)
        self.add(src, dst, kind)
        self.n_nodes = self.n_txn + nb
        self.barrier_txn = bt


    def edges(self):
        """(src, dst, type) of every edge added, as three arrays."""
        if not self._src:
            z = np.zeros(0, IDX)
            return z, z, np.zeros(0, np.int8)
        if len(self._src) > 1:
            self._src = [np.concatenate(self._src)]
            self._dst = [np.concatenate(self._dst)]
            self._typ = [np.concatenate(self._typ)]
        return self._src[0], self._dst[0], self._typ[0]

    def nontrivial_sccs(self):
        """Labels per node and the list of SCC labels with 2+ nodes (cycles exist only there)."""
        src, dst, _ = self.edges()
        n = self.n_nodes
        if n == 0 or len(src) == 0:
            return np.zeros(n, np.int64), []
        return strong_components(src, dst, n)


def strong_components(src, dst, n):
    """(labels, [labels of components with 2+ nodes]) of the directed graph on n nodes."""
    src = np.asarray(src, dtype=IDX)
    dst = np.asarray(dst, dtype=IDX)
    # float64 data: what csgraph works on (bool would be converted, a copy of every edge)
    mat = csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, labels = connected_components(mat, directed=True, connection="strong")
    sizes = np.bincount(labels)
    return labels, list(np.nonzero(sizes >= 2)[0])
