"""List-append checker: Elle's inference for histories of `append` and `r` micro-ops on lists.

Micro-ops: ["append", key, value] (values unique per key), ["r", key, list|null].

What is inferred, and why it is sound:
- Version order per key: every committed read must be a prefix of one order, the longest read
  (reads are checked against each other as they stream in; prefix is transitive, so only the
  current longest and each read's length are kept). A read that is not a prefix:
  incompatible-order, and that key gives no ww/rw edges.
- ww: consecutive writers in a key's order; a committed append no read ever shows comes after the
  last shown one (its order among other unshown appends is unknown: no edges between them).
- wr: the writer of the last element a read shows -> the reader.
- rw: a reader -> the writer of the first element its read lacks (every unshown committed append
  when the read shows the whole known order).
- fail txns never happened: their appends give no edges, and reading one is G1a. info txns may
  or may not have happened: their appends give edges only when some committed read shows them
  (then they happened); their reads are unknown and give nothing; no edge leaves an info txn in
  process or real-time order.
Non-cycle anomalies: G1a, G1b (read ends on an append the writer later extended in the same
txn), dirty-update (a committed append lies after a failed one in the order), internal (a read
after the txn's own appends does not end with them), future-read (a read shows an append its own
txn makes only later), lost-update (two committed txns read the same version of a key and both
append to it), duplicate-elements, incompatible-order. Their record types, and the cases not
found inline while streaming, are in checkers/list_append_cases.py.

Entry points: check(history, model, **opts) for a list of ops (any subset of a history works);
check_file(path, model, **opts) streams a file in constant memory per op.
Options: budget (cycle-search states, default cycles.DEFAULT_BUDGET), fs (op `f` values that are
transactions, default ("txn",)).
"""
from __future__ import annotations

import os
import struct
from array import array
import time
from collections import defaultdict
from itertools import count, repeat

import numpy as np
import orjson

from checkers import cycles as cyc
from checkers import list_append_cases as cases
from checkers.api import MAX_INSTANCES
from checkers.explain import TxnExplainer, fmt_list
from checkers.graph import (FAIL, NO_TIME, OK, RW, TYPE_CODE, WR, WW, DepGraph, TxnTable,
                            pack_row)
from checkers.history import (HistoryError, fetch_lines, give_back_memory, is_edn, no_gc, open_history, read_chunks, read_history,
                              read_line, refused_on_crash, source_of, strict_ops,
                              validate_op)
from checkers.pairing import NEMESIS, invoked_again, never_pairs

TYPES = dict(TYPE_CODE)
KEEP = 100   # raw instances kept per anomaly type while scanning (the result shows MAX_INSTANCES)
# one committed read, packed (13 bytes): its txn, key id, length, external (0/1: no own append before)
READ = np.dtype([("tid", "<i4"), ("kid", "<i4"), ("len", "<i4"), ("ext", "i1")])
pack_read = struct.Struct("<iiib").pack
READ_BYTES = READ.itemsize
READ_SLICE = 1 << 20   # reads whose edges are computed at once
NOAPP = object()   # marks "no append of its own to this key yet" in a txn's per-key state


class SpentWriters:
    """kid -> {value: tid} once streaming is over, in 12 bytes per append instead of a dict's ~50
    (plus an int object per txn): integer values and their writers in two arrays, a dict rebuilt
    on demand for the few keys explanations and odd reads look into; other values keep their dict."""

    def __init__(self):
        self.vals, self.tids = array("q"), array("i")
        self.span = {}      # kid -> (start, end) in vals / tids
        self.kept = {}      # kid -> its dict: values that are not all int64, and keys rebuilt

    def keep(self, kid, writers: dict):
        start = len(self.vals)
        try:
            self.vals.extend(writers)
        except (TypeError, OverflowError):     # a str, float or huge value: keep the dict
            del self.vals[start:]
            self.kept[kid] = writers
            return
        self.tids.extend(writers.values())
        self.span[kid] = (start, len(self.vals))

    def __getitem__(self, kid) -> dict:
        d = self.kept.get(kid)
        if d is None:
            a, b = self.span.get(kid, (0, 0))
            d = self.kept[kid] = dict(zip(self.vals[a:b], self.tids[a:b]))
        return d


