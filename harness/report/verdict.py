"""The verdict in words: one sentence a manager can read, and the one-line CI summary."""
from __future__ import annotations

from harness.report.data import ENGINE_INVARIANTS


def verdict_word(results: dict) -> str:
    """'valid' | 'invalid' | 'unknown'."""
    v = results.get("valid")
    if v is True:
        return "valid"
    if v is False:
        return "invalid"
    return "unknown"


def broken_invariants(results: dict) -> list[str]:
    return [t for t in results.get("anomaly_types") or [] if t in ENGINE_INVARIANTS]


def isolation_anomalies(results: dict) -> list[str]:
    return [t for t in results.get("anomaly_types") or [] if t not in ENGINE_INVARIANTS]


def _join(words: list[str]) -> str:
    words = [str(w) for w in words]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def setup_phrase(db: str, nodes=None, routing=None, nemesis=None) -> str:
    """'galera (3 nodes, sticky routing) under partition faults'."""
    bits = []
    if nodes:
        bits.append(f"{nodes} node{'' if nodes == 1 else 's'}")
    if routing:
        bits.append(f"{routing} routing")
    phrase = db + (f" ({', '.join(bits)})" if bits else "")
    if nemesis:
        phrase += f" under {_join(list(nemesis))} faults"
    else:
        phrase += " with no faults"
    return phrase


def unknown_reason(results: dict) -> str:
    for key in ("error", "reason", "unknown_reason", "message"):
        if results.get(key):
            return str(results[key])
    return "the checker could not decide"


def verdict_sentence(results: dict, db="?", nodes=None, routing=None, nemesis=None, workload=None,
                     model=None) -> str:
    """The first sentence of the report: safe or not, and why, in plain words."""
    word = verdict_word(results)
    where = setup_phrase(db, nodes, routing, nemesis)
    what = f"the {workload} workload" if workload else "the workload"
    if word == "unknown":
        return f"Unknown: {what} on {where} gave no verdict: {unknown_reason(results)}."
    n = (results.get("stats") or {}).get("txns")
    counted = f" in {n:,} transactions" if isinstance(n, int) else ""
    if word == "valid":
        also = ""
        allowed = results.get("anomaly_types") or []
        if allowed:
            also = f" (it allows what was seen: {_join(allowed)})"
        forbids = f"{model} forbids" if model else "the checked model forbids"
        return (f"Valid: {what} on {where} showed no anomaly {forbids}{counted}{also}; "
                f"this is evidence, not proof, of safety.")
    invariants = broken_invariants(results)
    parts = []
    if invariants:
        parts.append(f"the process engine's invariant{'s' if len(invariants) > 1 else ''} "
                     f"{_join(invariants)} broke")
    ruled_out = list(results.get("not") or [])
    if model and model in ruled_out:
        others = [m for m in ruled_out if m != model]
        parts.append(f"the history violates {model} (the model checked) and every stronger model"
                     + (f", and also rules out {_join(others)}" if others else ""))
    elif model and model in (results.get("also_not") or []) and ruled_out:
        parts.append(f"the history violates {model} (the model checked): it rules out {_join(ruled_out)} "
                     f"and every stronger model")
    elif ruled_out:
        parts.append(f"the history rules out {_join(ruled_out)} and every stronger model")
    others = isolation_anomalies(results)
    if others:
        parts.append(f"found {_join(others)}")
    detail = "; ".join(parts) if parts else "the checker found anomalies"
    return f"Not safe: on {where}, {detail}{counted}."


def summary_line(results: dict, db="?", workload="?", nemesis=None, report_path=None) -> str:
    """One line for the end of every run and for CI logs."""
    word = verdict_word(results).upper()
    stats = results.get("stats") or {}
    counts = " ".join(f"{k} {stats[k]}" for k in ("ok", "fail", "info") if k in stats)
    nem = ",".join(nemesis) if nemesis else "no faults"
    bits = [f"{word} {db}/{workload} ({nem})"]
    if word == "INVALID":
        bits.append(", ".join(results.get("anomaly_types") or []) or "anomalies")
        if results.get("not"):
            bits.append("not " + ", ".join(results["not"]))
    elif word == "UNKNOWN":
        bits.append(unknown_reason(results))
    if "txns" in stats:
        bits.append(f"{stats['txns']} txns" + (f" ({counts})" if counts else ""))
    if report_path:
        bits.append(f"report {report_path}")
    return " — ".join(bits)
