"""A Porcupine-style timeline of one non-linearizable key: its ops as bars, one lane per process,
in the history's event order (the real-time order the checker used; log-line histories have no
clock). Green: the longest linearizable prefix the checker found; red: the op that cannot be
placed, with a line where it must have taken effect by; grey: other ops; dashed to the edge: ops
that never completed (they may take effect any time after their invoke, or never).
"""
from __future__ import annotations

from html import escape

from checkers.linearizable import split_value
from checkers.pairing import Pairer, never_pairs
from harness.report.stream import as_history

WIDTH = 980
LEFT = 90
LANE = 22
TOP = 40
BEFORE, AFTER = 30, 8      # ops of the key drawn before / after the failing op


def _fmt(v) -> str:
    if v is None:
        return "nil"
    if isinstance(v, list):
        return "[" + " ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _same_key(key, value_key) -> bool:
    return key == value_key or (isinstance(key, list) and tuple(key) == value_key)


class KeyRows:
    """The read/write/cas ops of some keys, gathered as the history streams by: per key a list of
    compact rows [invoke index, invoke position, process, done index, done position, done type]
    (the done fields None while it never completed). Ops themselves are fetched only for the rows
    a timeline shows."""

    def __init__(self, keys):
        self.keys = list(keys)
        self.rows = [[] for _ in self.keys]
        self._open = [Pairer(replace=True) for _ in self.keys]   # checkers.pairing's rules, per key

    def feed(self, op, pos: int):
        f = op.get("f")
        proc = op.get("process")
        if f not in ("read", "write", "cas") or never_pairs(proc):
            return
        if op.get("type") == "invoke":
            k, _ = split_value(f, op.get("value"))
            for n, key in enumerate(self.keys):
                if _same_key(key, k):
                    row = [op.get("index"), pos, proc, None, None, None]
                    self._open[n].invoke(proc, row)
                    self.rows[n].append(row)
            return
        for open_ in self._open:
            row = open_.complete(proc)
            if row is not None:
                row[3:] = [op.get("index"), pos, op.get("type")]


def _label(inv: dict, done: dict | None) -> str:
    f = inv["f"]
    _, arg = split_value(f, inv.get("value"))
    if f == "read":
        label = "r " + (_fmt(split_value(f, done.get("value"))[1]) if done and done["type"] == "ok" else "?")
    elif f == "write":
        label = f"w {_fmt(arg)}"
    else:
        label = f"cas {_fmt(arg[0]) if isinstance(arg, list) else '?'}→{_fmt(arg[1]) if isinstance(arg, list) else '?'}"
        if done and done["type"] == "fail" and done.get("error") is None:
            label += " ✗"
    if not done or done["type"] == "info":
        label += " ?"
    return label


def key_ops(ops, key) -> list[dict]:
    """The key's ops as {invoke, done, label} in invoke order (done None: never completed)."""
    hist = as_history(ops)
    collector = KeyRows([key])
    for chunk in hist.chunks():
        for pos, op in enumerate(chunk.ops(), chunk.pos0):
            collector.feed(op, pos)
    return [_row_ops(hist, r) for r in collector.rows[0]]


def _row_ops(hist, r) -> dict:
    inv = hist[r[1]]
    done = hist[r[4]] if r[4] is not None else None
    return {"invoke": inv, "done": done, "label": _label(inv, done)}