class Analyzer(TxnExplainer):
    """Streams ops in, then `finish()` builds the graph and the result."""

    def __init__(self, path="<history>", fs=("txn",)):
        self.path = path
        self.table = TxnTable(path, fs)
        self.kids = {}
        self.keys = []
        self.writers = []        # kid -> {value: tid}
        self.longest = []        # kid -> longest read list
        self.longest_by = []     # kid -> tid that read it
        self.inter = {}          # kid -> values whose appender appended to the key again later
        self.bad = set()         # kids whose order is unusable (incompatible / duplicates)
        self.reads = bytearray() # per committed read, one READ
        self.rmw = []            # (kid, first read's length, tid, its row): read, then appended
        self.odd = {}            # read row -> value, for reads not a prefix of the longest read
        self.switches = defaultdict(list)   # kid -> [(row, longest read before that row)]
        self.raw = defaultdict(list)
        self.counts = defaultdict(int)
        self.line_fn = None

    # -- streaming ------------------------------------------------------------------------
    def _record(self, finding):
        kind = finding.kind
        self.counts[kind] += 1
        if len(self.raw[kind]) < KEEP:
            self.raw[kind].append(finding)

    def _found(self, kind, found):
        """(how many, records of the first KEEP) from a case: keep the records, count them all."""
        n, records = found
        for r in records:
            self._record(r)
        self.counts[kind] += max(0, n - KEEP)

    def _kid(self, k, line):
        kid = self.kids.get(k)
        if kid is None:
            try:
                kid = self.kids[k] = len(self.keys)
            except TypeError:
                raise HistoryError(self.path, self._line(line), f"key {k!r} is not a number or string") from None
            self.keys.append(k)
            self.writers.append({})
            self.longest.append(None)
            self.longest_by.append(-1)
        return kid

    def feed(self, pos, op, line):
        """One op (slow path, for callers that feed ops one by one)."""
        self.consume([op], pos, None, (lambda _p: line))

    def consume(self, ops, pos0=0, positions=None, line_fn=None):
        """Feed a batch of ops: op i sits at position pos0 + i (or positions[i]).

        Positions identify ops for fetching them back later (list index, or file line);
        line_fn(pos) gives the file line for error messages (default: the position itself).
        This is the hot loop of the checker: pairing invokes with completions (checkers.pairing's
        rules) is inlined here.
        """
        tab = self.table
        fs = tab.fs
        pend = tab.pending
        procs = tab.procs
        cols = tab.cols
        txn = self._txn
        path = self.path
        kids, writers, longest, longest_by = self.kids, self.writers, self.longest, self.longest_by
        reads = self.reads
        inter = self.inter
        rmw_append = self.rmw.append
        nread = len(reads) // READ_BYTES
        tid = tab.n
        self.line_fn = line_fn
        pos = pos0 - 1
        # positions come from a C-level iterator; ops may be a lazy map(orjson.loads, file): if
        # parsing a line fails, self.last_pos is the last line that parsed
        it = zip(positions, ops) if positions is not None else zip(count(pos0), ops)
        try:
            for pos, op in it:
                try:
                    t = op["type"]
                    f = op["f"]
                except (KeyError, TypeError):
                    validate_op(op, path, line_fn(pos) if line_fn else pos)
                    raise
                if f not in fs:
                    if t not in TYPES:
                        validate_op(op, path, line_fn(pos) if line_fn else pos)
                    continue
                p = op.get("process")
                # pairing: checkers.pairing's rules, inlined on its Pairer.open dict (`pend`)
                if t == "invoke":
                    if type(p) is not int and never_pairs(p):
                        continue
                    if p in pend:
                        prev = pend[p][0]
                        raise invoked_again(path, line_fn(pos) if line_fn else pos, p,
                                            line_fn(prev) if line_fn else prev)
                    pend[p] = (pos, op.get("time"), op.get("value"))
                    continue
                if type(p) is not int and p == NEMESIS:
                    continue
                code = TYPES.get(t)
                if code is None:
                    validate_op(op, path, line_fn(pos) if line_fn else pos)
                tm = op.get("time")
                value = op.get("value")
                inv = pend.pop(p, None)
                if inv is not None:
                    pos_inv, t_inv = inv[0], inv[1]
                    if code and inv[2] is not None:      # fail / info: what was asked
                        value = inv[2]
                    if t_inv is None:
                        t_inv = NO_TIME
                else:
                    pos_inv, t_inv = -1, NO_TIME
                pid = procs.get(p, -1)
                if pid == -1 and p is not None:
                    pid = procs[p] = len(procs)
                try:
                    cols += pack_row(code, pid, t_inv, NO_TIME if tm is None else tm, pos_inv, pos)
                except (TypeError, struct.error):   # float times: whole nanoseconds are plenty
                    for bad_pos, x in ((pos_inv, t_inv), (pos, tm)):
                        if x is not None and type(x) not in (int, float):
                            raise HistoryError(path, line_fn(bad_pos) if line_fn else bad_pos,
                                               f"field 'time' must be a number, got {x!r}") from None
                    cols += pack_row(code, pid, int(t_inv), NO_TIME if tm is None else int(tm), pos_inv, pos)
                tid += 1
                if code or type(value) is not list:
                    txn(tid - 1, code, value, pos)     # fail / info / malformed: the slow path
                    continue
                # --- a committed txn, inline (this runs once per micro-op of the history) ---
                cur = tid - 1
                # kid -> [expected base (a read, or None: unknown), own appends since it,
                #         first read, its row, last read, last own append (or NOAPP)]
                state = None
                for mop in value:
                    try:
                        f, k, v = mop     # anything but a 3-item micro-op fails here or below
                        kid = kids.get(k)
                    except (ValueError, TypeError):
                        self._bad_mop(mop, pos)
                    if kid is None:
                        kid = self._kid(k, pos)
                    if f == "r":
                        if v is None:
                            v = []
                        elif type(v) is not list:
                            raise HistoryError(path, self._line(pos),
                                               f"read of key {k!r} must be a list or null, got {v!r}")
                        n = len(v)
                        L = longest[kid]
                        if L is None:
                            longest[kid] = v
                            longest_by[kid] = cur
                        else:
                            m = len(L)
                            if n > m:
                                if v[:m] == L:
                                    longest[kid] = v
                                    longest_by[kid] = cur
                                else:
                                    self._incompatible(kid, cur, v, L, nread)
                            elif (v != L) if n == m else (L[:n] != v):
                                self._incompatible(kid, cur, v, L, nread)
                        s = state.get(kid) if state is not None else None
                        if s is None:
                            if state is None:
                                state = {kid: [v, [], v, nread, v, NOAPP]}
                            else:
                                state[kid] = [v, [], v, nread, v, NOAPP]
                            reads += pack_read(cur, kid, n, 1)
                        else:
                            # Elle's internal: a read must show the txn's own view so far (its
                            # previous read, plus its own appends since)
                            base, tail = s[0], s[1]
                            if base is None:
                                j = len(tail)
                                if n < j or v[n - j:] != tail:
                                    self._record(cases.Internal(cur, self.keys[kid], v, None, list(tail)))
                            elif (v != base + tail) if tail else (v != base):
                                self._record(cases.Internal(cur, self.keys[kid], v, base, list(tail)))
                            s[0] = v
                            s[1] = []
                            s[4] = v
                            if s[2] is None:
                                s[2] = v
                                s[3] = nread
                            reads += pack_read(cur, kid, n, s[5] is NOAPP)
                        nread += 1
                    elif f == "append":
                        w = writers[kid]
                        try:
                            if v in w:
                                self._dup(k, v, pos)
                        except TypeError:
                            self._unhashable(mop, pos)
                        w[v] = cur
                        s = state.get(kid) if state is not None else None
                        if s is None:
                            if state is None:
                                state = {kid: [None, [v], None, -1, None, v]}
                            else:
                                state[kid] = [None, [v], None, -1, None, v]
                            continue
                        s[1].append(v)
                        if s[5] is NOAPP:
                            if s[2] is not None:     # lost update is keyed on the first read (Elle)
                                rmw_append((kid, len(s[2]), cur, s[3]))
                        else:
                            inter.setdefault(kid, []).append(s[5])
                        s[5] = v
                        lr = s[4]
                        if lr is not None and (v in lr or (s[2] is not lr and v in s[2])):
                            self._record(cases.FutureRead(cur, self.keys[kid], lr if v in lr else s[2], v))
                    else:
                        self._bad_mop(mop, pos)
        finally:
            self.last_pos = pos
            tab.n = tid

    def _line(self, pos):
        return self.line_fn(pos) if self.line_fn is not None and pos is not None else pos

    def _bad_mop(self, mop, pos):
        raise HistoryError(self.path, self._line(pos),
                           f"unknown micro-op {mop!r} (expected [\"append\", key, value] or [\"r\", key, list])")

    def _txn(self, tid, code, value, line):
        """A fail/info txn, or any txn whose value is malformed (`line` is its position; errors
        resolve the line). Committed txns are handled inline in `consume`, the hot loop."""
        if value is None:
            if code == OK:
                raise HistoryError(self.path, self._line(line), "ok transaction without a value")
            return
        if type(value) is not list:
            raise HistoryError(self.path, self._line(line), f"transaction value must be a list of micro-ops, got {value!r}")
        kids = self.kids
        writers = self.writers
        if code != OK:
            # fail/info: only their appends matter (reads unknown or never happened)
            for mop in value:
                if type(mop) is not list or len(mop) != 3:
                    self._bad_mop(mop, line)
                f, k, v = mop
                if f == "append":
                    kid = kids.get(k)
                    if kid is None:
                        kid = self._kid(k, line)
                    w = writers[kid]
                    try:
                        if v in w:
                            self._dup(k, v, line)
                    except TypeError:
                        self._unhashable(mop, line)
                    w[v] = tid
                elif f != "r":
                    self._bad_mop(mop, line)
            return

    def _unhashable(self, mop, pos):
        raise HistoryError(self.path, self._line(pos),
                           f"micro-op {mop!r}: appended values must be numbers or strings")

    def _dup(self, k, v, line):
        raise HistoryError(self.path, self._line(line), f"value {v!r} appended to key {k!r} more than once "
                                            "(appended values must be unique per key)")

    def _incompatible(self, kid, tid, v, L, row):
        self.odd[row] = v        # the only reads that are not a prefix of their key's longest read
        self.counts["incompatible-order"] += 1
        if kid not in self.bad:
            self.bad.add(kid)
            if len(self.raw["incompatible-order"]) < KEEP:
                self.raw["incompatible-order"].append(
                    cases.IncompatibleOrder(self.keys[kid], tid, list(v), self.longest_by[kid], list(L)))
        if len(v) > len(L):
            # the key's order is its longest read, as in Elle; reads before this one were
            # prefixes of L (see _read_value)
            self.switches[kid].append((row, L))
            self.longest[kid] = v
            self.longest_by[kid] = tid

    # -- analysis -------------------------------------------------------------------------
    def finish(self, fetch_ops, model, budget=cyc.DEFAULT_BUDGET):
        t0 = time.perf_counter()
        for tid, code, value, pos in self.table.finish():
            self._txn(tid, code, value, pos)
        tab = self.table
        bad_time = tab.check_times()
        if bad_time is not None:
            raise HistoryError(self.path, self._line(bad_time),
                               "op completes at an earlier time than its invoke")
        types, procs, t_inv, t_cmp = tab.arrays()
        n = tab.n
        self.ty, self.tinv, self.tcmp = types, t_inv, t_cmp
        self.pcmp, self.pinv = tab.col("pos_cmp"), tab.col("pos_inv")
        nk = len(self.keys)

        # flatten every key's version order: flat position -> writer txn (-1 if none known). The
        # order is the longest read, duplicates dropped (as Elle does, also for keys whose reads
        # disagree: those are reported, and their edges kept as the longest read implies them)
        flat_w = array("i")                 # 4 bytes per element (a list: 8 + the int objects)
        offs = [0] * (nk + 1)
        uo_key, uo_tid = [], []             # appends no read shows (filtered to ok below)
        inter = self.inter
        inter_pos = []
        bad = self.bad
        self.orders = {}                    # kid -> order, where it is not the longest read itself
        extend = flat_w.extend
        spent = SpentWriters()                # each key's writers, compact once used here
        for kid in range(nk):
            L = self.longest[kid] or ()
            W = self.writers[kid]
            off = len(flat_w)
            offs[kid] = off
            nknown = 0
            if L:
                try:
                    Lset = set(L)
                except TypeError:
                    pos = int(self.table.col("pos_cmp")[self.longest_by[kid]])
                    raise HistoryError(self.path, self._line(pos),
                                       f"read of key {self.keys[kid]!r} holds an element that is not "
                                       "a number or string") from None
                if len(Lset) != len(L):
                    self._record(cases.duplicate_elements(self.keys[kid], self.longest_by[kid], L))
                    bad.add(kid)
                    L = self.orders[kid] = list(dict.fromkeys(L))
                ws = list(map(W.get, L, repeat(-1, len(L))))
                nknown = len(ws) - ws.count(-1)
                extend(ws)
                for x in inter.get(kid, ()):
                    if x in Lset:
                        inter_pos.append(off + L.index(x))
            else:
                Lset = ()
            if len(W) > nknown:
                for x in (W.keys() - Lset if Lset else W.keys()):
                    uo_key.append(kid)
                    uo_tid.append(W[x])
            spent.keep(kid, W)
            self.writers[kid] = None
        self.writers = spent
        give_back_memory()
        offs[nk] = len(flat_w)
        key_off = np.asarray(offs, dtype=np.int64)
        key_len = np.diff(key_off)
        fw = np.frombuffer(flat_w, dtype=np.int32).copy() if flat_w else np.zeros(0, np.int32)
        del flat_w, extend
        flat_key = np.repeat(np.arange(nk, dtype=np.int32), key_len)
        key_bad = np.zeros(nk, dtype=bool)
        if bad:
            key_bad[list(bad)] = True
        known = fw >= 0
        fw_type = np.where(known, types[np.where(known, fw, 0)] if n else 0, -1)
        failed = fw_type == FAIL
        valid = known & ~failed

        rd = np.frombuffer(self.reads, dtype=READ)
        r_txn, r_kid, r_len, r_ext = rd["tid"], rd["kid"], rd["len"], rd["ext"].astype(bool)
        r_off = key_off.astype(np.int32)[r_kid]    # flat positions: int32 like fw's index
        # reads of keys whose reads disagree or repeat elements are judged one by one on their
        # values (below); every other read is a prefix of its key's order, judged by its length
        r_bad = key_bad[r_kid]

        self._g1a_g1b_dirty(fw, fw_type, failed, known, key_off, key_len, r_bad, inter_pos,
                            r_txn, r_kid, r_len, r_off)
        for r in cases.lost_updates(self.rmw, self.bad, self._read_value, self.longest, self.keys):
            self._record(r)

        # --- dependency edges ---
        g = DepGraph(n)
        self._data_edges(g, fw, flat_key, valid, types, key_off, key_len, uo_key, uo_tid,
                         r_txn, r_kid, r_len, r_ext, r_bad, r_off)
        del flat_key, known, fw_type, failed, valid, rd, r_txn, r_kid, r_len, r_ext, r_off, r_bad
        del uo_key, uo_tid
        self.reads = None          # judged and turned into edges: explanations re-read the ops
        g.add_session_and_realtime(types, procs, t_inv, t_cmp)
        t_graph = time.perf_counter()
        found, search = cyc.find_cycles(g, n, budget=budget)

        self.fw, self.key_off = fw, key_off
        anomalies = self._instances(found, fetch_ops, fw, key_off)
        stats = tab.stats()
        stats.update({"keys": nk, "edges": g.n_edges,
                      "graph_seconds": round(t_graph - t0, 3)})
        return cyc.cycle_check_result(anomalies, model, stats, search, self.counts)

    def _data_edges(self, g, fw, flat_key, valid, types, key_off, key_len, uo_key, uo_tid,
                    r_txn, r_kid, r_len, r_ext, r_bad, r_off):
        """ww, wr and rw edges into g (a method of its own: its temporaries, several per
        append and per read, are gone before the SCC pass)."""
        nk = len(key_len)
        idx = np.arange(len(fw), dtype=np.int32)
        vpos = idx[valid]
        # ww: consecutive valid writers of a key
        a, b = vpos[:-1], vpos[1:]
        m = (flat_key[a] == flat_key[b]) & (fw[a] != fw[b])
        g.add(fw[a[m]], fw[b[m]], WW)
        prev_valid = np.maximum.accumulate(np.where(valid, idx, np.int32(-1))) if len(idx) else idx
        big = np.int32(len(idx) + 1)
        next_valid = (np.minimum.accumulate(np.where(valid, idx, big)[::-1])[::-1]
                      if len(idx) else idx)
        nflat = len(idx)
        del idx, vpos, a, b, m
        # unobserved committed appends, grouped by key
        uo_key = np.asarray(uo_key, dtype=np.int64)
        uo_tid = np.asarray(uo_tid, dtype=np.int64)
        keep = (types[uo_tid] == OK) if len(uo_key) else np.zeros(0, bool)
        uo_key, uo_tid = uo_key[keep], uo_tid[keep]
        order = np.argsort(uo_key, kind="stable")
        uo_key, uo_tid = uo_key[order], uo_tid[order]
        uo_start = np.searchsorted(uo_key, np.arange(nk))
        uo_count = np.searchsorted(uo_key, np.arange(nk), side="right") - uo_start
        # last shown writer -> each unshown committed append
        if len(uo_key):
            ends = key_off[uo_key] + key_len[uo_key] - 1
            lv = np.where(key_len[uo_key] > 0, prev_valid[np.maximum(ends, 0)] if nflat else -1, -1)
            ok_ = lv >= key_off[uo_key]
            src = fw[lv[ok_]]
            dst = uo_tid[ok_]
            mm = src != dst
            g.add(src[mm], dst[mm], WW)

        # reads in slices: their temporaries (a dozen arrays per read) stay a few MB at any size
        for lo in range(0, len(r_txn), READ_SLICE):
            s = slice(lo, lo + READ_SLICE)
            self._read_edges(g, fw, prev_valid, next_valid, nflat, key_len, uo_key, uo_tid, uo_start,
                             uo_count, r_txn[s], r_kid[s], r_len[s], r_ext[s] & ~r_bad[s], r_off[s])
        if r_bad.any():
            self._odd_key_reads(g, np.nonzero(r_bad)[0], r_txn, r_kid, r_len, r_ext,
                                uo_key, uo_tid, uo_start, uo_count)

    def _read_edges(self, g, fw, prev_valid, next_valid, nflat, key_len, uo_key, uo_tid, uo_start,
                    uo_count, r_txn, r_kid, r_len, ext, r_off):
        """wr and rw edges of some reads (those of keys with a usable order: `ext` marks them)."""
        # wr: writer of the last valid element a read shows -> reader
        has = ext & (r_len > 0)
        if nflat:
            p = np.where(has, r_off + r_len - 1, 0)
            q = prev_valid[p]
            m = has & (q >= r_off)
            src, dst = fw[q[m]], r_txn[m]
            mm = src != dst
            g.add(src[mm], dst[mm], WR)
            # rw: reader -> writer of the first valid element it lacks (also from a read that
            # stops inside another txn's appends: G1b, and, as Elle reports, G-single with it)
            p = np.where(ext & (r_len < key_len[r_kid]), r_off + r_len, 0)
            q = next_valid[np.minimum(p, nflat - 1)]
            nxt = ext & (r_len < key_len[r_kid]) & (q < r_off + key_len[r_kid])
            src, dst = r_txn[nxt], fw[q[nxt]]
            mm = src != dst
            g.add(src[mm], dst[mm], RW)
        else:
            nxt = np.zeros(len(r_txn), bool)
        # reads that show every valid element: -> every unshown committed append of the key
        tail = ext & ~nxt
        if len(uo_key) and tail.any():
            rs = np.nonzero(tail & (uo_count[r_kid] > 0))[0]
            cnt = uo_count[r_kid[rs]]
            rep = np.repeat(rs, cnt)
            starts = np.repeat(uo_start[r_kid[rs]], cnt)
            within = np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            src, dst = r_txn[rep], uo_tid[starts + within]
            mm = src != dst
            g.add(src[mm], dst[mm], RW)

    def _g1a_g1b_dirty(self, fw, fw_type, failed, known, key_off, key_len, r_bad, inter_pos,
                       r_txn, r_kid, r_len, r_off):
        """G1a, garbage-read, dirty-update and G1b on the reads that are prefixes of their key's
        order (the others: _odd_key_reads); the cases are in list_append_cases."""
        if len(fw) == 0:
            return
        nk = len(key_len)
        good = ~r_bad
        flat_key = np.repeat(np.arange(nk), key_len)
        order, keys = self.order, self.keys
        first_fail = cases.first_flagged(failed, flat_key, key_off, nk)
        if first_fail is not None:
            self._found("G1a", cases.g1a_reads(first_fail[1], fw, key_off, good, r_txn, r_kid, r_len,
                                               order, keys, KEEP))
        first_unknown = cases.first_flagged(~known, flat_key, key_off, nk)
        if first_unknown is not None:
            self._found("garbage-read", cases.garbage_reads(first_unknown[1], key_off, good, r_txn, r_kid,
                                                            r_len, order, keys, KEEP))
        if first_fail is not None:
            for r in cases.dirty_updates(*first_fail, fw, fw_type, key_off, keys):
                self._record(r)
        if inter_pos:
            self._found("G1b", cases.g1b_reads(inter_pos, fw, fw_type, good, r_txn, r_kid, r_len, r_off,
                                               order, keys, KEEP))

    def _read_value(self, row, kid, n):
        """What a read showed: its own value if it disagreed with the longest read so far, else a
        prefix of the longest read as it was when the read came."""
        v = self.odd.get(row)
        if v is not None:
            return v
        for switched_at, before in self.switches.get(kid, ()):
            if row < switched_at:
                return before[:n]
        return self.longest[kid][:n]

    def _odd_key_reads(self, g, rows, r_txn, r_kid, r_len, r_ext, uo_key, uo_tid, uo_start, uo_count):
        """Reads of keys whose reads disagree or repeat elements, judged one by one on what they
        show, as Elle judges them: G1a / garbage-read / G1b on their elements, wr from the writer
        of the last element shown, rw to the writer of the next element in the key's order."""
        ty = self.ty
        wr_s, wr_d, rw_s, rw_d = [], [], [], []
        pos_of, inter_of = {}, {}
        for i, t, kid, nn, ext in zip(rows.tolist(), r_txn[rows].tolist(), r_kid[rows].tolist(),
                                      r_len[rows].tolist(), r_ext[rows].tolist()):
            v = self._read_value(i, kid, nn)
            W = self.writers[kid]
            O = self.order(kid)
            if kid not in pos_of:
                pos_of[kid] = {x: j for j, x in enumerate(O)}
                inter_of[kid] = set(self.inter.get(kid, ()))
            try:
                r = cases.aborted_or_garbage(t, self.keys[kid], v, W, ty)
                if r is not None:
                    self._record(r)
                last = v[-1] if v else None
                j = pos_of[kid].get(last, -2) if v else -1
            except TypeError:
                raise HistoryError(self.path, self._line(int(self.pcmp[t])),
                                   f"read of key {self.keys[kid]!r} holds an element that is not "
                                   "a number or string") from None
            r = cases.intermediate_read(t, self.keys[kid], v, W, ty, inter_of[kid])
            if r is not None:
                self._record(r)
            if not ext:
                continue
            for x in reversed(v):
                w = W.get(x)
                if w is not None and ty[w] != FAIL:
                    if w != t:
                        wr_s.append(w)
                        wr_d.append(t)
                    break
            if j == -2:          # its last element is not in the key's order: nothing follows it
                continue
            nxt = None
            for x in O[j + 1:]:
                w = W.get(x)
                if w is not None and ty[w] != FAIL:
                    nxt = w
                    break
            targets = ([nxt] if nxt is not None else
                       uo_tid[uo_start[kid]:uo_start[kid] + uo_count[kid]].tolist() if len(uo_key) else [])
            for w in targets:
                if w != t:
                    rw_s.append(t)
                    rw_d.append(w)
        g.add(wr_s, wr_d, WR)
        g.add(rw_s, rw_d, RW)

    # -- explanations ---------------------------------------------------------------------
    def _instances(self, found, fetch_ops, fw, key_off):
        """Turn findings into result instances with ops and plain-words explanations."""
        kept = [f for items in self.raw.values() for f in items[:MAX_INSTANCES]]
        tids = set()
        for f in kept:
            tids.update(f.txns)
        for c in found:
            tids.update(c["nodes"])
        ops = self.fetch_txn_ops(tids, fetch_ops)
        # explanations cite the read that shows each key's order: fetch those readers too
        more = set()
        for t in tids:
            for m in self.mops(t):
                if isinstance(m, list) and len(m) == 3:
                    try:
                        kid = self.kids.get(m[1])
                    except TypeError:
                        continue
                    if kid is not None and self.longest_by[kid] >= 0:
                        more.add(self.longest_by[kid])
        for f in kept:
            if f.cites_order:
                kid = self.kids[f.key]
                if self.longest_by[kid] >= 0:
                    more.add(self.longest_by[kid])
        extra = set()
        for t in more - tids:
            extra.add(int(self.pcmp[t]))
        if extra:
            ops.update(fetch_ops(sorted(extra)))

        out = defaultdict(list)
        for f in kept:
            out[f.kind].append(f.explain(self))
        for c in found:
            out[c["type"]].append(self.explain_cycle(c))
        return out

    def mops(self, tid):
        """What the txn did: the completion's micro-ops for ok, the invoke's otherwise."""
        op = self.op(tid)
        if self.ty[tid] != OK and self.inv(tid) is not None:
            op = self.inv(tid)
        v = op.get("value") if op else None
        return v if isinstance(v, list) else []

    def order(self, kid):
        """A key's version order: its longest read (duplicates dropped)."""
        o = self.orders.get(kid)
        return o if o is not None else (self.longest[kid] or [])

    def _appends(self, tid):
        return [(m[1], m[2]) for m in self.mops(tid) if isinstance(m, list) and len(m) == 3
                and m[0] == "append"]

    def _ext_reads(self, tid):
        """(key, list) of the reads a txn made before appending to that key."""
        out, appended = [], set()
        for m in self.mops(tid):
            if not (isinstance(m, list) and len(m) == 3):
                continue
            try:
                if m[0] == "append":
                    appended.add(m[1])
                elif m[0] == "r" and m[1] not in appended:
                    out.append((m[1], m[2] or []))
            except TypeError:
                continue
        return out

    def why_data(self, a, b, kind):
        A, B = self.name(a), self.name(b)
        if kind == "wr":
            for k, r in self._ext_reads(b):
                kid = self.kids.get(k)
                if kid is None or not r:
                    continue
                W = self.writers[kid]
                for x in reversed(r):
                    w = W.get(x)
                    if w is not None and self.ty[w] != FAIL:
                        if w == a:
                            return (f"{B} read key {k!r} = {fmt_list(r)}, which includes {A}'s append "
                                    f"of {x!r}.", k)
                        break
        if kind == "ww":
            bvals = self._appends(b)
            for k, x in self._appends(a):
                kid = self.kids.get(k)
                if kid is None:
                    continue
                L = self.order(kid)
                Lpos = {v: i for i, v in enumerate(L)}
                ys = [y for kk, y in bvals if kk == k]
                if not ys or x not in Lpos:
                    continue
                for y in ys:
                    if y in Lpos and Lpos[y] > Lpos[x]:
                        return (f"{A} appended {x!r} to key {k!r} and {B} appended {y!r} after it: "
                                f"{self.name(self.longest_by[kid])} read key {k!r} = "
                                f"{fmt_list(L[:Lpos[y] + 1], Lpos[y])}.", k)
                    if y not in Lpos:
                        return (f"{A} appended {x!r} to key {k!r}, which reads show (e.g. "
                                f"{self.name(self.longest_by[kid])} read {fmt_list(L, Lpos[x])}); "
                                f"{B} appended {y!r} to it and committed, but no read ever shows {y!r}, so "
                                f"it comes after everything reads show.", k)
        if kind == "rw":
            bvals = self._appends(b)
            for k, r in self._ext_reads(a):
                kid = self.kids.get(k)
                if kid is None:
                    continue
                L = self.order(kid)
                ys = [y for kk, y in bvals if kk == k]
                for y in ys:
                    if y in r:
                        continue
                    if y in L:
                        j = L.index(y)
                        return (f"{A} read key {k!r} = {fmt_list(r)}, which lacks {B}'s append of {y!r}; "
                                f"{y!r} comes right after what {A} saw, as "
                                f"{self.name(self.longest_by[kid])}'s read {fmt_list(L[:j + 1], j)} shows.", k)
                    return (f"{A} read key {k!r} = {fmt_list(r)}, which lacks {B}'s append of {y!r}; no read "
                            f"ever shows {y!r}, yet {B} committed, so {y!r} comes after everything reads show.", k)
        return None


