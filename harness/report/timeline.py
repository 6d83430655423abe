"""A timeline of the ops around one anomaly: one lane per client process, fault periods on top.

Drawn as inline SVG (not matplotlib) so each bar carries a tooltip and the anomaly's own ops link
to their rows in the history excerpt below it.
"""
from __future__ import annotations

from html import escape

import numpy as np

from harness.report.ops import TYPES, Pairs, Period
from harness.report.plots import TYPE_COLORS, fault_colors
from harness.report.stream import as_history

MAX_OPS = 300      # bars drawn around one anomaly; the window narrows until it fits
WIDTH = 980
LEFT = 110
LANE = 16
TOP = 34


def _short(value, limit=160) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _window(pairs: Pairs, focus_rows: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Time window around the focus ops holding at most MAX_OPS ops (always all focus ops)."""
    f0 = float(pairs.start[focus_rows].min())
    f1 = float(pairs.end[focus_rows].max())
    pad = max((f1 - f0) * 0.3, 0.05)
    while True:
        t0, t1 = f0 - pad, f1 + pad
        rows = np.flatnonzero((pairs.start <= t1) & (pairs.end >= t0))
        if len(rows) <= MAX_OPS or pad < 1e-4:
            break
        pad /= 2
    if len(rows) > MAX_OPS:  # the anomaly's own span is crowded: keep focus ops plus those nearest to one
        others = np.setdiff1d(rows, focus_rows)
        gap = np.full(len(others), np.inf)
        for f in focus_rows[:50]:   # time between each op and the nearest focus op (0 when they overlap)
            gap = np.minimum(gap, np.maximum(0, np.maximum(pairs.start[f] - pairs.end[others],
                                                           pairs.start[others] - pairs.end[f])))
        nearest = others[np.argsort(gap, kind="stable")[: max(0, MAX_OPS - len(focus_rows))]]
        rows = np.union1d(focus_rows, nearest)
    return t0, t1, rows


def pack_lanes(pairs: Pairs, rows: np.ndarray) -> tuple[dict, list[str]]:
    """Lane per worker: a process whose ops all come after another's last op shares its lane.

    A worker whose op ended in `info` continues under a new process number; packing processes by
    time puts such successors back on one lane without assuming how the runner numbers them.
    """
    first, last = {}, {}
    names = pairs.proc_names
    for r in rows:
        p = names[pairs.proc_code[r]]
        first[p] = min(first.get(p, np.inf), pairs.start[r])
        last[p] = max(last.get(p, -np.inf), pairs.end[r])
    lanes_end: list[float] = []
    lanes: list[list] = []
    lane_of = {}
    for p in sorted(first, key=lambda q: (first[q], str(q))):
        free = [k for k, end in enumerate(lanes_end) if end < first[p]]
        k = min(free, key=lambda k: (len(lanes[k]), k)) if free else len(lanes_end)
        if k == len(lanes_end):
            lanes_end.append(last[p])
            lanes.append([])
        lanes_end[k] = last[p]
        lanes[k].append(p)
        lane_of[p] = k
    names = ["process " + ", ".join(str(p) for p in ps[:3]) + ("…" if len(ps) > 3 else "") for ps in lanes]
    return lane_of, names


def timeline_svg(pairs: Pairs, periods: list[Period], focus: list[int], ops, anchor: str) -> str:
    """SVG markup; '' when the history has no times or none of the focus ops are client ops.
    ops: a list of op dicts or a HistoryFile (only the drawn ops are read, for their tooltips)."""
    if not pairs.has_time or not len(pairs):
        return ""
    ops = as_history(ops)
    focus_set = set(focus)
    wanted = np.fromiter(focus_set, dtype=np.int64, count=len(focus_set))
    is_focus = np.isin(pairs.inv_index, wanted) | np.isin(pairs.comp_index, wanted)
    focus_rows = np.flatnonzero(is_focus)
    if not len(focus_rows):
        return ""
    t0, t1, rows = _window(pairs, focus_rows)
    lane_of, lane_names = pack_lanes(pairs, rows)
    procs = lane_names
    active = [p for p in periods if p.overlaps(t0, t1)]
    height = TOP + LANE * len(procs) + 28
    span = max(t1 - t0, 1e-9)

    def x(t):
        return LEFT + (min(max(t, t0), t1) - t0) / span * (WIDTH - LEFT - 10)

    out = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="ops per process around the anomaly">']
    colors = fault_colors(periods)
    for p in active:
        x0, x1 = x(p.start), x(p.end)
        out.append(f'<rect x="{x0:.1f}" y="{TOP - 4}" width="{max(x1 - x0, 1):.1f}" '
                   f'height="{LANE * len(procs) + 8}" fill="{colors[p.fault]}" opacity="0.5">'
                   f'<title>{escape(p.fault)} active {p.start:.3f}–{p.end:.3f} s: {escape(_short(p.value))}</title></rect>')
        out.append(f'<text x="{x0 + 3:.1f}" y="{TOP - 8}" font-size="10" fill="#444">{escape(p.fault)}</text>')
    for k, name in enumerate(lane_names):
        y = TOP + k * LANE
        out.append(f'<text x="{LEFT - 6}" y="{y + LANE - 5}" font-size="10" text-anchor="end" fill="#333">'
                   f'{escape(name)}</text>')
        if k % 2 == 0:
            out.append(f'<rect x="{LEFT}" y="{y}" width="{WIDTH - LEFT - 10}" height="{LANE}" fill="#000" opacity="0.03"/>')
    for r in rows:
        proc = pairs.proc_names[pairs.proc_code[r]]
        y = TOP + lane_of[proc] * LANE + 3
        x0, x1 = x(pairs.start[r]), x(pairs.end[r])
        kind = TYPES[pairs.type_code[r]]
        comp = int(pairs.comp_index[r])
        idx = comp if comp >= 0 else int(pairs.inv_index[r])
        k = ops.position(idx)
        op = ops[k] if k is not None else {}
        tip = (f"#{idx} {pairs.f_names[pairs.f_code[r]]} {kind} · process {proc}"
               + (f" · node {op.get('node')}" if op.get("node") else "")
               + f" · {(pairs.end[r] - pairs.start[r]) * 1000:.1f} ms · {_short(op.get('value'))}")
        mark = bool(is_focus[r])
        rect = (f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 2):.1f}" height="{LANE - 6}" '
                f'fill="{TYPE_COLORS.get(kind, "#999")}" opacity="{1 if mark else 0.45}"'
                + (' stroke="#000" stroke-width="1.5"' if mark else "")
                + f'><title>{escape(tip)}</title></rect>')
        if mark:
            out.append(f'<a href="#{anchor}-op-{idx}">{rect}'
                       f'<text x="{x1 + 2:.1f}" y="{y + LANE - 7}" font-size="9" font-weight="bold">#{idx}</text></a>')
        else:
            out.append(rect)
    axis_y = TOP + LANE * len(procs) + 14
    for k in range(6):
        t = t0 + span * k / 5
        out.append(f'<text x="{x(t):.1f}" y="{axis_y}" font-size="9" text-anchor="middle" fill="#555">{t:.3f} s</text>')
    out.append(f'<text x="{LEFT}" y="12" font-size="10" fill="#555">bars: invoke → completion; green ok, red fail, '
               f'orange info (indeterminate); outlined = ops of this anomaly (click to jump to the row)</text>')
    out.append("</svg>")
    return "\n".join(out)
