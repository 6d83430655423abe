"""Jepsen-style performance graphs: latency and throughput over time, fault periods shaded.

Uses matplotlib's object API with the Agg canvas (no pyplot global state, no display needed).
Points are sampled per (operation, outcome) so a 100,000-op history plots in about a second.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from harness.report.ops import TYPES, Pairs, Period

TYPE_COLORS = {"ok": "#2e8b57", "fail": "#d62728", "info": "#ff9f1c"}
FAULT_PALETTE = ["#9ecae1", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9", "#f2e394", "#c6dbef"]
MAX_POINTS = 20_000       # per (operation, outcome) in the latency scatter
MAX_ROWS = 6              # operation names plotted separately; the rest share one panel
DPI = 90


def fault_colors(periods: list[Period]) -> dict[str, str]:
    names = sorted({p.fault for p in periods})
    return {n: FAULT_PALETTE[i % len(FAULT_PALETTE)] for i, n in enumerate(names)}


def _shade(ax, periods, colors):
    for p in periods:
        ax.axvspan(p.start, max(p.end, p.start + 1e-3), color=colors[p.fault], alpha=0.6, lw=0, zorder=0)


def _fault_legend(fig, periods, colors):
    if not periods:
        return
    handles = [Patch(color=c, alpha=0.6, label=n) for n, c in colors.items()]
    fig.legend(handles=handles, loc="upper right", title="faults active", fontsize=8, title_fontsize=8,
               frameon=False, bbox_to_anchor=(1.0, 1.0))


def _margins(fig, periods, top_inches: float, bottom_inches: float):
    """Fixed margins in inches (tight_layout would measure every label: a second per plot on a busy box)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=0.9 / w, right=1 - (1.5 if periods else 0.2) / w, top=1 - top_inches / h,
                        bottom=bottom_inches / h, hspace=0.12)


def _rows(pairs: Pairs) -> list[tuple[str, np.ndarray]]:
    """(label, boolean mask) per operation name, most frequent first, capped at MAX_ROWS panels."""
    counted = np.bincount(pairs.f_code, minlength=len(pairs.f_names))
    by_name = sorted(range(len(pairs.f_names)), key=lambda c: pairs.f_names[c])
    names = [pairs.f_names[c] for c in by_name]
    counts = np.array([counted[c] for c in by_name], dtype=np.int64)
    code = {n: c for c, n in enumerate(pairs.f_names)}
    order = [names[i] for i in np.argsort(-counts) if counts[i]]
    rows = [(n, pairs.f_code == code[n]) for n in order[: MAX_ROWS - 1 if len(order) > MAX_ROWS else MAX_ROWS]]
    if len(order) > MAX_ROWS:
        rest = order[MAX_ROWS - 1:]
        rows.append(("other: " + ", ".join(rest[:3]) + ("…" if len(rest) > 3 else ""),
                     np.isin(pairs.f_code, [code[n] for n in rest])))
    return rows


def _sample(idx: np.ndarray, rng) -> np.ndarray:
    if len(idx) <= MAX_POINTS:
        return idx
    return np.sort(rng.choice(idx, MAX_POINTS, replace=False))


def _save(fig, path: Path) -> Path:
    """Write atomically: `harness serve` may be writing a report of the same run at the same time."""
    FigureCanvasAgg(fig)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.png")
    fig.savefig(tmp, dpi=DPI)
    os.replace(tmp, path)
    return path


def latency_plot(pairs: Pairs, periods: list[Period], path: Path) -> tuple[Path, bool]:
    """Scatter of latency (ms, log) against completion time, one panel per operation; (path, sampled)."""
    rows = _rows(pairs)
    colors = fault_colors(periods)
    fig = Figure(figsize=(11, 1.9 * len(rows) + 0.9))
    axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
    lat = np.maximum(pairs.latency_ms, 1e-3)
    rng = np.random.default_rng(0)
    sampled = False
    for ax, (label, mask) in zip(axes, rows):
        _shade(ax, periods, colors)
        for kind, color in TYPE_COLORS.items():
            idx = np.flatnonzero(mask & (pairs.type_code == TYPES.index(kind)))
            if not len(idx):
                continue
            keep = _sample(idx, rng)
            sampled |= len(keep) < len(idx)
            marker = {"ok": "o", "fail": "x", "info": "D"}[kind]
            ax.scatter(pairs.end[keep], lat[keep], s=4 if kind == "ok" else 12, c=color,
                       linewidths=1.0 if marker == "x" else 0, label=f"{kind} ({len(idx):,})",
                       alpha=0.7 if kind == "ok" else 0.9, zorder=2 if kind == "ok" else 3, marker=marker)
        ax.set_yscale("log")
        ax.set_ylabel(f"{label}\nlatency (ms)", fontsize=8)
        ax.grid(True, which="major", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=7, markerscale=2, frameon=True)
    axes[-1].set_xlabel("time since start (s)" if pairs.has_time else "history position (no times recorded)")
    fig.suptitle("Latency of each operation" + (" (sampled)" if sampled else ""), x=0.01, ha="left", fontsize=10)
    _fault_legend(fig, periods, colors)
    _margins(fig, periods, top_inches=0.45, bottom_inches=0.55)
    return _save(fig, path), sampled


def _buckets(pairs: Pairs, n: int = 120) -> np.ndarray:
    t_end = float(pairs.end.max()) if len(pairs) else 1.0
    width = max(t_end / n, 1e-3)
    return np.arange(0.0, t_end + width, width)