def _stream_jsonl(an, path):
    """Parse and consume line by line (each op freed at once: measurably faster than batches).
    The first blank line switches the rest of the file to the careful batch reader."""
    if not os.path.isfile(path):
        read_history(path)   # raises the right one-line error
    with open_history(path) as f, refused_on_crash(path):
        try:
            an.consume(strict_ops(path, f), 1, None, None)   # validated: exact types
        except orjson.JSONDecodeError as e:
            bad = an.last_pos + 1
            if read_line(path, bad).strip():
                raise HistoryError(path, bad, f"malformed JSON: {e}") from None
            for ops, line0, lines in read_chunks(path, f, bad + 1):
                an.consume(ops, line0, lines, None)


def check(history, model="strict-serializable", budget=cyc.DEFAULT_BUDGET, fs=("txn",), **_):
    """Check an in-memory list of ops (a whole history or any subset of one)."""
    lines = getattr(history, "lines", None)
    line_fn = (lambda p: lines[p]) if lines is not None else (lambda p: p + 1)
    return _judge(source_of(history), fs, lambda an: an.consume(history, 0, None, line_fn),
                  lambda positions: {p: history[p] for p in positions}, model, budget)


def check_file(path, model="strict-serializable", budget=cyc.DEFAULT_BUDGET, fs=("txn",), **_):
    """Check a history file, streaming it (positions are file lines)."""
    def feed(an):
        if is_edn(path):
            for ops, line0, lines in read_chunks(path):
                an.consume(ops, line0, lines, None)
        else:
            _stream_jsonl(an, path)

    return _judge(str(path), fs, feed, lambda lines: fetch_lines(path, lines), model, budget)


def _judge(source, fs, feed, fetch_ops, model, budget):
    """feed(analyzer) streams the ops in; fetch_ops(positions) -> {position: op} brings back the
    few ops explanations cite. The cyclic GC is paused throughout (see history.no_gc)."""
    t0 = time.perf_counter()
    with no_gc():
        an = Analyzer(source, fs)
        feed(an)
        result = an.finish(fetch_ops, model, budget=budget)
    result["stats"]["seconds"] = round(time.perf_counter() - t0, 3)
    return result
