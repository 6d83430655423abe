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
import shutil
import tempfile
from pathlib import Path

from harness.report.data import ENGINE_INVARIANTS, ReportError, load_run
from harness.report.graphs import checker_renderings
from harness.report.html import Page
from harness.report.ops import Scan
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
            "started": run.meta("started"), "seed": run.meta("seed"),
            "sentence": verdict_sentence(res, db=run.db, routing=run.meta("routing"), nemesis=run.nemesis,
                                         workload=run.workload, model=run.model or None)}


def _write_new(path: Path, text: str):
    """Write a file that must not exist yet (in the staging dir): never through a planted symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _refuse_symlink(path: Path):
    if path.is_symlink():
        raise ReportError(f"{path}: is a symbolic link; the report writes no file through it "
                          f"(remove it and report again)")


def _publish(staging: Path, run_dir: Path):
    """Move the staged files into run_dir (and run_dir/explanations). os.replace puts a new file in
    the place of the name, so a symlink planted under that name is replaced, never followed; the
    explanations dir itself is opened with O_NOFOLLOW."""
    run_fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        staged_exp = staging / "explanations"
        if staged_exp.is_dir():
            _refuse_symlink(run_dir / "explanations")
            try:
                os.mkdir("explanations", dir_fd=run_fd)
            except FileExistsError:
                pass
            try:
                exp_fd = os.open("explanations", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=run_fd)
            except OSError as e:
                raise ReportError(f"{run_dir / 'explanations'}: not a plain directory ({e.strerror})") from None
            try:
                for f in sorted(staged_exp.iterdir()):
                    _replace(f, exp_fd, run_dir / "explanations")
            finally:
                os.close(exp_fd)
        for f in sorted(staging.iterdir()):
            if f.name != "explanations":
                _replace(f, run_fd, run_dir)
    finally:
        os.close(run_fd)


def _replace(src: Path, dst_fd: int, dst_dir: Path):
    try:
        os.replace(src, src.name, dst_dir_fd=dst_fd)
    except OSError as e:  # e.g. a directory where the report's file goes
        raise ReportError(f"{dst_dir / src.name}: cannot write the report's file there ({e.strerror})") from None


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
    _refuse_symlink(run_dir / "explanations")  # before anything is written
    # Everything is written into a fresh private dir first, then moved into place (see _publish).
    staging = Path(tempfile.mkdtemp(prefix=".report-staging-", dir=run_dir))
    try:
        return _write_staged(run, run_dir, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _key_rows_wanted(shown: dict):
    """A KeyRows collector for the keys of the shown nonlinearizable instances (their timelines need
    every op of the key near the failing one), or None when there are none."""
    instances = (shown.get("anomalies") or {}).get("nonlinearizable") or []
    if not instances:
        return None
    from harness.report.linearizability import KeyRows
    never = object()   # an odd instance gets a key no op has, so rows stay aligned with instances
    return KeyRows([a.get("key") if isinstance(a, dict) and isinstance(a.get("blocked"), dict) else never
                    for a in instances])


def scan_history(run, shown: dict):
    """The one pass over the history: (Pairs, fault periods, events, key rows or None)."""
    keys = _key_rows_wanted(shown)
    scan = Scan(on_client=keys.feed if keys is not None else None)
    try:
        for chunk in run.ops.chunks(envelopes=keys is None):   # a key timeline needs whole ops
            scan.feed(chunk)
    except OSError as e:
        run.problems.append(f"history: unreadable ({e.strerror or e})")
    pairs, periods, events = scan.finish()
    return pairs, periods, events, (keys.rows if keys is not None else None)


def _write_staged(run, run_dir: Path, staging: Path) -> Path:
    shown = _shown(run.results)
    pairs, periods, events, key_rows = scan_history(run, shown)
    try:
        plots = write_plots(pairs, periods, staging, lag=run.results.get("lag"))
    except Exception as e:  # noqa: BLE001 - the verdict matters more than the graphs
        run.problems.append(f"plots failed: {type(e).__name__}: {e}")
        plots = {}
    graphs, problem = ({}, None)
    if shown["anomalies"]:
        graphs, problem = checker_renderings(shown, staging / "explanations")
    if problem:
        run.problems.append(problem)
    _publish(staging, run_dir)  # plots and explanations first: the page links the explanations
    plots = {k: run_dir / v.name if isinstance(v, Path) else v for k, v in plots.items()}
    try:
        page = Page(run, pairs, periods, events, plots, graphs, shown, key_rows).render()
    finally:
        run.ops.close()
    _write_new(staging / "index.html", page)
    _write_new(staging / "summary.json", json.dumps(run_summary(run), default=str, indent=1))
    _publish(staging, run_dir)
    return run_dir / "index.html"
