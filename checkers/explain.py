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



class TxnExplainer:
    """What the transaction checkers share to turn findings into words: fetch only the ops the
    findings cite, name transactions, and tell a cycle step by step.

    A subclass sets, before `fetch_txn_ops`, per-txn arrays indexed by txn id: `pcmp`/`pinv`
    (positions of the completion / invoke op, -1 if none) and `tcmp`/`tinv` (their times), and
    implements `why_data(a, b, kind) -> (text, key) | None` for the ww / wr / rw edge a -> b.
    """

    def fetch_txn_ops(self, tids, fetch_ops):
        """Fetch the invoke and completion of every txn in `tids` (fetch_ops(sorted positions)
        -> {position: op}); later calls to op/inv/name read from them."""
        positions = set()
        for t in tids:
            positions.add(int(self.pcmp[t]))
            if self.pinv[t] >= 0:
                positions.add(int(self.pinv[t]))
        self._ops = fetch_ops(sorted(positions)) if positions else {}
        return self._ops

    def op(self, tid):
        return self._ops.get(int(self.pcmp[tid]))

    def inv(self, tid):
        p = int(self.pinv[tid])
        return self._ops.get(p) if p >= 0 else None

    def name(self, tid):
        return txn_name(self.op(tid), tid)

    def explain_cycle(self, c):
        """A cycle {"type", "nodes", "kinds"} as a result instance: the cycle's ops, one step per
        edge (why it holds, which key), and the whole story in plain words."""
        nodes, kinds = c["nodes"], c["kinds"]
        names = [self.name(t) for t in nodes]
        steps, texts = [], []
        for i, (a, kind) in enumerate(zip(nodes, kinds)):
            b = nodes[(i + 1) % len(nodes)]
            why, key = self.why(a, b, kind)
            texts.append(f"{names[i]} < {self.name(b)} ({kind}): {why}")
            step = {"from": self.op(a), "to": self.op(b), "type": kind, "explanation": why}
            if key is not None:
                step["key"] = key
            steps.append(step)
        descriptions = [describe_txn(nm, self.op(t), self.inv(t)) for nm, t in zip(names, nodes)]
        return {"cycle": [self.op(t) for t in nodes], "steps": steps,
                "explanation": cycle_text(c["type"], names, descriptions, texts)}

    def why(self, a, b, kind):
        """(text, key or None): why a precedes b by an edge of `kind`."""
        A, B = self.name(a), self.name(b)
        if kind == "process":
            op = self.op(a)
            return f"process {op.get('process') if op else '?'} completed {A} before it invoked {B}.", None
        if kind == "realtime":
            ib = self.inv(b)
            return (f"{A} completed (time {int(self.tcmp[a])}) before {B} was invoked "
                    f"(time {ib.get('time') if ib else int(self.tinv[b])}).", None)
        return self.why_data(a, b, kind) or (f"{kind} dependency.", None)

    def why_data(self, a, b, kind):
        raise NotImplementedError
