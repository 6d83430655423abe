#!/usr/bin/env python3
"""Benchmark the save-resume (engine) checker on simulated histories; the simulator is also what
its property tests use.

    python3 bench/bench_save_resume.py [--ops 10000 100000] [--seed 1]

`simulate(n_ops, seed, ...)` plays the save-resume workload against a single-copy, atomic engine
database in memory: 10 sessions, each op takes effect at one instant between its invoke and its
completion, ~1 % of ops end `info` (their effect applied or not, at random), a final read of two
identical nodes at the end. Such a history is correct, so the checker must find nothing.
`faults` injects what a broken cluster does, to prove detection:
    "stale"      a resume reads the state as it was `stale_ms` earlier (a lagging replica)
    "double-win" a save ignores the optimistic lock once in a while (both writers commit)
    "lose"       one node's final state lacks one acknowledged save's history row
For each size the bench prints ops, seconds of the engine invariants, of the list-append encoding,
and of the whole check (list-append checker included), and the verdict (must be valid).
"""
from __future__ import annotations

import argparse
import copy
import heapq
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

MS = 1_000_000  # ns


def simulate(n_ops: int, seed: int = 1, instances: int = 8, sessions: int = 10, job_every: int = 3,
             info_rate: float = 0.01, lease_ms: int = 2000, faults=(), stale_ms: int = 50,
             gen_ops: int = 250) -> list[dict]:
    rng = random.Random(seed)
    db = {"exec": {}, "jobs": {}, "effects": []}   # key -> instance state; job id -> job
    versions = {}                                   # key -> [(time, state)] for "stale" reads
    hist, heap = [], []
    proc = list(range(sessions))
    next_proc = sessions
    sid = 0

    def record(op):
        op["index"] = len(hist)
        hist.append(op)

    def state_of(key, execs, jobs):
        e = execs.get(key)
        if e is None:
            return None
        return {"exec": e["id"], "rev": e["rev"], "seq": e["seq"], "act": f"step-{e['seq']}-{e['last']}",
                "var": f"{e['seq']}:{e['last']}", "tasks": sorted(e["tasks"]),
                "jobs": sorted(j for j, job in jobs.items() if job["exec"] == e["id"]),
                "hist": [list(h) for h in e["hist"]], "n_exec": 1}

    def advance(e, x, t, node):
        e["rev"] += 1
        e["seq"] += 1
        e["last"] = x
        e["hist"].append((e["seq"], x))

    def effect(f, v, t):
        """Apply op f at instant t; returns (type, value additions)."""
        nonlocal sid
        now = t // MS
        key = v.get("key")
        if f == "start":
            if key in db["exec"]:
                return "fail", {}
            eid = f"pi-{key}-{v['sid']}"
            db["exec"][key] = {"id": eid, "rev": 1, "seq": 0, "last": v["sid"], "tasks": {f"t-{v['sid']}"},
                               "hist": [(0, v["sid"])]}
            return "ok", {"exec": eid, "seq": 0}
        if f == "save":
            e = db["exec"].get(key)
            if e is None or not e["tasks"]:
                return "fail", {}
            rev, lst = e["rev"], [x for _, x in e["hist"]]
            advance(e, v["sid"], t, "n1")
            e["tasks"] = set()
            if e["seq"] % job_every == 0:
                db["jobs"][f"j-{v['sid']}"] = {"exec": e["id"], "key": key, "rev": 1, "owner": None, "exp": None}
            else:
                e["tasks"] = {f"t-{v['sid']}"}
            return "ok", {"exec": e["id"], "rev": rev, "seq": e["seq"], "list": lst, "next": "task"}
        if f == "resume":
            if "stale" in faults and rng.random() < 0.5:
                old = [st for ts, st in versions.get(key, []) if ts <= t - stale_ms * MS]
                if old:
                    return "ok", {"state": old[-1]}
            return "ok", {"state": state_of(key, db["exec"], db["jobs"])}
        if f == "acquire":
            got = []
            for j, job in sorted(db["jobs"].items()):
                if job["owner"] is None or job["exp"] < now:
                    got.append({"job": j, "rev": job["rev"], "key": job["key"]})
                    job.update(rev=job["rev"] + 1, owner=v["owner"], exp=now + lease_ms)
                if len(got) == 3:
                    break
            return "ok", {"now": now, "exp": now + lease_ms, "lease": lease_ms / 1000, "jobs": got}
        if f == "execute":
            mine = [j for j, job in sorted(db["jobs"].items()) if job["owner"] == v["owner"] and job["exp"] > now]
            if not mine:
                return "fail", {}
            j = mine[0]
            job = db["jobs"].pop(j)
            e = db["exec"][job["key"]]
            rev, lst = e["rev"], [x for _, x in e["hist"]]
            advance(e, v["sid"], t, "n1")
            e["tasks"] = {f"t-{v['sid']}"}
            db["effects"].append([j, v["sid"], "n1"])
            return "ok", {"now": now, "job": j, "job_rev": job["rev"], "key": job["key"], "exec": e["id"],
                          "rev": rev, "seq": e["seq"], "list": lst}
        raise ValueError(f)

    started = set()

    def pick_op(p, rng):
        """Instances in generations (fresh business keys every gen_ops ops per session), each started
        before first use, as the workload does."""
        nonlocal sid
        key = (issued // (gen_ops * sessions)) * instances + rng.randrange(instances)
        if key not in started:
            started.add(key)
            sid += 1
            return "start", {"key": key, "sid": sid, "unique": True}
        r = rng.random()
        if r < 0.4:
            sid += 1
            return "save", {"key": key, "sid": sid}
        if r < 0.65:
            return "resume", {"key": key}
        if r < 0.8:
            return "acquire", {"owner": f"engine-{rng.randrange(2)}"}
        sid += 1
        return "execute", {"owner": f"engine-{rng.randrange(2)}", "sid": sid}

    for w in range(sessions):
        heapq.heappush(heap, (rng.randrange(5 * MS), 0, w, None))
    issued = 0
    double_wins = 0
    last_time = 0
    while heap:
        t, kind, w, data = heapq.heappop(heap)
        last_time = max(last_time, t)
        if kind == 0:  # invoke
            if issued >= n_ops:
                continue
            issued += 1
            f, v = pick_op(w, rng)
            record({"time": t, "type": "invoke", "process": proc[w], "f": f, "value": dict(v), "node": "n1"})
            heapq.heappush(heap, (t + rng.randrange(1, 8 * MS), 1, w, (f, v)))
        elif kind == 1:  # effect
            f, v = data
            info = rng.random() < info_rate
            if info and rng.random() < 0.5:
                record({"time": t + 1, "type": "info", "process": proc[w], "f": f, "value": dict(v), "node": "n1",
                        "error": "simulated timeout (not applied)"})
                proc[w] = next_proc
                next_proc += 1
                heapq.heappush(heap, (t + rng.randrange(1, 5 * MS), 0, w, None))
                continue
            if "double-win" in faults and f == "save" and double_wins < 3 and rng.random() < 0.05 \
                    and v["key"] in db["exec"] and db["exec"][v["key"]]["tasks"]:
                # a second save from the same revision commits too (another node's copy)
                e = db["exec"][v["key"]]
                ghost = {"key": v["key"], "sid": v["sid"] + 10 ** 6}
                record({"time": t - 2, "type": "invoke", "process": 10 ** 5 + double_wins, "f": "save",
                        "value": dict(ghost), "node": "n2"})
                record({"time": t - 1, "type": "ok", "process": 10 ** 5 + double_wins, "f": "save", "node": "n2",
                        "value": {**ghost, "exec": e["id"], "rev": e["rev"], "seq": e["seq"] + 1,
                                  "list": [x for _, x in e["hist"]], "next": "task"}})
                e["hist"].append((e["seq"] + 1, ghost["sid"]))
                double_wins += 1
            typ, extra = effect(f, v, t)
            changed = v.get("key") if f != "execute" else extra.get("key")
            if "stale" in faults and typ == "ok" and f in ("start", "save", "execute"):
                versions.setdefault(changed, []).append((t, state_of(changed, db["exec"], db["jobs"])))
                del versions[changed][:-50]
            if info:
                record({"time": t + 1, "type": "info", "process": proc[w], "f": f, "value": dict(v), "node": "n1",
                        "error": "simulated timeout (applied)"})
                proc[w] = next_proc
                next_proc += 1
            else:
                done = t + rng.randrange(1, 4 * MS)
                heapq.heappush(heap, (done, 2, w, (f, v, typ, extra)))
                continue
            heapq.heappush(heap, (t + rng.randrange(1, 5 * MS), 0, w, None))
        else:  # completion
            f, v, typ, extra = data
            record({"time": t, "type": typ, "process": proc[w], "f": f, "node": "n1",
                    "value": {**v, **extra} if typ == "ok" else dict(v)})
            heapq.heappush(heap, (t + rng.randrange(1, 5 * MS), 0, w, None))
    # the final read: every node's dump, identical (one copy), unless "lose" drops a row on n2
    tables = final_tables(db)
    n2 = copy.deepcopy(tables)
    if "lose" in faults:
        acked = [o["value"]["sid"] for o in hist if o["type"] == "ok" and o["f"] == "save"]
        if acked:
            victim = acked[len(acked) // 2]
            n2["hi_actinst"] = [r for r in n2["hi_actinst"] if r[0] != victim]
    t = last_time + 10 * MS
    record({"time": t, "type": "invoke", "process": 0, "f": "final", "value": {}, "node": "n1"})
    record({"time": t + MS, "type": "ok", "process": 0, "f": "final", "node": "n1",
            "value": {"nodes": {"n1": {"tables": tables}, "n2": {"tables": n2}}, "settled": True, "waited": 0.0}})
    hist.sort(key=lambda o: o["time"])
    for i, o in enumerate(hist):
        o["index"] = i
    return hist


def final_tables(db) -> dict:
    t = {"ru_execution": [], "ru_variable": [], "ru_task": [], "ru_job": [], "hi_actinst": [], "job_effect": []}
    for key, e in sorted(db["exec"].items()):
        t["ru_execution"].append([e["id"], e["rev"], f"bk-{key}", f"step-{e['seq']}-{e['last']}", e["seq"]])
        t["ru_variable"].append([f"v-{e['id']}", e["rev"], e["id"], "step", f"{e['seq']}:{e['last']}"])
        t["ru_task"] += [[task, 1, e["id"], f"task-{e['seq']}"] for task in sorted(e["tasks"])]
        t["hi_actinst"] += [[x, e["id"], s, f"step-{s}-{x}", "n1"] for s, x in e["hist"]]
    for j, job in sorted(db["jobs"].items()):
        t["ru_job"].append([j, job["rev"], job["exec"], job["owner"], job["exp"], 3, 0])
    t["job_effect"] = [list(r) for r in db["effects"]]
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from checkers import save_resume as sr
    print(f"{'ops':>8} {'history_ops':>11} {'engine_s':>9} {'encode_s':>9} {'check_s':>8} valid")
    for n in args.ops:
        h = simulate(n, args.seed)
        t0 = time.perf_counter()
        sr.engine_findings(h)
        t1 = time.perf_counter()
        sr.list_append_history(h)
        t2 = time.perf_counter()
        r = sr.check(h)
        t3 = time.perf_counter()
        print(f"{n:>8} {len(h):>11} {t1 - t0:>9.2f} {t2 - t1:>9.2f} {t3 - t2:>8.2f} {r['valid']}")
        if r["valid"] is not True:
            print("  unexpected:", r["anomaly_types"], r.get("unknown_reason"))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
