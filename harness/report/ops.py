"""The history as the report needs it: completed client ops with their latencies, fault periods,
and the ops an anomaly refers to.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

TYPES = ("ok", "fail", "info")


@dataclass
class Pairs:
    """One row per client operation (invoke + completion), as parallel numpy arrays for plotting."""
    start: np.ndarray      # invoke time, s since test start
    end: np.ndarray        # completion time, s (an op never completed ends at the history's end)
    f: np.ndarray          # operation name (object array)
    type: np.ndarray       # ok / fail / info (object array)
    invoke_of: dict        # completion index -> invoke index
    completion_of: dict    # invoke index -> completion index
    has_time: bool
    process: np.ndarray    # process of each op (object array)
    inv_index: np.ndarray  # history index of each op's invoke
    comp_index: np.ndarray  # history index of its completion, -1 when it never completed

    @property
    def latency_ms(self) -> np.ndarray:
        return (self.end - self.start) * 1000.0

    def __len__(self):
        return len(self.start)


def op_time(op) -> float | None:
    t = op.get("time")
    return t / 1e9 if isinstance(t, (int, float)) else None


def is_client(op) -> bool:
    return op.get("process") != "nemesis"


def pair_ops(ops: list[dict]) -> Pairs:
    """Match each completion to its process's pending invoke. Ops still pending at the end count as info."""
    has_time = any(isinstance(op.get("time"), (int, float)) for op in ops[:1000])
    end_of_history = 0.0
    pending: dict = {}   # process -> invoke op
    starts, ends, fs, types, procs, inv_idx, comp_idx = [], [], [], [], [], [], []
    invoke_of, completion_of = {}, {}
    for i, op in enumerate(ops):
        t = op_time(op) if has_time else float(i)
        if t is not None:
            end_of_history = max(end_of_history, t)
        if not is_client(op):
            continue
        kind = op.get("type")
        proc = op.get("process")
        if kind == "invoke":
            pending[proc] = (op, t)
            continue
        if kind not in TYPES:
            continue
        inv = pending.pop(proc, None)
        if inv is None:
            continue
        inv_op, t0 = inv
        invoke_of[op["index"]] = inv_op["index"]
        completion_of[inv_op["index"]] = op["index"]
        starts.append(t0 if t0 is not None else t)
        ends.append(t if t is not None else t0)
        fs.append(str(op.get("f", inv_op.get("f"))))
        types.append(kind)
        procs.append(proc)
        inv_idx.append(inv_op["index"])
        comp_idx.append(op["index"])
    for inv_op, t0 in pending.values():  # never completed: indeterminate until the end
        starts.append(t0 if t0 is not None else end_of_history)
        ends.append(end_of_history)
        fs.append(str(inv_op.get("f")))
        types.append("info")
        procs.append(inv_op.get("process"))
        inv_idx.append(inv_op["index"])
        comp_idx.append(-1)
    obj = lambda xs: np.array(xs + [None], dtype=object)[:-1]  # noqa: E731 - keeps lists as objects
    return Pairs(np.array(starts, dtype=float), np.array(ends, dtype=float), obj(fs), obj(types),
                 invoke_of, completion_of, has_time, obj(procs),
                 np.array(inv_idx, dtype=np.int64), np.array(comp_idx, dtype=np.int64))


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


def nemesis_periods(ops: list[dict]) -> tuple[list[Period], list[tuple[float, str, object]]]:
    """Fault periods from nemesis ops (start-X ... stop-X, Jepsen style), and one-off events.

    A start op's invoke and completion both open the same period; a stop's completion extends it. A
    `heal`/`stop` with no fault name closes every open period. A period never closed ends at the
    history's last time.
    """
    periods: list[Period] = []
    events: list[tuple[float, str, object]] = []
    open_: dict[str, Period] = {}
    last_closed: dict[str, Period] = {}
    t_end = 0.0
    for op in ops:
        t = op_time(op)
        if t is None:
            continue
        t_end = max(t_end, t)
        if is_client(op):
            continue
        f = str(op.get("f", ""))
        tr = fault_transition(f)
        if tr is None:
            if op.get("type") != "invoke":
                events.append((t, f, op.get("value")))
            continue
        what, fault = tr
        if what == "start" and op.get("error"):  # the fault failed to start (and was healed at once)
            failed = open_.pop(fault, None)
            if failed is not None and failed in periods:
                periods.remove(failed)
            events.append((t, f"{f} failed", op.get("error")))
            continue
        if what == "start":
            if fault not in open_:
                p = Period(fault, t, t, op.get("value"), healed=False)
                open_[fault] = p
                periods.append(p)
                last_closed.pop(fault, None)
            elif op.get("value") is not None and open_[fault].value is None:
                open_[fault].value = op.get("value")
            continue
        # a bare stop/heal (or heal-all) closes everything open
        targets = [fault] if fault in open_ or fault not in ("nemesis", "all") else list(open_)
        for name in targets:
            p = open_.pop(name, None)
            if p is not None:
                p.end, p.healed = t, True
                last_closed[name] = p
            elif name in last_closed:      # the stop's completion after its invoke
                last_closed[name].end = t
    for p in open_.values():
        p.end = t_end
    return periods, events


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


def excerpt_rows(ops: list[dict], focus: list[int], context: int = 2, limit: int = 60) -> list:
    """Rows of the history around the focus ops: op dicts, with None where rows were skipped.

    Shows each focus op with `context` neighbours on either side, merging overlaps; keeps at most
    `limit` rows, preferring the focus ops themselves.
    """
    n = len(ops)
    pos = {}
    # ops are in index order in a well-formed history; fall back to a lookup otherwise
    for i in focus:
        if 0 <= i < n and ops[i].get("index") == i:
            pos[i] = i
    missing = [i for i in focus if i not in pos]
    if missing:
        where = {op.get("index"): k for k, op in enumerate(ops)}
        for i in missing:
            if i in where:
                pos[i] = where[i]
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
