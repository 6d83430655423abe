"""Build small histories by hand for checker tests."""


def hist(*txns, times=True, processes=True):
    """A history from (process, t_invoke, t_complete, type, micro-ops) tuples.

    The micro-ops are what the completion reports; the invoke carries the same with reads nil.
    fail/info completions repeat the invoke's micro-ops (reads unknown). Ops are ordered by time
    (invoke before completion at equal times), then indexed 0, 1, 2, ...
    """
    events = []
    for n, (p, t0, t1, typ, value) in enumerate(txns):
        inv = [[f, k, None if f == "r" else v] for f, k, v in value]
        done = value if typ == "ok" else inv
        events.append((t0, 0, n, {"time": t0, "type": "invoke", "process": p, "f": "txn", "value": inv}))
        events.append((t1, 1, n, {"time": t1, "type": typ, "process": p, "f": "txn", "value": done}))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    ops = []
    for i, (_, _, _, op) in enumerate(events):
        op["index"] = i
        if not times:
            del op["time"]
        if not processes:
            del op["process"]
        ops.append(op)
    return ops


def seq(*txns, start=0, gap=10):
    """Transactions one after another on distinct processes: (type, micro-ops) pairs."""
    out = []
    t = start
    for i, (typ, value) in enumerate(txns):
        out.append((100 + i, t, t + 5, typ, value))
        t += gap
    return out


def to_edn(ops):
    """Jepsen-style EDN text for a history (strings that are names become keywords)."""
    def v(x, kw=False):
        if x is None:
            return "nil"
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, (int, float)):
            return str(x)
        if isinstance(x, str):
            return ":" + x if kw else '"' + x.replace('"', '\\"') + '"'
        if isinstance(x, list):
            if x and isinstance(x[0], str) and x[0] in ("append", "r", "w"):
                return "[" + " ".join([":" + x[0]] + [v(y) for y in x[1:]]) + "]"
            return "[" + " ".join(v(y) for y in x) + "]"
        raise TypeError(x)
    lines = []
    for op in ops:
        parts = []
        for k, x in op.items():
            kw = k in ("type", "f") or (k == "process" and x == "nemesis")
            parts.append(f":{k} {v(x, kw)}")
        lines.append("{" + ", ".join(parts) + "}")
    return "\n".join(lines) + "\n"
