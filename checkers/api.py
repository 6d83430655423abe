"""One entry point for every checker, and the helpers that keep their results shaped alike.

Public API (stable):
    check(history, workload, model="strict-serializable", **opts) -> result dict
    check_file(path, workload, model="strict-serializable", **opts) -> result dict
        (path: .jsonl, .edn, or either gzipped; "history_note" says when a gzip stream was cut short)
    build_result(anomalies, model, stats, unknown_reason=None, **extra) -> result dict
    unknown_result(reason, key="error", **extra) -> result dict with no verdict
    op_stats(history, f=None) -> {"txns", "ok", "fail", "info"}
    MAX_INSTANCES                 # how many instances of one anomaly type a result lists

The result (DESIGN `--json` object):
    {"valid": True | False | "unknown", "anomaly_types": [...sorted], "anomalies": {type: [instance]},
     "not": [...], "also_not": [...], "stats": {"txns", "ok", "fail", "info", "seconds", ...}}
Each anomaly instance is a dict with at least "explanation" (plain words) and either
"cycle" + "steps" (cycle anomalies) or "ops" (the ops that show it).
"""
from __future__ import annotations

import time

from checkers import models
from checkers.registry import checker_for

MAX_INSTANCES = 20


def build_result(anomalies: dict, model: str, stats: dict, unknown_reason: str | None = None,
                 counts: dict | None = None, **extra) -> dict:
    """The result object every checker returns.

    anomalies: {type: [instance dict, ...]} (empty lists are dropped; each list is capped at
      MAX_INSTANCES, the full count kept in stats["anomaly_counts"]).
    unknown_reason: if given and no forbidden anomaly was found, valid is "unknown" and the
      reason is reported under "unknown_reason" (e.g. "no committed transactions").
    counts: true number of instances per type when `anomalies` lists only some of them.
    extra: further top-level keys (e.g. "search" limits reached); never overrides the core keys.
    """
    found = {t: list(v) for t, v in anomalies.items() if v}
    counts = {t: max(len(v), (counts or {}).get(t, 0)) for t, v in found.items()}
    capped = {t: v[:MAX_INSTANCES] for t, v in found.items()}
    types = sorted(found)
    valid, not_, also_not = models.verdict(types, model)
    if valid and unknown_reason:
        valid = "unknown"
    st = dict(stats)
    for k in ("txns", "ok", "fail", "info"):
        st.setdefault(k, 0)
    st.setdefault("seconds", 0.0)
    if counts:
        st["anomaly_counts"] = counts
    result = {"valid": valid, "anomaly_types": types, "anomalies": capped,
              "not": not_, "also_not": also_not, "stats": st}
    if valid == "unknown":
        result["unknown_reason"] = unknown_reason
    for k, v in extra.items():
        result.setdefault(k, v)
    return result


def unknown_result(reason: str, key: str = "error", **extra) -> dict:
    """A result with no verdict: valid "unknown", nothing found, the reason under `key`: "error" when
    the check could not run (unusable input, a crash, no run), "unknown_reason" when it ran and cannot
    judge. Empty stats: a report shows no counts it does not have. extra: further keys (run metadata)."""
    return {"valid": "unknown", "anomaly_types": [], "anomalies": {}, "not": [], "also_not": [], "stats": {},
            key: reason, **extra}


def op_stats(history, f=None) -> dict:
    """Count client completions by type (nemesis ops excluded; only ops with f == `f` if given)."""
    ok = fail = info = 0
    for op in history:
        if op.get("process") == "nemesis" or (f is not None and op.get("f") != f):
            continue
        t = op.get("type")
        if t == "ok":
            ok += 1
        elif t == "fail":
            fail += 1
        elif t == "info":
            info += 1
    return {"txns": ok + fail + info, "ok": ok, "fail": fail, "info": info}


def check(history, workload: str, model: str = "strict-serializable", **opts) -> dict:
    """Judge an in-memory history with the checker registered for `workload`."""
    models.canonical(model)
    t0 = time.perf_counter()
    result = checker_for(workload).check(history, model=model, **opts)
    result["stats"].setdefault("seconds", round(time.perf_counter() - t0, 3))
    return result


def check_file(path, workload: str, model: str = "strict-serializable", **opts) -> dict:
    """Judge a history file. Checkers with `check_file` stream it; others get `read_history(path)`.

    Raises checkers.history.HistoryError (one line, FILE:LINE) for unusable input.
    """
    models.canonical(model)
    module = checker_for(workload)
    t0 = time.perf_counter()
    if hasattr(module, "check_file"):
        result = module.check_file(path, model=model, **opts)
    else:
        from checkers.history import read_history
        result = module.check(read_history(path), model=model, **opts)
    result["stats"]["seconds"] = round(time.perf_counter() - t0, 3)
    from checkers.history import truncation_note
    note = truncation_note(path)
    if note:    # a compressed history cut short by a crash: checked as the whole lines before the cut
        result["history_note"] = note
    return result
