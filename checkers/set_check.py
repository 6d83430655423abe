"""Set checker: every acknowledged insert must be in every final read.

Ops: {"f": "add", "value": element} (invoke, then ok / fail / info) and reads {"f": "read",
"value": [elements]}. The final reads are the ok reads marked `"final": true` (the runner marks
its final phase); a history without such marks uses its last ok read.

Per final read:
    lost        acknowledged (ok) adds missing from it: an anomaly under every model
    unexpected  elements no add ever attempted, or whose add definitely failed: an anomaly
    recovered   indeterminate (info) adds that are present: fine, reported for information

Elements are integers or strings, exactly: 1, 1.0 and true are different values, so a float or
bool element (or a list, an object) is refused with FILE:LINE instead of colliding with an int.
"""
from __future__ import annotations

from checkers.api import build_result, op_stats
from checkers.history import HistoryError, line_of, source_of

SHOW = 50  # elements listed in one explanation
ELEMENT_TYPES = (int, str)   # exact: bool and float are not int here


def _order(x):
    """Sort key for a mix of int and str elements: ints first."""
    return (type(x) is str, x)


def _refuse(history, pos, message):
    line = line_of(history, pos)
    raise HistoryError(source_of(history), line if line is not None else pos + 1, message)


def check(history, model: str = "strict-serializable", **_opts) -> dict:
    attempted, acked, failed, indeterminate = set(), {}, set(), set()
    reads = []
    for pos, op in enumerate(history):
        if op.get("process") == "nemesis":
            continue
        f, t = op.get("f"), op.get("type")
        if f == "add":
            v = op.get("value")
            if type(v) not in ELEMENT_TYPES:
                _refuse(history, pos, f"an added element must be an integer or a string, got {v!r}")
            if t == "invoke":
                attempted.add(v)
            elif t == "ok":
                acked[v] = op
            elif t == "fail":
                failed.add(v)
            elif t == "info":
                indeterminate.add(v)
        elif f == "read" and t == "ok" and isinstance(op.get("value"), list):
            bad = next((x for x in op["value"] if type(x) not in ELEMENT_TYPES), None)
            if bad is not None:
                _refuse(history, pos, f"a read's elements must be integers or strings, got {bad!r}")
            reads.append(op)
    finals = [op for op in reads if op.get("final")] or reads[-1:]
    stats = op_stats(history)
    stats.update({"attempted": len(attempted), "acknowledged": len(acked), "final_reads": len(finals)})
    if not finals:
        return build_result({}, model, stats, unknown_reason="no successful final read")

    lost_all, unexpected_all, recovered_all = set(), set(), set()
    lost, unexpected = [], []
    for op in finals:
        present = set(op["value"])
        missing = sorted(set(acked) - present, key=_order)
        if missing:
            lost_all.update(missing)
            lost.append({"explanation": f"final read {_where(op)} lacks {len(missing)} acknowledged "
                                        f"insert(s): {_list(missing)}",
                         "ops": [op] + [acked[v] for v in missing[:10]], "elements": missing})
        never = sorted(present - attempted, key=_order)
        refused = sorted(present & (failed - indeterminate), key=_order)
        if never or refused:
            unexpected_all.update(never + refused)
            why = []
            if never:
                why.append(f"{len(never)} element(s) no client ever added: {_list(never)}")
            if refused:
                why.append(f"{len(refused)} element(s) whose add was reported as failed: {_list(refused)}")
            unexpected.append({"explanation": f"final read {_where(op)} contains " + "; ".join(why),
                               "ops": [op], "elements": never + refused})
        recovered_all.update(present & indeterminate)
    stats.update({"lost": len(lost_all), "unexpected": len(unexpected_all), "recovered": len(recovered_all)})
    return build_result({"lost": lost, "unexpected": unexpected}, model, stats,
                        lost_elements=sorted(lost_all, key=_order)[:1000],
                        unexpected_elements=sorted(unexpected_all, key=_order)[:1000],
                        recovered_elements=sorted(recovered_all, key=_order)[:1000])


def _where(op) -> str:
    node = f" on {op['node']}" if op.get("node") else ""
    return f"#{op.get('index', '?')} by process {op.get('process')}{node}"


def _list(xs) -> str:
    xs = list(xs)
    return ", ".join(map(str, xs[:SHOW])) + (f" ... ({len(xs) - SHOW} more)" if len(xs) > SHOW else "")
