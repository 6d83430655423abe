"""Bank checker: every successful read must show the initial total, and no balance may be negative.

Reads are ops with f == "read" whose ok value maps account -> balance (JSON object keys are
strings; Jepsen EDN histories use integer keys: both are accepted), or is a list of
[account, balance] pairs. Accounts and balances are integers (a digit string for a JSON key);
anything else, a float or bool balance included, is refused with FILE:LINE rather than rounded
into a false violation. Totals must stay within int64. The expected total comes from
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

from checkers.api import build_result, op_stats
from checkers.history import INT64_MAX, INT64_MIN, HistoryError, line_of, source_of


def balances(value) -> dict:
    """{account(int): balance(int)} from a read's value; ValueError (saying why) if it is not one."""
    if isinstance(value, dict):
        pairs = [(_account(k), v) for k, v in value.items() if v is not None]
    elif isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        pairs = [(_account(k), v) for k, v in value]
    else:
        raise ValueError(f"a read's value must map accounts to balances, got {value!r}")
    for a, v in pairs:
        if type(v) is not int:
            raise ValueError(f"balance of account {a} must be an integer, got {v!r}")
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("an account appears twice in one read")
    if not INT64_MIN <= sum(out.values()) <= INT64_MAX:
        raise ValueError("the balances add up beyond the 64-bit range")
    return out


def _account(k) -> int:
    if type(k) is int or (type(k) is str and k.lstrip("-").isdigit() and k.isascii()):
        return int(k)
    raise ValueError(f"account {k!r} must be an integer")


def check(history, model: str = "strict-serializable", total: int | None = None,
          accounts: int | None = None, **_opts) -> dict:
    reads = []
    for pos, op in enumerate(history):
        if op.get("type") == "ok" and op.get("f") == "read" and op.get("process") != "nemesis":
            try:
                reads.append((op, balances(op.get("value"))))
                tot = op.get("total")
                if tot is not None and type(tot) is not int:
                    raise ValueError(f"field 'total' must be an integer, got {tot!r}")
            except ValueError as e:
                line = line_of(history, pos)
                raise HistoryError(source_of(history), line if line is not None else pos + 1, str(e)) from None
    if total is not None and type(total) is not int:
        raise ValueError(f"the expected total must be an integer, not {total!r}")
    stats = op_stats(history)
    stats.update({"reads": len(reads),
                  "transfers": sum(1 for op in history if op.get("type") == "ok" and op.get("f") == "transfer")})
    if not reads:
        return build_result({}, model, stats, unknown_reason="no successful reads")
    notes = []
    if total is None:
        totals = [op["total"] for op, _ in reads if op.get("total") is not None]
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
