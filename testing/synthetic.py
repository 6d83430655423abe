"""Synthetic run directories for testing and benchmarking the report and `harness serve`.

Realistic in shape: concurrent workers with lognormal latencies, ops routed to three nodes,
partition and kill periods that slow ops down and turn some into fail/info, and a results.json
whose anomalies point at real ops of the history (a G-single cycle, a lost-update, and for the
engine workload lost-save and stale-resume findings).  Not a database run: the anomalies are
planted, which is exactly what a test of the report needs.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import orjson

NODES = ["n1", "n2", "n3"]


def _history(n_ops: int, workload: str, rng: random.Random, concurrency: int, duration: float):
    """Client and nemesis ops, time-ordered; n_ops counts history lines (invokes + completions)."""
    faults = [(duration * 0.2, duration * 0.35, "partition-one", {"isolated": ["n3"], "from": ["n1", "n2"]}),
              (duration * 0.6, duration * 0.7, "kill", ["n2"])]
    events = []
    for f0, f1, name, value in faults:
        events.append((f0, 0, {"process": "nemesis", "type": "info", "f": f"start-{name}", "value": value}))
        events.append((f1, 0, {"process": "nemesis", "type": "info", "f": f"stop-{name}", "value": value}))
    pairs_wanted = max(1, (n_ops - len(events)) // 2)
    per_worker = max(1, pairs_wanted // concurrency)
    mean_gap = duration / per_worker
    state: dict[int, list[int]] = {}
    next_val = 0
    process_of = list(range(concurrency))
    for w in range(concurrency):
        t = rng.uniform(0, mean_gap)
        for _ in range(per_worker):
            node = NODES[rng.randrange(3)]
            faulty = next((fl for fl in faults if fl[0] <= t <= fl[1]), None)
            lat = rng.lognormvariate(-5.3, 0.6) * (25 if faulty and rng.random() < 0.3 else 1)
            if workload == "save-resume":
                f = rng.choice(["save", "save", "resume", "resume", "acquire", "execute", "start"])
                inst = rng.randrange(50)
                value = {"instance": inst, "rev": rng.randrange(1, 20)}
                done_value = dict(value, step=rng.randrange(30))
            else:
                f = "txn"
                value, done_value = [], []
                for _m in range(rng.randint(1, 4)):
                    k = rng.randrange(40)
                    if rng.random() < 0.5:
                        next_val += 1
                        value.append(["append", k, next_val])
                        done_value.append(["append", k, next_val])
                        state.setdefault(k, []).append(next_val)
                    else:
                        value.append(["r", k, None])
                        done_value.append(["r", k, list(state.get(k, [])[-12:])])
                        if len(state.get(k, [])) > 24:
                            state[k] = state[k][-12:]
            roll = rng.random()
            kind = "ok"
            if faulty and roll < 0.15:
                kind = "info"
            elif roll < (0.1 if faulty else 0.03):
                kind = "fail"
            proc = process_of[w]
            events.append((t, 1, {"process": proc, "type": "invoke", "f": f, "value": value, "node": node}))
            done = {"process": proc, "type": kind, "f": f, "value": done_value if kind == "ok" else value, "node": node}
            if kind == "info":
                done["error"] = "timeout: lost connection to MySQL server during query"
                process_of[w] += concurrency  # an info op's process never returns
            elif kind == "fail":
                done["error"] = "1213 Deadlock found when trying to get lock"
            events.append((t + lat, 2, done))
            t += lat + rng.expovariate(1 / mean_gap)
    events.sort(key=lambda e: (e[0], e[1]))
    ops = []
    for i, (t, _, op) in enumerate(events):
        ops.append({"index": i, "time": int(t * 1e9), **op})
    return ops


def _oks(ops, f=None):
    return [op for op in ops if op["type"] == "ok" and op["process"] != "nemesis" and (f is None or op["f"] == f)]


def _anomalies(ops, workload: str, rng: random.Random) -> dict:
    oks = _oks(ops) if workload != "save-resume" else _oks(ops, "save")
    mid = [op for op in oks if op.get("node") == "n3"][len(oks) // 6: len(oks) // 6 + 40] or oks[:40]
    a, b = mid[0], mid[min(5, len(mid) - 1)]
    if workload == "save-resume":
        resumes = _oks(ops, "resume")
        later = [op for op in resumes if op["time"] > a["time"] and op.get("node") != a.get("node")]
        r = later[0] if later else b
        inst = a["value"]["instance"]
        return {
            "lost-save": [{
                "ops": [a["index"], b["index"]],
                "explanation": (f"Instance {inst}: the save #{a['index']} (step {a['value']['step']}, through "
                                f"{a['node']}) was acknowledged at {a['time'] / 1e9:.3f} s, but the final state "
                                f"read through {b['node']} lacks that step: the history sequence has a gap."),
                "isolation": "lost update (P4 / G2-item on the execution row): a committed write was "
                             "overwritten or dropped because two writers did not see each other"}],
            "stale-resume": [{
                "ops": [a["index"], r["index"]],
                "explanation": (f"The resume #{r['index']} through {r['node']} began after save #{a['index']} was "
                                f"acknowledged, yet returned step {r['value'].get('step')}, older than "
                                f"{a['value']['step']}.")}],
            "G-single": [_g_single(a, b)],
        }
    return {"G-single": [_g_single(a, b)],
            "lost-update": [{"ops": [a, b], "explanation": (
                f"Ops #{a['index']} and #{b['index']} both read the same version of a key and both wrote it; "
                "one of the two updates is lost.")}]}


def _g_single(a, b) -> dict:
    """A read-skew cycle in the shape checkers/list_append.py gives: cycle ops, steps from/to/type."""
    ta, tb = f"T{a['index']}", f"T{b['index']}"
    return {"cycle": [a, b],
            "steps": [{"from": a, "to": b, "type": "wr", "key": 5,
                       "explanation": f"{tb} read key 5 = [.., 2], which includes {ta}'s append of 2."},
                      {"from": b, "to": a, "type": "rw", "key": 7,
                       "explanation": f"{ta} read key 7 = [1], which lacks {tb}'s append of 3."}],
            "explanation": (f"G-single: a dependency cycle of 2 transactions.\nLet:\n  {ta} (node {a.get('node')})"
                            f"\n  {tb} (node {b.get('node')})\nThen:\n  - {ta} < {tb} (wr)\n  - {tb} < {ta} (rw)\n"
                            f"So {ta} < {tb} < {ta}: a contradiction.")}


def make_run_dir(run_dir, n_ops: int = 4000, workload: str = "list-append", valid: bool = False,
                 seed: int = 7, concurrency: int = 10, duration: float = 30.0, db: str = "galera",
                 nemesis=("partition-one", "kill")) -> Path:
    """Write history.jsonl, results.json and test.json for a synthetic run; the run dir."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    ops = _history(n_ops, workload, rng, concurrency, duration)
    with open(run_dir / "history.jsonl", "wb") as f:
        for op in ops:
            f.write(orjson.dumps(op) + b"\n")
    anomalies = {} if valid else _anomalies(ops, workload, rng)
    completions = [op for op in ops if op["process"] != "nemesis" and op["type"] != "invoke"]
    spec = {"db": db, "workload": workload, "nodes": 3, "backend": "netns", "isolation": "read-committed",
            "routing": "round-robin", "nemesis": list(nemesis), "time_limit": int(duration),
            "concurrency": concurrency, "seed": seed}
    results = {
        "valid": True if valid else False,
        "anomaly_types": sorted(anomalies),
        "anomalies": anomalies,
        "not": [] if valid else (["read-committed"] if workload == "save-resume" else ["snapshot-isolation"]),
        "also_not": [] if valid else ["serializable", "strict-serializable"],
        "stats": {"txns": len(completions), "ok": sum(op["type"] == "ok" for op in completions),
                  "fail": sum(op["type"] == "fail" for op in completions),
                  "info": sum(op["type"] == "info" for op in completions), "seconds": round(duration, 1)},
        **spec,
        "topology": [{"name": n, "ip": f"10.77.0.1{k + 1}", "role": "member"} for k, n in enumerate(NODES)],
        "model": "read-committed" if workload == "save-resume" else "strict-serializable",
        "versions": {"mariadb": "10.11.19-MariaDB", "galera": "26.4.23", "harness": "0.1.0"},
        "command": (f"harness run --db {db} --workload {workload} --nodes 3 --routing round-robin "
                    f"--nemesis {','.join(nemesis)} --time-limit {int(duration)} --seed {seed}"),
        "started": "2026-11-26T09:00:00Z",
        "errors": [],
    }
    if workload == "save-resume" and not valid:
        results["context"] = {"anomaly_types": ["G2-item"], "note": "anomalies read-committed allows, found in "
                              "the instances' step lists",
                              "anomalies": {"G2-item": [dict(_g_single(ops[1], ops[3]), explanation="write skew ...")]}}
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))
    (run_dir / "test.json").write_text(json.dumps(spec, indent=1))
    return run_dir
