"""rw-register checker: histories of ["w", key, value] and ["r", key, value|null] micro-ops.

A register read shows only one version, so much less can be inferred than for lists. Only what is
sound is used:
- every written version comes after the initial nil (a read of nil anti-depends on every
  committed write of that key);
- wr: the writer of the version a read shows -> the reader;
- options that add version order, each an assumption the caller vouches for:
    sequential_keys=True   each key is sequentially consistent: versions a process wrote or read
                           on a key are ordered as that process saw them;
    linearizable_keys=True each key is linearizable: a version written or read by an op that
                           completed before another op was invoked precedes what that op wrote
                           or read (only the latest such op is used; fewer facts, still sound).
    wfr_keys=True          writes follow reads: a txn that read k = v and then wrote k wrote a
                           version after v.
  If the resulting version order per key has a cycle: cyclic-versions, and that key gives no
  ww/rw edges.
- fail txns never happened; info txns may have: their writes give edges only when a committed
  read shows them; their reads are unknown.
Every read of a key in a txn counts, not only the first: each one before the txn writes the key
gives wr / rw edges, and each one is judged for G1a / G1b / garbage-read.
Non-cycle anomalies: G1a (read of a failed write), G1b (read of a version its writer overwrote in
the same txn), garbage-read (a read of a value no txn wrote), internal (as Elle: a read that is not
the txn's own last write or last read of the key), future-read (a read shows the value its own txn
writes only later), lost-update (as Elle: two committed txns whose first read of a key showed the
same version, and which both wrote it). Their record types and cases: checkers/rw_register_cases.py.
"""
from __future__ import annotations

import time
from collections import defaultdict

from checkers import cycles as cyc
from checkers import rw_register_cases as cases
from checkers.api import MAX_INSTANCES
from checkers.explain import TxnExplainer, fmt_value
from checkers.graph import FAIL, OK, RW, WR, WW, DepGraph, TxnTable
from checkers.history import HistoryError, fetch_lines, iter_history, line_of, no_gc, source_of
from checkers.rw_register_cases import INIT