def key_timeline_svg(anomaly: dict, ops, anchor: str = "", rows=None) -> str:
    """SVG markup for a `nonlinearizable` anomaly; '' when it names no failing op.

    ops: a list of op dicts or a HistoryFile; rows: the key's KeyRows rows when the caller gathered
    them in its own pass over the history (else they are gathered here, one pass)."""
    blocked = anomaly.get("blocked")
    if not isinstance(blocked, dict) or "index" not in blocked:
        return ""
    hist = as_history(ops)
    if rows is None:
        collector = KeyRows([anomaly.get("key")])
        for chunk in hist.chunks():
            for pos, op in enumerate(chunk.ops(), chunk.pos0):
                collector.feed(op, pos)
        rows = collector.rows[0]
    # per row: completion index when it completed with ok/fail, else None
    end = [r[3] if r[4] is not None and r[5] != "info" else None for r in rows]
    at = next((i for i, r in enumerate(rows) if r[4] is not None and r[3] == blocked["index"]), None)
    if at is None:
        return ""
    fail_at = blocked["index"]
    near = set(range(max(0, at - BEFORE), at + AFTER + 1))
    # keep every op open across the failing point, even one invoked long before
    keep = [i for i, r in enumerate(rows) if i in near or (r[0] < fail_at and (end[i] is None or end[i] > fail_at))]
    n_rows = len(rows)
    shown = [_row_ops(hist, rows[i]) for i in keep]
    end = {id(r): e for r, e in zip(shown, (end[i] for i in keep))}
    x_lo = min(r["invoke"]["index"] for r in shown) - 1
    x_hi = max([end[id(r)] or 0 for r in shown] + [r["invoke"]["index"] for r in shown]) + 2
    prefix = set(anomaly.get("linearized") or [])
    procs = sorted({r["invoke"].get("process") for r in shown}, key=lambda p: (str(type(p)), p))
    lane = {p: k for k, p in enumerate(procs)}
    height = TOP + LANE * len(procs) + 34

    def x(i):
        return LEFT + (i - x_lo) / max(x_hi - x_lo, 1) * (WIDTH - LEFT - 10)

    states = ", ".join(_fmt(s) for s in anomaly.get("states") or []) or "none"
    out = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="linearizability timeline of one key">',
           f'<text x="{LEFT}" y="12" font-size="10" fill="#555">key {escape(_fmt(anomaly.get("key")))}: '
           f'invoke → completion in event order; green: longest linearizable prefix found, red: the '
           f'op that cannot be placed; ? outcome unknown, ✗ cas that did not match</text>']
    for p, k in lane.items():
        y = TOP + k * LANE
        out.append(f'<text x="{LEFT - 6}" y="{y + LANE - 8}" font-size="10" text-anchor="end" fill="#333">'
                   f'process {escape(str(p))}</text>')
        if k % 2 == 0:
            out.append(f'<rect x="{LEFT}" y="{y}" width="{WIDTH - LEFT - 10}" height="{LANE}" fill="#000" opacity="0.03"/>')
    for r in shown:
        inv = r["invoke"]
        y = TOP + lane[inv.get("process")] * LANE + 3
        x0 = x(inv["index"])
        stop = end[id(r)]
        x1 = x(stop) if stop is not None else WIDTH - 10
        is_blocked = r["done"] is not None and r["done"].get("index") == fail_at
        color = "#d62728" if is_blocked else "#2ca02c" if inv["index"] in prefix else "#aaaaaa"
        dash = ' stroke-dasharray="4 2" fill-opacity="0.35"' if stop is None else ""
        tip = f"#{inv['index']} process {inv.get('process')} {r['label']}" + (
            f" (completed #{stop})" if stop is not None else " (never completed)")
        target = f'{anchor}-op-{r["done"]["index"] if r["done"] else inv["index"]}'  # an index read from the history
        out.append(f'<a href="#{escape(target)}">'
                   f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 3):.1f}" height="{LANE - 6}" rx="3" '
                   f'fill="{color}" stroke="{color}"{dash}><title>{escape(tip)}</title></rect>'
                   f'<text x="{x0 + 3:.1f}" y="{y + LANE - 10}" font-size="9" fill="#000">{escape(r["label"])}</text></a>')
    xf = x(fail_at)
    out.append(f'<line x1="{xf:.1f}" y1="{TOP - 6}" x2="{xf:.1f}" y2="{TOP + LANE * len(procs) + 2}" '
               f'stroke="#d62728" stroke-width="2"/>')
    out.append(f'<text x="{min(xf + 4, WIDTH - 300):.1f}" y="{TOP - 10}" font-size="10" fill="#d62728">'
               f'#{fail_at}: the red op must have taken effect by here; the register could hold: '
               f'{escape(states)}</text>')
    out.append(f'<text x="{LEFT}" y="{height - 8}" font-size="9" fill="#555">history events #{x_lo + 1} … '
               f'#{x_hi - 2} ({len(shown)} of the key\'s {n_rows} ops shown)</text>')
    out.append("</svg>")
    return "\n".join(out)
