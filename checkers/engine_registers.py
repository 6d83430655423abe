"""Each instance's execution row as a compare-and-set register: key ID_, value REV_.

The engine's state per process instance is guarded by `UPDATE ... WHERE ID_ = ? AND REV_ = ?`: that
is a compare-and-set of REV_ from r to r+1, and "the user resumes on B what was saved on A" is the
linearizability of that register (checkers.linearizable, Lowe's search). From an engine history:
  start ok                       write 1 (the row is inserted at revision 1)
  save / execute ok              cas r -> r+1 (r the revision the command read and updated from)
  save / execute failed on the   cas r -> r+1 whose compare did not match (the workload records the
    execution's revision         revision it read; other failures never touched the row)
  resume ok, and every node's    read r
    next-day resume
An open (info) save or execute may have moved the register by an unknown amount, so the keys it may
have touched are left out: the instance of an open save, and every instance whose jobs the owner of
an open execute had locked before it began. Keys whose creation is not acknowledged are left out too.
"""
from __future__ import annotations

from checkers.save_resume import _finding, _v

BUDGET = 200_000  # search configurations per key: an unfinished key is reported as unchecked


def register_ops(txns) -> tuple[list[dict], set]:
    """(Jepsen-style register ops in real-time order, the execution ids left out)."""
    created = {_v(t)["exec"]: t for t in txns if t["f"] == "start" and t["type"] == "ok" and _v(t).get("exec")}
    execs_of_key = {}
    for e, t in created.items():
        execs_of_key.setdefault(_v(t).get("key"), set()).add(e)
    blind = set()
    leased = {}  # owner -> [(time, exec)] of its acquisitions
    for t in txns:
        if t["type"] == "ok" and t["f"] == "acquire":
            for j in _v(t).get("jobs") or []:
                if isinstance(j, dict):
                    leased.setdefault(_v(t).get("owner"), []).append((t["t0"], j.get("exec")))
    for t in txns:
        if t["type"] != "info":
            continue
        if t["f"] == "save":
            blind |= execs_of_key.get(_v(t).get("key"), set())
        elif t["f"] == "execute":
            blind |= {e for when, e in leased.get(_v(t).get("owner"), []) if when < t["t0"]}
    events = []  # (time, 0 invoke | 1 completion, seq, op)

    def add(t, process, f, value, kind, t1=None):
        n = len(events)
        base = {"process": process, "f": f, "index": (t.get("invoke") or {}).get("index")}
        events.append((t["t0"], 0, n, {**base, "type": "invoke", "value": [value[0], None if f == "read" else value[1]]}))
        done_index = (t.get("done") or {}).get("index")
        events.append((t1 if t1 is not None else t["t1"], 1, n, {**base, "type": kind, "value": value,
                                                                 "index": done_index}))

    for t in txns:
        v = _v(t)
        if t["f"] == "start" and t["type"] == "ok" and v.get("exec") in created:
            add(t, t["process"], "write", [v["exec"], 1], "ok")
        elif t["f"] in ("save", "execute") and isinstance(v.get("rev"), int) and v.get("exec") in created:
            if t["type"] == "ok":
                add(t, t["process"], "cas", [v["exec"], [v["rev"], v["rev"] + 1]], "ok")
            elif t["type"] == "fail" and v.get("conflict") == "execution":
                add(t, t["process"], "cas", [v["exec"], [v["rev"], v["rev"] + 1]], "fail")
        elif t["f"] == "resume" and t["type"] == "ok" and isinstance(v.get("state"), dict):
            st = v["state"]
            if st.get("exec") in created and isinstance(st.get("rev"), int):
                add(t, t["process"], "read", [st["exec"], st["rev"]], "ok")
        elif t["f"] == "final" and t["type"] == "ok":
            for node, states in sorted((v.get("resumes") or {}).items()):
                for bkey, st in sorted((states or {}).items()) if isinstance(states, dict) else ():
                    if isinstance(st, dict) and st.get("exec") in created and isinstance(st.get("rev"), int):
                        add(t, f"final-{node}-{bkey}", "read", [st["exec"], st["rev"]], "ok")
    events.sort(key=lambda e: (e[0], e[1], e[2]))  # at one instant invokes first: the weaker order
    ops = [op for *_, op in events if op["value"][0] not in blind]
    return ops, blind


def check_rev_registers(txns) -> tuple[list, dict]:
    """(rev-nonlinearizable findings, facts: registers checked, left out, unchecked)."""
    from checkers import linearizable
    from checkers.history import HistoryError
    ops, blind = register_ops(txns)
    if not ops:
        return [], {"registers": 0, "left_out": len(blind)}
    try:
        r = linearizable.check_ops(ops, "cas-register", budget=BUDGET)
    except HistoryError as e:  # ops that do not pair up (a damaged history): no verdict from here
        return [], {"registers": 0, "left_out": len(blind), "unchecked": [f"all: {e.message}"]}
    out = []
    for x in (r.get("anomalies") or {}).get(linearizable.ANOMALY, []):
        cited = [o.get("index") for o in x.get("ops") or [] if isinstance(o, dict) and o.get("index") is not None]
        out.append({**_finding(
            "rev-nonlinearizable",
            f"Execution {x['key']}: its REV_, the compare-and-set register the engine's optimistic lock "
            f"(UPDATE ... WHERE ID_ = ? AND REV_ = ?) relies on, did not behave as one register. "
            + x["explanation"], []), "ops": sorted(set(cited)), "exec": x["key"]})
    facts = {"registers": r["stats"].get("keys", 0), "left_out": len(blind),
             "unchecked": r.get("unknown_keys", [])}
    return out, facts