class RegisterAnalyzer(TxnExplainer):
    def __init__(self, path, fs=("txn",), sequential_keys=False, linearizable_keys=False,
                 wfr_keys=False):
        self.path = path
        self.table = TxnTable(path, fs)
        self.sequential = sequential_keys
        self.linearizable = linearizable_keys
        self.wfr = wfr_keys
        self.values = {}                 # tid -> micro-ops (what the txn did)
        self.writer = {}                 # (key, value) -> tid
        self.final = {}                  # (key, value) -> True if the writer's last write of key
        self.ext_reads = []              # (tid, key, value or INIT): reads before the txn wrote key
        self.first_reads = []            # (tid, key, value or INIT): the first of those per key
        self.late_reads = []             # (tid, key, value): reads after the txn wrote key
        self.txn_writes = defaultdict(dict)  # tid -> {key: final value}
        self.raw = defaultdict(list)
        self.counts = defaultdict(int)
        self.lines = {}

    def _record(self, finding):
        if finding is None:
            return
        kind = finding.kind
        self.counts[kind] += 1
        if len(self.raw[kind]) < MAX_INSTANCES:
            self.raw[kind].append(finding)

    def feed(self, pos, op, line):
        res = self.table.feed(pos, op, line)
        if res is None:
            return
        tid, code, value = res
        self.lines[tid] = line
        if value is None:
            if code == OK:
                raise HistoryError(self.path, line, "ok transaction without a value")
            return
        if not isinstance(value, list):
            raise HistoryError(self.path, line, f"transaction value must be a list of micro-ops, got {value!r}")
        own = {}
        for mop in value:
            if not isinstance(mop, list) or len(mop) != 3 or mop[0] not in ("w", "r"):
                raise HistoryError(self.path, line, f"unknown micro-op {mop!r} "
                                                    "(expected [\"w\", key, value] or [\"r\", key, value])")
            f, k, v = mop
            try:
                hash(k)
                hash(v)
            except TypeError:
                raise HistoryError(self.path, line, f"micro-op {mop!r}: key and value must be numbers "
                                                    "or strings") from None
            if f == "w":
                if v is None:
                    raise HistoryError(self.path, line, f"write of nil to key {k!r}")
                if (k, v) in self.writer:
                    raise HistoryError(self.path, line, f"value {v!r} written to key {k!r} more than once "
                                                        "(written values must be unique per key)")
                self.writer[(k, v)] = tid
                if k in own and own[k][0] == "w":
                    self.final[(k, own[k][1])] = False
                self.final[(k, v)] = True
                own[k] = ("w", v)
                self.txn_writes[tid][k] = v
        if code != OK:
            self.values[tid] = (code, value)
            return
        self.values[tid] = (code, value)
        # every read counts: the first one of a key (lost update, as Elle keys it), every one
        # before the txn writes the key (wr / rw edges, G1a, G1b), and the ones after (G1a, G1b)
        state = {}
        shown = set()
        for f, k, v in value:
            if f == "w":
                state[k] = ("w", v)
                continue
            seen = INIT if v is None else v
            prev = state.get(k)
            if prev is not None:
                # Elle's internal: a read shows the txn's own last write, or its own last read
                if seen != prev[1]:
                    self._record(cases.Internal(tid, k, prev[1], seen, prev[0]))
                if prev[0] == "w":
                    if v is not None and v != prev[1] and (k, v) not in shown:
                        shown.add((k, v))
                        self.late_reads.append((tid, k, v))
                    continue
            elif v is not None and self.writer.get((k, v)) == tid:
                self._record(cases.FutureRead(tid, k, v))
                continue
            if prev is None:
                self.first_reads.append((tid, k, seen))
            if (k, seen) not in shown:
                shown.add((k, seen))
                self.ext_reads.append((tid, k, seen))
            state[k] = ("r", seen)

    def finish(self, fetch_ops, model, budget):
        for tid, code, value, pos in self.table.finish():
            self.feed_leftover(tid, code, value)
        tab = self.table
        types, procs, t_inv, t_cmp = tab.arrays()
        self.ty, self.tinv, self.tcmp = types, t_inv, t_cmp
        self.pcmp, self.pinv = tab.col("pos_cmp"), tab.col("pos_inv")
        n = tab.n

        # reads: G1a / G1b / wr edges; which info writes are observed
        readers = defaultdict(list)       # (key, version) -> [tid]
        g = DepGraph(n)
        wr_s, wr_d = [], []
        for tid, k, v in self.ext_reads:
            readers[(k, v)].append(tid)
            if v is INIT:
                continue
            finding, w = cases.judge_read(tid, k, v, self.writer, self.final, types)
            self._record(finding)
            if w is not None:
                wr_s.append(w)
                wr_d.append(tid)
        for tid, k, v in self.late_reads:
            self._record(cases.judge_read(tid, k, v, self.writer, self.final, types)[0])
        g.add(wr_s, wr_d, WR)
        observed = {kv for kv in readers if kv[1] is not INIT}

        # version order facts per key: (lower, higher)
        facts = defaultdict(set)
        writes_by_key = defaultdict(list)
        for (k, v), w in self.writer.items():
            if self.final.get((k, v)) and (types[w] == OK or (types[w] != FAIL and (k, v) in observed)):
                writes_by_key[k].append(v)
                facts[k].add((INIT, v))
        if self.sequential or self.linearizable or self.wfr:
            self._assumed_facts(facts, types, procs, t_inv, t_cmp, observed)
        # cyclic versions
        bad = set()
        for r in cases.cyclic_versions(facts):
            bad.add(r.key)
            self._record(r)
        ww_s, ww_d, rw_s, rw_d = [], [], [], []
        for k, fs in facts.items():
            if k in bad:
                continue
            for lo, hi in fs:
                whi = self.writer.get((k, hi))
                if whi is None:
                    continue
                if lo is not INIT:
                    wlo = self.writer.get((k, lo))
                    if wlo is not None and wlo != whi and types[wlo] != FAIL:
                        ww_s.append(wlo)
                        ww_d.append(whi)
                for r in readers.get((k, lo), ()):
                    if r != whi:
                        rw_s.append(r)
                        rw_d.append(whi)
        g.add(ww_s, ww_d, WW)
        g.add(rw_s, rw_d, RW)
        for r in cases.lost_updates(self.first_reads, self.txn_writes, self.ty):
            self._record(r)
        g.add_session_and_realtime(types, procs, t_inv, t_cmp)
        found, search = cyc.find_cycles(g, n, budget=budget)
        self.facts = facts
        anomalies = self._instances(found, fetch_ops)
        stats = tab.stats()
        stats.update({"keys": len({k for k, _ in self.writer} | {k for _, k, _ in self.first_reads}),
                      "edges": g.n_edges})
        return cyc.cycle_check_result(anomalies, model, stats, search, self.counts)

    def feed_leftover(self, tid, code, value):
        if isinstance(value, list):
            for mop in value:
                if isinstance(mop, list) and len(mop) == 3 and mop[0] == "w":
                    if (mop[1], mop[2]) not in self.writer:
                        self.writer[(mop[1], mop[2])] = tid
                        self.final[(mop[1], mop[2])] = True
        self.values[tid] = (code, value)

    def _assumed_facts(self, facts, types, procs, t_inv, t_cmp, observed):
        """Version order from the sequential / linearizable / writes-follow-reads assumptions."""
        if self.wfr:
            # a txn that first read k = v and then wrote k wrote a version after v
            for t, k, v in self.first_reads:
                final = self.txn_writes.get(t, {}).get(k)
                if v is not INIT and final is not None and final != v and self.ty[t] == OK:
                    facts[k].add((v, final))
        if not (self.sequential or self.linearizable):
            return
        events = defaultdict(list)   # key -> [(t_inv, t_cmp, proc, version, tid)]
        for tid, (code, value) in self.values.items():
            if code != OK:
                continue
            seen = {}
            for f, k, v in value:
                if f == "w":
                    seen[k] = v
                elif k not in seen:
                    seen[k] = INIT if v is None else v
            for k, v in seen.items():
                events[k].append((int(t_inv[tid]), int(t_cmp[tid]), int(procs[tid]), v, tid))
        for k, evs in events.items():
            if self.sequential:
                evs.sort(key=lambda e: (e[2], e[1]))
                for a, b in zip(evs, evs[1:]):
                    if a[2] == b[2] and a[2] >= 0 and a[3] != b[3]:
                        facts[k].add((a[3], b[3]))
            if self.linearizable:
                by_cmp = sorted(evs, key=lambda e: e[1])
                cmps = [e[1] for e in by_cmp]
                import bisect
                for b in evs:
                    if b[0] < 0:
                        continue
                    j = bisect.bisect_left(cmps, b[0]) - 1
                    if j >= 0 and by_cmp[j][1] >= 0 and by_cmp[j][3] != b[3]:
                        facts[k].add((by_cmp[j][3], b[3]))

    # -- explanations ---------------------------------------------------------------------
    def _instances(self, found, fetch_ops):
        kept = [f for items in self.raw.values() for f in items]
        tids = set()
        for f in kept:
            tids.update(f.txns)
        for c in found:
            tids.update(c["nodes"])
        self.fetch_txn_ops(tids, fetch_ops)
        out = defaultdict(list)
        for f in kept:
            out[f.kind].append(f.explain(self))
        for c in found:
            out[c["type"]].append(self.explain_cycle(c))
        return out

    def why_data(self, a, b, kind):
        A, B = self.name(a), self.name(b)
        wa, wb = self.txn_writes.get(a, {}), self.txn_writes.get(b, {})
        if kind == "wr":
            for t, k, v in self.ext_reads:
                if t == b and v is not INIT and self.writer.get((k, v)) == a:
                    return f"{B} read key {k!r} = {fmt_value(v)}, which {A} wrote.", k
        if kind == "ww":
            for k, va in wa.items():
                if k in wb and (va, wb[k]) in self.facts.get(k, ()):
                    return (f"{A} wrote {fmt_value(va)} to key {k!r} and {B} wrote {fmt_value(wb[k])}, "
                            f"a later version ({self._basis()}).", k)
        if kind == "rw":
            for t, k, v in self.ext_reads:
                if t == a and k in wb and (v, wb[k]) in self.facts.get(k, ()):
                    shown = "nil (the initial version)" if v is INIT else fmt_value(v)
                    why = ("every written version follows the initial nil" if v is INIT else self._basis())
                    return (f"{A} read key {k!r} = {shown}, and {B} wrote {fmt_value(wb[k])}, a later version "
                            f"({why}).", k)
        return None

    def _basis(self):
        on = [x for x, flag in (("sequential", self.sequential), ("linearizable", self.linearizable),
                                ("writes-follow-reads", self.wfr)) if flag]
        return ("by the assumed " + " and ".join(on) + " per-key order") if on else "by the version order"


