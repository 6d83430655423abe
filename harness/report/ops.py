"""The history as the report needs it: completed client ops with their latencies, fault periods,
and the ops an anomaly refers to.
"""
from __future__ import annotations

import functools
from array import array
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from checkers.pairing import NEMESIS, Pairer
from harness.report.stream import MISSING, Chunk, as_history

TYPES = ("ok", "fail", "info")
_TYPE_CODE = {t: k for k, t in enumerate(TYPES)}


class IndexMap(Mapping):
    """A read-only {op index: op index} over two arrays (invoke -> completion, or back): a dict of a
    million entries would cost ~100 MB; these are views of the Pairs' own arrays, plus a sort order
    (4 bytes an entry) only when the keys are not in order already. A repeated key maps to its
    last value, as a dict built in order would."""

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        self._keys, self._values = keys, values
        self._order = None
        if len(keys) > 1 and not (keys[1:] >= keys[:-1]).all():
            order = np.argsort(keys, kind="stable")
            self._order = order.astype(np.int32) if len(keys) < 2 ** 31 else order

    def _find(self, key):
        if type(key) not in (int, np.int64) or not len(self._keys):
            return None
        k = int(np.searchsorted(self._keys, key, side="right", sorter=self._order)) - 1
        if k < 0:
            return None
        at = k if self._order is None else int(self._order[k])
        return at if self._keys[at] == key else None

    def __getitem__(self, key):
        at = self._find(key)
        if at is None:
            raise KeyError(key)
        return int(self._values[at])

    def __contains__(self, key):
        return self._find(key) is not None

    def __iter__(self):
        keys = self._keys if self._order is None else self._keys[self._order]
        return (int(k) for k in keys)

    def __len__(self):
        return len(self._keys)


@dataclass
class Pairs:
    """One row per client operation (invoke + completion), as parallel numpy arrays: ~40 bytes a
    row, the only per-op state the report keeps. Names (f, type, process) are small codes into
    `f_names`, TYPES and `proc_names`; `.f`, `.type`, `.process` give them as object arrays."""
    start: np.ndarray      # invoke time, s since test start
    end: np.ndarray        # completion time, s (an op never completed ends at the history's end)
    f_code: np.ndarray     # int32 into f_names
    type_code: np.ndarray  # int8 into TYPES: ok / fail / info
    proc_code: np.ndarray  # int32 into proc_names
    f_names: list
    proc_names: list
    has_time: bool
    inv_index: np.ndarray  # history index of each op's invoke
    comp_index: np.ndarray  # history index of its completion, -1 when it never completed

    @property
    def latency_ms(self) -> np.ndarray:
        return (self.end - self.start) * 1000.0

    @property
    def f(self) -> np.ndarray:
        return _names(self.f_names)[self.f_code]

    @property
    def type(self) -> np.ndarray:
        return _names(TYPES)[self.type_code]

    @property
    def process(self) -> np.ndarray:
        return _names(self.proc_names)[self.proc_code]

    def _completed(self) -> tuple[np.ndarray, np.ndarray]:
        """(invoke, completion) indexes of the completed rows: views when the never-completed rows
        are all at the end, as the pairing puts them."""
        done = self.comp_index >= 0
        n = int(done.sum())
        if done[:n].all():
            return self.inv_index[:n], self.comp_index[:n]
        return self.inv_index[done], self.comp_index[done]

    @functools.cached_property
    def invoke_of(self) -> IndexMap:
        """completion index -> invoke index"""
        inv, comp = self._completed()
        return IndexMap(comp, inv)

    @functools.cached_property
    def completion_of(self) -> IndexMap:
        """invoke index -> completion index"""
        inv, comp = self._completed()
        return IndexMap(inv, comp)

    def __len__(self):
        return len(self.start)


def _names(names) -> np.ndarray:
    out = np.empty(len(names), dtype=object)
    out[:] = list(names)
    return out


def op_time(op) -> float | None:
    t = op.get("time")
    return t / 1e9 if isinstance(t, (int, float)) else None


def is_client(op) -> bool:
    return op.get("process") != "nemesis"


# The pair columns as they grow: typed arrays, which realloc extends in place (mremap), so a long
# history's columns never exist twice and leave no trail of small blocks behind.
COLUMNS = (np.float64, np.float64, np.int32, np.int8, np.int32, np.int64, np.int64)
_TYPECODES = ("d", "d", "i", "b", "i", "q", "q")


