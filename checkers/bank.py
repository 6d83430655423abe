"""Bank checker: every successful read must show the initial total, and no balance may be negative.

Reads are ops with f == "read" whose ok value maps account -> balance (JSON object keys are
strings; Jepsen EDN histories use integer keys: both are accepted). The expected total comes from
the `total` option, else from the reads' own `total` field (the runner's bank workload writes it),
else it is inferred as the most common total (and said so in the result).

Anomalies (each instance names the read that shows it):
    wrong-total       a read whose balances do not add up to the total, or that lacks / adds accounts
    negative-balance  a read showing an account below zero
A wrong total means money was created or destroyed (lost update) or a read saw half a transfer
(read skew): read committed permits both; snapshot isolation and repeatable read forbid both.
"""
from __future__ import annotations

from collections import Counter

from checkers import models
from checkers.api import build_result, op_stats

for _name in ("wrong-total", "negative-balance"):
    models.register_anomaly(_name, ["snapshot-isolation", "repeatable-read"])


def balances(value) -> dict | None:
    """{account(int): balance(int)} from a read's value, or None when it is not a balance map."""
    if isinstance(value, dict):
        try:
            return {int(k): int(v) for k, v in value.items() if v is not None}
        except (TypeError, ValueError):
            return None
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        return {int(k): int(v) for k, v in value}
    return None


def check(history, model: str = "strict-serializable", total: int | None = None,
          accounts: int | None = None, **_opts) -> dict:
    reads = []
    for op in history:
        if op.get("type") == "ok" and op.get("f") == "read" and op.get("process") != "nemesis":
            b = balances(op.get("value"))
            if b is not None:
                reads.append((op, b))
    stats = op_stats(history)
    stats.update({"reads": len(reads),
                  "transfers": sum(1 for op in history if op.get("type") == "ok" and op.get("f") == "transfer")})
    if not reads:
        return build_result({}, model, stats, unknown_reason="no successful reads")
    notes = []
    if total is None:
        totals = [op.get("total") for op, _ in reads if isinstance(op.get("total"), int)]
        if totals:
            total = Counter(totals).most_common(1)[0][0]
        else:
            total = Counter(sum(b.values()) for _, b in reads).most_common(1)[0][0]
            notes.append(f"expected total not given: inferred {total}, the most common read total")
    expected_accounts = set(range(accounts)) if accounts else None

    wrong, negative = [], []
    totals_seen = Counter()
    for op, b in reads:
        got = sum(b.values())
        totals_seen[got] += 1
        missing = sorted(expected_accounts - set(b)) if expected_accounts is not None else []
        extra = sorted(set(b) - expected_accounts) if expected_accounts is not None else []
        if got != total or missing or extra:
            why = [f"the balances add up to {got}, not {total}"] if got != total else []
            if missing:
                why.append(f"accounts {missing} are missing")
            if extra:
                why.append(f"unknown accounts {extra} appear")
            wrong.append({"explanation": f"read {_where(op)}: " + "; ".join(why) + f" (balances {_fmt(b)})",
                          "ops": [op], "total": got, "expected": total})
        below = {a: v for a, v in b.items() if v < 0}
        if below:
            negative.append({"explanation": f"read {_where(op)}: negative balance(s) "
                                            + ", ".join(f"account {a} = {v}" for a, v in sorted(below.items())),
                             "ops": [op], "accounts": sorted(below)})
    stats["totals"] = {str(k): v for k, v in sorted(totals_seen.items())}
    stats["expected_total"] = total
    extra = {"notes": notes} if notes else {}
    return build_result({"wrong-total": wrong, "negative-balance": negative}, model, stats, **extra)


def _where(op) -> str:
    node = f" on {op['node']}" if op.get("node") else ""
    return f"#{op.get('index', '?')} by process {op.get('process')}{node}"


def _fmt(b: dict) -> str:
    return ", ".join(f"{a}: {v}" for a, v in sorted(b.items()))