def rate_plot(pairs: Pairs, periods: list[Period], path: Path) -> Path:
    """Completed operations per second over time, one line per operation and outcome."""
    colors = fault_colors(periods)
    edges = _buckets(pairs)
    width = edges[1] - edges[0]
    fig = Figure(figsize=(11, 3.4))
    ax = fig.subplots()
    _shade(ax, periods, colors)
    styles = ["-", "--", ":", "-."]
    for r, (label, mask) in enumerate(_rows(pairs)):
        for kind, color in TYPE_COLORS.items():
            sel = mask & (pairs.type_code == TYPES.index(kind))
            if not sel.any():
                continue
            counts, _ = np.histogram(pairs.end[sel], bins=edges)
            ax.plot(edges[:-1] + width / 2, counts / width, styles[r % len(styles)], color=color, lw=1.2,
                    label=f"{label} {kind}")
    ax.set_ylabel("ops/s")
    ax.set_xlabel("time since start (s)" if pairs.has_time else "history position (no times recorded)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, ncol=3, frameon=True)
    fig.suptitle("Throughput", x=0.01, ha="left", fontsize=10)
    _fault_legend(fig, periods, colors)
    _margins(fig, periods, top_inches=0.4, bottom_inches=0.55)
    return _save(fig, path)


def quantile_plot(pairs: Pairs, periods: list[Period], path: Path) -> Path:
    """Median, 95th, 99th percentile and maximum latency per time bucket, all operations together."""
    colors = fault_colors(periods)
    edges = _buckets(pairs, 60)
    fig = Figure(figsize=(11, 3.2))
    ax = fig.subplots()
    _shade(ax, periods, colors)
    which = (np.digitize(pairs.end, edges) - 1).astype(np.int32)
    lat = pairs.latency_ms
    # ops come in completion order, so the buckets usually are sorted already (no sort, no copies)
    order = None if (which[1:] >= which[:-1]).all() else np.argsort(which, kind="stable")
    bounds = np.searchsorted(which if order is None else which[order], np.arange(len(edges)))
    xs, qs = [], []
    for b in range(len(edges) - 1):
        chunk = lat[bounds[b]:bounds[b + 1]] if order is None else lat[order[bounds[b]:bounds[b + 1]]]
        xs.append((edges[b] + edges[b + 1]) / 2)
        # an empty bucket (nothing completed: e.g. a paused primary) breaks the line, not bridges it
        qs.append(np.percentile(chunk, [50, 95, 99, 100]) if len(chunk) else np.full(4, np.nan))
    if qs and not np.isnan(np.array(qs)).all():
        qs = np.array(qs)
        for k, (label, style) in enumerate((("p50", "-"), ("p95", "--"), ("p99", "-."), ("max", ":"))):
            ax.plot(xs, np.maximum(qs[:, k], 1e-3), style, color="#1f4e79", lw=1.2, label=label)
        ax.set_yscale("log")
        ax.legend(loc="upper left", fontsize=7, ncol=4)
    ax.set_ylabel("latency (ms)")
    ax.set_xlabel("time since start (s)")
    ax.grid(True, alpha=0.3)
    fig.suptitle("Latency quantiles", x=0.01, ha="left", fontsize=10)
    _fault_legend(fig, periods, colors)
    _margins(fig, periods, top_inches=0.4, bottom_inches=0.55)
    return _save(fig, path)


def lag_plot(series: list, periods: list[Period], path: Path) -> Path | None:
    """Replication lag per node pair over time (harness.lag_monitor's samples), log scale."""
    points = [(t, pair, lag) for t, pair, lag in series if isinstance(lag, (int, float))]
    if not points:
        return None
    colors = fault_colors(periods)
    fig = Figure(figsize=(11, 3.0))
    ax = fig.subplots()
    _shade(ax, periods, colors)
    for pair in sorted({p for _, p, _ in points}):
        xs = [t for t, p, _ in points if p == pair]
        ys = [max(lag, 1e-2) for _, p, lag in points if p == pair]
        ax.plot(xs, ys, ".-", lw=0.8, ms=3, label=pair)
    ax.set_yscale("log")
    ax.set_ylabel("lag (ms)")
    ax.set_xlabel("time since start (s)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, ncol=6)
    fig.suptitle("Replication lag: commit on one node until another shows it", x=0.01, ha="left", fontsize=10)
    _fault_legend(fig, periods, colors)
    _margins(fig, periods, top_inches=0.4, bottom_inches=0.55)
    return _save(fig, path)


def write_plots(pairs: Pairs, periods: list[Period], out_dir: Path, lag: dict | None = None) -> dict:
    """Write every performance graph into out_dir; {name: Path} plus 'sampled'. Empty when no ops."""
    if not len(pairs):
        return {}
    out_dir = Path(out_dir)
    lat, sampled = latency_plot(pairs, periods, out_dir / "latency-raw.png")
    out = {"latency": lat, "sampled": sampled}
    series = lag.get("series") if isinstance(lag, dict) else None
    if isinstance(series, list) and all(isinstance(x, list) and len(x) == 3 for x in series):
        out["lag"] = lag_plot(series, periods, out_dir / "lag.png")
    if pairs.has_time:
        out["quantiles"] = quantile_plot(pairs, periods, out_dir / "latency-quantiles.png")
        out["rate"] = rate_plot(pairs, periods, out_dir / "rate.png")
    return out