def _columns() -> list:
    return [array(code) for code in _TYPECODES]


class Scan:
    """Everything the report needs from the whole history, gathered in one pass over its chunks:
    the client ops paired (Pairs), fault periods and one-off nemesis events. Feed it every chunk in
    file order (`feed(ops, first_position)`), then call `finish()`. Works column-wise per chunk
    (list comprehensions and numpy); the only per-op Python loop is the pairing itself."""

    def __init__(self, on_client=None):
        self.has_time = None
        self.end_of_history = 0.0          # in the pairing's clock (seconds, or positions without times)
        # checkers.pairing's rules (the report's reading: a second invoke replaces the pending one);
        # its `open` dict, process -> position of the pending invoke, is used directly below
        self.pairer = Pairer(replace=True)
        self.carry: dict = {}              # position of an invoke open across chunks -> (t, index, f)
        self.nemesis = _Nemesis()
        self.on_client = on_client         # called as on_client(op, position) for each client op
        self._cols = _columns()
        self.f_codes: dict = {}
        self.proc_codes: dict = {}

    def feed(self, chunk, pos0: int = 0):
        """One Chunk (harness.report.stream), or a list of op dicts starting at position pos0."""
        if not isinstance(chunk, Chunk):
            chunk = Chunk(pos0, ops=list(chunk))
        n, pos0 = len(chunk), chunk.pos0
        if not n:
            return
        procs, kinds, times, index, fs = chunk.columns()
        if self.has_time is None:
            self.has_time = any(isinstance(x, (int, float)) for x in times[:1000])
        rt = _seconds(times)                                   # nan: no time
        t = rt if self.has_time else np.arange(pos0, pos0 + n, dtype=float)
        if not np.isnan(t).all():
            self.end_of_history = max(self.end_of_history, float(np.nanmax(t)))
        if not np.isnan(rt).all():
            self.nemesis.saw(float(np.nanmax(rt)))
        for j in ([j for j, p in enumerate(procs) if p == "nemesis"] if "nemesis" in procs else ()):
            if rt[j] == rt[j]:
                self.nemesis.feed(chunk.op(j), float(rt[j]))
        if self.on_client is not None:
            for j in range(n):
                if procs[j] != "nemesis":
                    self.on_client(chunk.op(j), pos0 + j)
        # pair each completion with its process's open invoke (positions)
        pending, completes = self.pairer.open, _TYPE_CODE
        inv_at, comp_at = [], []
        for j, (proc, kind) in enumerate(zip(procs, kinds)):
            if proc is None or proc == NEMESIS:   # pairing.never_pairs, inlined
                continue
            if kind == "invoke":
                pending[proc] = pos0 + j
            elif kind in completes:
                i = pending.pop(proc, None)
                if i is not None:
                    inv_at.append(i)
                    comp_at.append(j)
        idx = _int_array(index)
        if comp_at:
            inv_at = np.array(inv_at, dtype=np.int64)
            comp_at = np.array(comp_at, dtype=np.int64)
            local = inv_at >= pos0
            li = np.where(local, inv_at - pos0, 0)
            t0, inv_index = t[li], idx[li]
            inv_f = _take(fs, li.tolist())
            for k in np.flatnonzero(~local).tolist():   # invoked in an earlier chunk
                t0[k], inv_index[k], inv_f[k] = self.carry.pop(int(inv_at[k]))
            t1 = t[comp_at]
            comps = comp_at.tolist()
            f = _take(fs, comps)
            if MISSING in f:   # a completion without f is named by its invoke
                f = [(g if g is not MISSING else None) if x is MISSING else x for x, g in zip(f, inv_f)]
            self._add(np.where(np.isnan(t0), t1, t0), np.where(np.isnan(t1), t0, t1), f,
                      list(map(completes.__getitem__, _take(kinds, comps))), _take(procs, comps),
                      inv_index, idx[comp_at])
        for proc, i in pending.items():   # invokes still open at the chunk's end
            if i >= pos0 and i not in self.carry:
                self.carry[i] = (t[i - pos0], idx[i - pos0], fs[i - pos0])

    def _add(self, starts, ends, fs, type_codes, procs, inv_index, comp_index):
        f_codes, proc_codes = self.f_codes, self.proc_codes
        try:
            plain = all(type(f) is str for f in dict.fromkeys(fs))
        except TypeError:   # an unhashable f (a list): named by its text
            plain = False
        if not plain:
            fs = [f if type(f) is str else str(f) for f in fs]
        for f in dict.fromkeys(fs):
            if f not in f_codes:
                f_codes[f] = len(f_codes)
        for p in dict.fromkeys(procs):   # in order of first completion, as the lanes have always been numbered
            if p not in proc_codes:
                proc_codes[p] = len(proc_codes)
        for col, values, dtype in zip(self._cols, (starts, ends, list(map(f_codes.__getitem__, fs)), type_codes,
                                                   list(map(proc_codes.__getitem__, procs)), inv_index, comp_index),
                                      COLUMNS):
            col.frombytes(np.asarray(values, dtype=dtype).tobytes())

    def finish(self) -> tuple[Pairs, list, list]:
        """(Pairs, fault periods, events). Ops still pending at the end count as info."""
        end = self.end_of_history
        pending = self.pairer.open
        if pending:  # never completed: indeterminate until the end
            open_ = [self.carry[i] for i in pending.values()]
            t0 = np.array([o[0] for o in open_], dtype=float)
            self._add(np.where(np.isnan(t0), end, t0), np.full(len(open_), end),
                      [None if o[2] is MISSING else o[2] for o in open_],
                      [_TYPE_CODE["info"]] * len(open_), list(pending), [o[1] for o in open_],
                      np.full(len(open_), -1))
        self.pairer.leftovers()
        self.carry = {}
        arrays = [np.frombuffer(col, dtype=dtype) for col, dtype in zip(self._cols, COLUMNS)]   # no copies
        self._cols = _columns()
        pairs = Pairs(arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], list(self.f_codes),
                      list(self.proc_codes), bool(self.has_time), arrays[5], arrays[6])
        periods, events = self.nemesis.finish()
        return pairs, periods, events