def check(history, model="strict-serializable", budget=cyc.DEFAULT_BUDGET, fs=("txn",),
          sequential_keys=False, linearizable_keys=False, wfr_keys=False, **_):
    """Check an in-memory list of rw-register ops (a whole history or any subset)."""
    def feed(an):
        for i, op in enumerate(history):
            line = line_of(history, i)
            an.feed(i, op, line if line is not None else i + 1)

    return _judge(RegisterAnalyzer(source_of(history), fs, sequential_keys, linearizable_keys, wfr_keys), feed,
                  lambda ps: {p: history[p] for p in ps}, model, budget)


def check_file(path, model="strict-serializable", budget=cyc.DEFAULT_BUDGET, fs=("txn",),
               sequential_keys=False, linearizable_keys=False, wfr_keys=False, **_):
    """Check a rw-register history file (streamed; positions are file lines)."""
    def feed(an):
        for line, op in iter_history(path):
            an.feed(line, op, line)

    return _judge(RegisterAnalyzer(str(path), fs, sequential_keys, linearizable_keys, wfr_keys), feed,
                  lambda ls: fetch_lines(path, ls), model, budget)


def _judge(an, feed, fetch_ops, model, budget):
    """feed(an) streams the ops in; fetch_ops(positions) brings back the ops explanations cite.
    The cyclic GC is paused throughout (see history.no_gc)."""
    t0 = time.perf_counter()
    with no_gc():
        feed(an)
        result = an.finish(fetch_ops, model, budget)
    result["stats"]["seconds"] = round(time.perf_counter() - t0, 3)
    return result

