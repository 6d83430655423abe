"""Transactions as integers, and the dependency graph on integer arrays.

`TxnTable` pairs each client invoke with its completion (by process) and numbers the completed
transactions 0..n-1, keeping per-transaction arrays (type, process, invoke/complete time, op
positions). Workload checkers add data-dependency edges (ww, wr, rw); `process_edges` and
`realtime_edges` add the session and real-time orders; `DepGraph` finds strongly connected
components with scipy, from a compressed adjacency of distinct pairs (see DepGraph: the memory of
an 8 M-txn check is mostly its graph).

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

from checkers.history import give_back_memory
from checkers.pairing import NEMESIS, Pairer

OK, FAIL, INFO = 0, 1, 2
TYPE_CODE = {"ok": OK, "fail": FAIL, "info": INFO}
TYPE_NAME = {OK: "ok", FAIL: "fail", INFO: "info"}

# edge types
WW, WR, RW, PROC, RT, RTB = 0, 1, 2, 3, 4, 5
EDGE_NAME = {WW: "ww", WR: "wr", RW: "rw", PROC: "process", RT: "realtime", RTB: "realtime"}
NO_TIME = -(2 ** 62)

# one TxnTable row, packed (29 bytes; 48 as six int64): type, process, invoke and completion time
# (ns), invoke and completion position (a list index or a file line)
ROW = np.dtype([("type", "i1"), ("proc", "<i4"), ("t_inv", "<i8"), ("t_cmp", "<i8"),
                ("pos_inv", "<i4"), ("pos_cmp", "<i4")])
pack_row = struct.Struct("<biqqii").pack     # raises struct.error for a non-integer


def _line_of_pending(inv):
    """The line of a pending invoke TxnTable.feed keeps (list_append's hot loop keeps none)."""
    return inv[3] if len(inv) > 3 else inv[0]


class TxnTable:
    """Completed client transactions of one kind (`f`), numbered 0..n-1 in completion order.

    feed(pos, op, line) -> None for ops that are not a txn completion, else
    (tid, type_code, value) where value is what the txn did: the completion's value for ok,
    the invoke's value (falling back to the completion's) for fail and info.
    """

    def __init__(self, path="<history>", fs=("txn",)):
        self.path = path
        self.fs = frozenset(fs)
        # the pairing rules are checkers.pairing's; its `open` dict (process -> (pos, time, value)
        # of its pending invoke) is used directly by list_append's hot loop
        self.pairer = Pairer(path)
        self.pending = self.pairer.open
        self.procs = {}              # process value -> small int
        # one ROW per txn, packed (29 bytes per txn); append with
        # `cols += pack_row(...)`: 4x cheaper than array.extend of a tuple, which matters once
        # per txn in the hot loop
        self.cols = bytearray()
        self.n = 0

    COLS = ROW.names

    def feed(self, pos, op, line):
        if op.get("f") not in self.fs:
            return None
        p = op.get("process")
        t = op["type"]
        if t == "invoke":
            self.pairer.invoke(p, (pos, op.get("time"), op.get("value"), line), line, _line_of_pending)
            return None
        if p == NEMESIS:
            return None
        tm = op.get("time")
        inv = self.pairer.complete(p)
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
        for p, (pos, tm, value, *_) in self.pending.items():
            tid = self.n
            self.n += 1
            pid = self.procs.setdefault(p, len(self.procs))
            self.cols += pack_row(INFO, pid, NO_TIME if tm is None else int(tm), NO_TIME, pos, pos)
            leftovers.append((tid, INFO, value, pos))
        self.pairer.leftovers()
        self.pending = self.pairer.open
        self._table = None
        return leftovers

    def table(self):
        """The rows as a structured array (fields COLS)."""
        if getattr(self, "_table", None) is None or len(self._table) != self.n:
            self._table = np.frombuffer(self.cols, dtype=ROW, count=self.n)
        return self._table

    def col(self, name):
        return self.table()[name]

    def arrays(self):
        """(types, procs, t_inv, t_cmp) as numpy arrays (the last three views of the rows)."""
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
        return dict(zip(self.COLS, (int(x) for x in self.table()[tid].item())))

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
    """Real-time order through barrier nodes numbered from `first_node`, as three edge sets.

    Returns (n_barriers, [(src, dst, kind)]): txn -> its barrier (RT); the barrier chain and
    barrier -> txn (RTB). Barrier i stands for the i-th ok completion in time order.
    """
    done = np.nonzero((types == OK) & (t_cmp != NO_TIME))[0].astype(IDX)
    if len(done) == 0:
        return 0, []
    ctimes = t_cmp[done]
    if len(ctimes) > 1 and not (ctimes[1:] >= ctimes[:-1]).all():   # files are mostly in time order
        o = np.argsort(ctimes, kind="stable")
        done, ctimes = done[o], ctimes[o]
        del o
    nb = len(done)
    bar = np.arange(first_node, first_node + nb, dtype=IDX)
    # latest barrier completed strictly before each invoke -> the invoked txn
    targets = np.nonzero((types != FAIL) & (t_inv != NO_TIME))[0].astype(IDX)
    j = np.searchsorted(ctimes, t_inv[targets], side="left").astype(IDX)   # completions before it
    del ctimes
    m = j > 0
    return nb, [(done, bar, RT), (bar[:-1], bar[1:], RTB), (bar[j[m] - 1], targets[m], RTB)]


def _firsts(sorted_arr):
    """True where a sorted array's value differs from the one before it."""
    first = np.ones(len(sorted_arr), dtype=bool)
    np.not_equal(sorted_arr[1:], sorted_arr[:-1], out=first[1:])
    return first


class DepGraph:
    """The dependency graph: nodes 0..n_txn-1 are txns, the rest real-time barriers.

    Edges come in as segments (one type each) and go out as one compressed adjacency (CSR) of
    distinct (src, dst) pairs with a bitmask of their edge types: what the SCC pass needs, at
    about 5 bytes per edge instead of the 30 a scipy COO -> CSR conversion of float data costs
    (at 60 M edges that difference is the whole memory budget of an 8 M-txn check).
    """

    ROWS = 1 << 18    # source nodes per bucket: edges are kept split by source bucket as added

    def __init__(self, n_txn):
        self.n_txn = n_txn
        self.n_nodes = n_txn
        self.n_edges = 0            # every edge added (implied process edges too): for stats
        self._buckets = {}          # src // ROWS -> [(src, dst, type)]: int32 arrays, one type each
        self._proc = None           # (types, procs): process edges are re-derived inside SCCs

    def add(self, src, dst, typ):
        """Add edges src[i] -> dst[i], all of edge type `typ`."""
        src = np.asarray(src, dtype=IDX)
        dst = np.asarray(dst, dtype=IDX)
        self.n_edges += len(src)
        if not len(src):
            return
        # split by source bucket now, so csr() can free each bucket's edges as it compresses
        # them: the edges and their compressed form are never both whole in memory
        for i in range(0, len(src), self.ROWS * 4):     # in slices: bounded temporaries
            self._split(src[i:i + self.ROWS * 4], dst[i:i + self.ROWS * 4], int(typ))

    def _split(self, src, dst, typ):
        b = src // self.ROWS
        if b[0] == b[-1] and (b == b[0]).all():
            self._buckets.setdefault(int(b[0]), []).append((src.copy(), dst.copy(), typ))
            return
        order = np.argsort(b.astype(np.int16) if b.max() < 2 ** 15 else b, kind="stable")   # radix: O(n)
        b, src, dst = b[order], src[order], dst[order]
        cuts = np.flatnonzero(_firsts(b))
        for i, lo in enumerate(cuts):
            hi = cuts[i + 1] if i + 1 < len(cuts) else len(b)
            self._buckets.setdefault(int(b[lo]), []).append((src[lo:hi].copy(), dst[lo:hi].copy(), typ))

    def add_session_and_realtime(self, types, procs, t_inv, t_cmp):
        give_back_memory()          # the data edges' temporaries, before these add theirs
        a, b = process_edges(types, procs)
        # a -> b is implied by real time when a completed (ok, timed) before b was invoked: the
        # barrier path a -> ... -> b exists, so such edges change no SCC and stay out of the
        # adjacency; inside_edges() brings every process edge back where cycles are searched
        implied = (t_cmp[a] != NO_TIME) & (t_inv[b] != NO_TIME) & (t_cmp[a] < t_inv[b])
        self.n_edges += int(implied.sum())
        self.add(a[~implied], b[~implied], PROC)
        self._proc = (types, procs)
        nb, parts = realtime_edges(types, t_inv, t_cmp, self.n_txn)
        for src, dst, kind in parts:
            self.add(src, dst, kind)
        self.n_nodes = self.n_txn + nb

    def csr(self):
        """(indptr, indices, kinds): distinct pairs sorted by source; kinds[i] has bit 1 << t set
        for each edge type t between the pair. Consumes the edges."""
        n = self.n_nodes
        buckets, self._buckets = self._buckets, {}
        total = sum(len(s) for parts in buckets.values() for s, _, _ in parts)
        ix = IDX if total < 2 ** 31 and n < 2 ** 31 else np.int64
        # np.empty: pages become resident only as they are written, so the unused tail
        # (duplicate pairs) costs nothing
        indices = np.empty(total, ix)
        kinds = np.empty(total, np.uint8)
        indptr = np.zeros(n + 1, ix)
        out = 0
        for bk in sorted(buckets):
            lo = bk * self.ROWS
            hi = min(n, lo + self.ROWS)
            parts = buckets.pop(bk)
            key = np.concatenate([(((s - lo).astype(np.int64) * n + d) << 3) | t for s, d, t in parts])
            del parts
            key.sort()       # (numpy's unique hashes: slower and bigger than a sort here)
            key = key[_firsts(key)]
            pair = key >> 3
            starts = np.flatnonzero(_firsts(pair))
            bits = np.left_shift(1, key & 7).astype(np.uint8)
            del key
            uniq = pair[starts]
            k = len(uniq)
            indices[out:out + k] = uniq % n
            kinds[out:out + k] = np.bitwise_or.reduceat(bits, starts)
            indptr[lo + 1:hi + 1] = np.bincount(uniq // n, minlength=hi - lo)
            out += k
            if bk % 8 == 7:
                give_back_memory()    # the freed edges, as the compressed form grows
        np.cumsum(indptr, out=indptr)
        return indptr, indices[:out], kinds[:out]

    def sccs(self):
        """(labels per node, labels of components with 2+ nodes, the CSR): only those can hold
        cycles."""
        give_back_memory()          # what building the edges freed, before the CSR takes its place
        indptr, indices, kinds = self.csr()
        n = self.n_nodes
        if n == 0 or len(indices) == 0:
            return np.zeros(n, np.int64), [], (indptr, indices, kinds)
        # csgraph reads only the structure; a zero-stride view stands in for the float weights
        # (the pairs are distinct: scipy's strong components never ends on repeated entries)
        mat = csr_matrix((np.broadcast_to(np.float64(1.0), indices.shape), indices, indptr), shape=(n, n))
        k, labels = connected_components(mat, directed=True, connection="strong")
        if k == n:
            return labels, [], (indptr, indices, kinds)     # every node alone: no cycle
        sizes = np.bincount(labels)
        return labels, list(np.nonzero(sizes >= 2)[0]), (indptr, indices, kinds)

    def inside_edges(self, labels, comps, csr):
        """(src, dst, type) of every edge whose ends lie in one component of `comps`, one entry per
        edge type (process edges included, also those the adjacency left out)."""
        indptr, indices, kinds = csr
        in_comp = np.zeros(labels.max() + 1, dtype=bool)
        in_comp[comps] = True
        node_in = in_comp[labels]
        rows = np.flatnonzero(node_in & (np.diff(indptr) > 0))
        lens = (indptr[rows + 1] - indptr[rows]).astype(np.int64)
        pos = np.repeat(indptr[rows].astype(np.int64) - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        s = np.repeat(rows, lens)
        d = indices[pos].astype(np.int64)
        k = kinds[pos]
        same = labels[s] == labels[d]
        s, d, k = s[same], d[same], k[same]
        src, dst, typ = [], [], []
        for t in (WW, WR, RW, PROC, RT, RTB):
            m = (k >> t) & 1 == 1
            if t == PROC and self._proc is not None:
                a, b = process_edges(*self._proc)
                m = node_in[a] & (labels[a] == labels[b])
                src.append(a[m]), dst.append(b[m])
            else:
                src.append(s[m]), dst.append(d[m])
            typ.append(np.full(int(m.sum()), t, np.int8))
        return (np.concatenate(src).astype(np.int64), np.concatenate(dst).astype(np.int64),
                np.concatenate(typ))


def strong_components(src, dst, n):
    """(labels, [labels of components with 2+ nodes]) of the directed graph on n nodes."""
    src = np.asarray(src, dtype=IDX)
    dst = np.asarray(dst, dtype=IDX)
    # float64 data: what csgraph works on (bool would be converted, a copy of every edge)
    mat = csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    _, labels = connected_components(mat, directed=True, connection="strong")
    sizes = np.bincount(labels)
    return labels, list(np.nonzero(sizes >= 2)[0])
