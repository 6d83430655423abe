"""Plain-words explanations a reader can check against the history, step by step."""
from __future__ import annotations

MAX_SHOWN = 10


def txn_name(op, fallback):
    """T<index>: the completion op's index in the history (what a reader searches for)."""
    if op is not None and isinstance(op.get("index"), int):
        return f"T{op['index']}"
    return f"T#{fallback}"


def fmt_list(xs, focus=None):
    """A list for humans: short lists whole, long ones elided around the end (or `focus` index)."""
    xs = list(xs)
    if len(xs) <= MAX_SHOWN:
        return "[" + ", ".join(map(_fmt, xs)) + "]"
    end = len(xs) if focus is None else min(len(xs), focus + 3)
    start = max(0, end - (MAX_SHOWN - 1))
    head = "[" + ("..., " if start > 0 else "")
    tail = ", ..." if end < len(xs) else ""
    return head + ", ".join(map(_fmt, xs[start:end])) + tail + f"] ({len(xs)} elements)"


def _fmt(x):
    return "nil" if x is None else repr(x) if isinstance(x, str) else str(x)


def fmt_value(x):
    if isinstance(x, list):
        return fmt_list(x)
    return _fmt(x)


def describe_txn(name, op, invoke=None):
    """'T12 (process 3, ok, node n2): [["append", 5, 3], ["r", 7, [1, 2]]]'"""
    bits = []
    if op is not None:
        if op.get("process") is not None:
            bits.append(f"process {op['process']}")
        bits.append(str(op.get("type")))
        if op.get("node") is not None:
            bits.append(f"node {op['node']}")
    value = op.get("value") if op is not None else None
    if op is not None and op.get("type") != "ok" and invoke is not None:
        value = invoke.get("value")
    return f"{name} ({', '.join(bits)}): {_fmt_mops(value)}"


def _fmt_mops(value):
    if not isinstance(value, list):
        return _fmt(value)
    parts = []
    for m in value:
        if isinstance(m, list) and len(m) == 3:
            parts.append(f"{m[0]}({_fmt(m[1])}, {fmt_value(m[2])})")
        else:
            parts.append(_fmt(m))
    return "; ".join(parts)


def cycle_text(kind, names, descriptions, step_texts):
    """The whole story of a cycle: who is who, each step, and the contradiction."""
    lines = [f"{kind}: a dependency cycle of {len(names)} transactions.", "Let:"]
    lines += [f"  {d}" for d in descriptions]
    lines.append("Then:")
    lines += [f"  - {s}" for s in step_texts]
    chain = " < ".join(names + [names[0]])
    lines.append(f"So {chain}: a contradiction, {names[0]} would have to precede itself.")
    return "\n".join(lines)

