"""The run report: `write_report(run_dir)` writes a self-contained `index.html` and the plots.

Called by the runner at the end of every run and by `harness analyze`. Reads `history.jsonl`,
`results.json` and `test.json`; never needs the database or the network.
"""
from __future__ import annotations

import contextlib
import copy
import gc
import json
import os
from pathlib import Path

from harness.report.data import ENGINE_INVARIANTS, ReportError, load_run
from harness.report.graphs import checker_renderings
from harness.report.html import Page
from harness.report.ops import nemesis_periods, pair_ops
from harness.report.plots import write_plots
from harness.report.verdict import summary_line, verdict_sentence, verdict_word

__all__ = ["write_report", "run_summary", "summary_line", "verdict_sentence", "verdict_word",
           "ENGINE_INVARIANTS", "ReportError"]

MAX_PER_TYPE = 10      # anomaly instances shown in full per type (the rest are counted)
MAX_SHOWN = 40         # and in all


def _shown(results: dict) -> dict:
    """The results with anomalies trimmed to what the page shows in full (keeps rendering bounded)."""
    shown = {k: v for k, v in results.items() if k != "anomalies"}
    budget = MAX_SHOWN
    trimmed = {}
    for atype, instances in (results.get("anomalies") or {}).items():
        if not isinstance(instances, list):
            continue
        take = instances[: max(0, min(MAX_PER_TYPE, budget))]
        budget -= len(take)
        if take:
            trimmed[atype] = copy.deepcopy(take)
    shown["anomalies"] = trimmed
    return shown


def run_summary(run) -> dict:
    """The few fields `harness serve` lists, without reading the whole results.json again."""
    res = run.results
    return {"verdict": verdict_word(res), "db": run.db, "workload": run.workload, "nemesis": run.nemesis,
            "anomaly_types": res.get("anomaly_types") or [], "not": res.get("not") or [],
            "started": run.meta("started", "start_time", "date"), "seed": run.meta("seed"),
            "sentence": verdict_sentence(res, db=run.db, routing=run.meta("routing"), nemesis=run.nemesis,
                                         workload=run.workload, model=run.model or None)}


def _atomic_write(path: Path, text: str):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def _no_gc():
    """Pause the cyclic garbage collector: a history is hundreds of thousands of small acyclic
    objects, and the collector's repeated passes over them tripled the time of a large report."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def write_report(run_dir) -> Path:
    """Write `index.html` (+ latency/rate plots, explanations/, summary.json) into run_dir; its path.

    Raises ReportError (a one-line UsageError) only when run_dir holds nothing to report on; a
    damaged history or a failing plot becomes a note in the page instead.
    """
    with _no_gc():
        return _write_report(Path(run_dir))


def _write_report(run_dir: Path) -> Path:
    run = load_run(run_dir)
    pairs = pair_ops(run.ops)
    periods, events = nemesis_periods(run.ops)
    try:
        plots = write_plots(pairs, periods, run_dir, lag=run.results.get("lag"))
    except Exception as e:  # noqa: BLE001 - the verdict matters more than the graphs
        run.problems.append(f"plots failed: {type(e).__name__}: {e}")
        plots = {}
    shown = _shown(run.results)
    graphs, problem = ({}, None)
    if shown["anomalies"]:
        graphs, problem = checker_renderings(shown, run_dir / "explanations")
    if problem:
        run.problems.append(problem)
    page = Page(run, pairs, periods, events, plots, graphs, shown).render()
    out = run_dir / "index.html"
    _atomic_write(out, page)
    _atomic_write(run_dir / "summary.json", json.dumps(run_summary(run), default=str, indent=1))
    return out