def _seconds(times: list) -> np.ndarray:
    """Op times (ns) as seconds; nan where an op has no numeric time."""
    arr = np.array(times)
    if arr.dtype.kind in "iuf" and arr.ndim == 1:   # all numbers (a bool counts as one, as it always has)
        return arr.astype(float) / 1e9
    return np.array([x if isinstance(x, (int, float)) else np.nan for x in times], dtype=float) / 1e9


def _take(xs: list, at: list) -> list:
    """[xs[i] for i in at], in C."""
    if not at:
        return []
    return [xs[at[0]]] if len(at) == 1 else list(operator.itemgetter(*at)(xs))


def _int_array(xs) -> np.ndarray:
    """Op indexes as int64 (one a history wrote oddly, e.g. as a string, becomes -1: it links nowhere)."""
    try:
        return np.array(xs, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        return np.array([x if type(x) is int and -(1 << 63) <= x < (1 << 63) else -1 for x in xs], dtype=np.int64)


def pair_ops(ops) -> Pairs:
    """Match each completion to its process's pending invoke (checkers.pairing's rules, as the Scan
    applies them). Ops still pending at the end count as info; a completion with no invoke is no row."""
    scan = Scan()
    scan.feed(ops)
    return scan.finish()[0]


@dataclass
class Period:
    fault: str
    start: float            # s
    end: float              # s
    value: object = None    # what the fault hit (the start op's value)
    healed: bool = True     # False: still active when the history ended

    def overlaps(self, t0: float, t1: float) -> bool:
        return self.start <= t1 and self.end >= t0


_START = re.compile(r"^(?:start|begin)[-_:]?(.*)$")
_STOP = re.compile(r"^(?:stop|end|heal)[-_:]?(.*)$")
_START_SUFFIX = re.compile(r"^(.*?)[-_:](?:start|begin)$")
_STOP_SUFFIX = re.compile(r"^(.*?)[-_:](?:stop|end|heal)$")


def fault_transition(f: str):
    """('start'|'stop', fault name) for a nemesis op's f, or None for an instantaneous event."""
    for rx, what in ((_START, "start"), (_STOP, "stop"), (_START_SUFFIX, "start"), (_STOP_SUFFIX, "stop")):
        m = rx.match(f)
        if m:
            return what, (m.group(1) or "nemesis")
    return None


class _Nemesis:
    """Fault periods from nemesis ops (start-X ... stop-X, Jepsen style), and one-off events.

    A start op's invoke and completion both open the same period; a stop's completion extends it. A
    `heal`/`stop` with no fault name closes every open period. A period never closed ends at the
    history's last time.
    """

    def __init__(self):
        self.periods: list[Period] = []
        self.events: list[tuple[float, str, object]] = []
        self.open: dict[str, Period] = {}
        self.last_closed: dict[str, Period] = {}
        self.t_end = 0.0

    def saw(self, t: float):
        if t > self.t_end:
            self.t_end = t

    def feed(self, op, t: float):
        """A nemesis op at time t (s)."""
        if t > self.t_end:
            self.t_end = t
        f = str(op.get("f", ""))
        tr = fault_transition(f)
        if tr is None:
            if op.get("type") != "invoke":
                self.events.append((t, f, op.get("value")))
            return
        what, fault = tr
        open_, periods = self.open, self.periods
        if what == "start" and op.get("error"):  # the fault failed to start (and was healed at once)
            failed = open_.pop(fault, None)
            if failed is not None and failed in periods:
                periods.remove(failed)
            self.events.append((t, f"{f} failed", op.get("error")))
            return
        if what == "start":
            if fault not in open_:
                p = Period(fault, t, t, op.get("value"), healed=False)
                open_[fault] = p
                periods.append(p)
                self.last_closed.pop(fault, None)
            elif op.get("value") is not None and open_[fault].value is None:
                open_[fault].value = op.get("value")
            return
        # a bare stop/heal (or heal-all) closes everything open
        targets = [fault] if fault in open_ or fault not in ("nemesis", "all") else list(open_)
        for name in targets:
            p = open_.pop(name, None)
            if p is not None:
                p.end, p.healed = t, True
                self.last_closed[name] = p
            elif name in self.last_closed:      # the stop's completion after its invoke
                self.last_closed[name].end = t

    def finish(self) -> tuple[list[Period], list[tuple[float, str, object]]]:
        for p in self.open.values():
            p.end = self.t_end
        return self.periods, self.events


def nemesis_periods(ops) -> tuple[list[Period], list[tuple[float, str, object]]]:
    """Fault periods and one-off events of a list of ops (see _Nemesis)."""
    nem = _Nemesis()
    for op in ops:
        t = op_time(op)
        if t is None:
            continue
        if is_client(op):
            nem.saw(t)
        else:
            nem.feed(op, t)
    return nem.finish()


def op_indexes(refs) -> list[int]:
    """Op indexes an anomaly names: its `cycle` or `ops` entries may be op dicts or bare indexes."""
    out = []
    for r in refs or []:
        if isinstance(r, dict) and isinstance(r.get("index"), int):
            out.append(r["index"])
        elif isinstance(r, int) and not isinstance(r, bool):
            out.append(r)
    return out


def anomaly_ops(anomaly: dict) -> list[int]:
    """Indexes of the ops an anomaly instance rests on (cycle members first, then other evidence)."""
    seen, out = set(), []
    for key in ("cycle", "ops", "txns", "reads", "writes"):
        val = anomaly.get(key)
        if isinstance(val, list):
            for i in op_indexes(val):
                if i not in seen:
                    seen.add(i)
                    out.append(i)
    return out


def with_invokes(indexes, pairs: Pairs) -> list[int]:
    """The given op indexes plus the invoke/completion partner of each."""
    out = set(indexes)
    for i in indexes:
        if i in pairs.invoke_of:
            out.add(pairs.invoke_of[i])
        if i in pairs.completion_of:
            out.add(pairs.completion_of[i])
    return sorted(out)


def excerpt_rows(ops, focus: list[int], context: int = 2, limit: int = 60) -> list:
    """Rows of the history around the focus ops: op dicts, with None where rows were skipped.

    Shows each focus op with `context` neighbours on either side, merging overlaps; keeps at most
    `limit` rows, preferring the focus ops themselves. `ops`: a list, or a HistoryFile (only the
    rows shown are read).
    """
    ops = as_history(ops)
    n = len(ops)
    pos = {}
    for i in focus:
        k = ops.position(i)
        if k is not None:
            pos[i] = k
    centers = sorted(set(pos.values()))
    if not centers:
        return []
    ctx = context
    while True:
        keep = set()
        for c in centers:
            keep.update(range(max(0, c - ctx), min(n, c + ctx + 1)))
        if len(keep) <= limit or ctx == 0:
            break
        ctx -= 1
    rows, prev = [], None
    for k in sorted(keep)[: max(limit, len(centers))]:
        if prev is not None and k != prev + 1:
            rows.append(None)
        rows.append(ops[k])
        prev = k
    return rows
