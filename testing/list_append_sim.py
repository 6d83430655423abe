"""A simulated list-append run: a seeded atomic store, so the history is strict-serializable.

`simulate(n_txns, seed, ...)` returns (ops, fault_done): every transaction takes effect at one
instant between its invoke and its completion; `fault` (one of FAULTS) plants one anomaly to
prove detection. Used by the checker tests and bench/bench_checker.py (which also times it).
"""
from __future__ import annotations

import heapq
import random

FAULTS = ("drop", "failed-read", "swap", "stale")


def simulate(n_txns, seed=0, concurrency=10, max_mops=4, live_keys=100, max_appends=64,
             p_fail=0.01, p_info=0.01, key_rate=0.05, final_reads=True, fault=None, p_stale=0.0,
             sink=None):
    """A list of op dicts: a list-append history of an atomic store.

    fault: None, or one of FAULTS, injected once (after about half the txns):
      drop        - an element that some committed read showed vanishes from the store
      failed-read - a txn reported as failed actually applies its appends
      swap        - one read returns two adjacent elements swapped
      stale       - one read returns the state before an append whose txn had already completed
                    when the reader was invoked
    p_stale: probability that any committed read returns a random older prefix (a broken store:
      many anomalies, large strongly connected components; for stress tests).
    With final_reads, a last txn per live key reads every key ever written, after all else.
    sink: if given, each op is passed to sink(op) as it is produced instead of being kept (the
      returned list is then empty): constant memory for large histories.
    """
    rng = random.Random(seed)
    store = {}                     # key -> list
    counters = {}                  # key -> last value appended
    live = list(range(live_keys))
    next_key = live_keys
    ops = []
    heap = []
    seq = 0
    next_process = concurrency
    started = 0
    fault_at = n_txns // 2 if fault else -1
    fault_done = fault is None
    observed = None                # (key, value) the latest committed read showed (for "drop")
    completed_appends = {}         # key -> list of (complete time, index in store list) for "stale"
    n_ops = 0
    last_time = 0

    def emit(op):
        nonlocal n_ops
        n_ops += 1
        if sink is None:
            ops.append(op)
        else:
            sink(op)

    def gen_txn():
        nonlocal next_key
        mops = []
        for _ in range(rng.randint(1, max_mops)):
            slot = min(int(rng.expovariate(key_rate)), live_keys - 1)
            k = live[slot]
            if rng.random() < 0.5:
                mops.append(["r", k, None])
            else:
                c = counters.get(k, 0) + 1
                counters[k] = c
                mops.append(["append", k, c])
                if c >= max_appends:
                    live[slot] = next_key
                    next_key += 1
        return mops

    def push(t, kind, data):
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, seq, kind, data))

    for p in range(concurrency):
        push(rng.randint(0, 1000), "invoke", p)
    while heap:
        t, _, kind, data = heapq.heappop(heap)
        if kind == "invoke":
            p = data
            if started >= n_txns:
                continue
            started += 1
            mops = gen_txn()
            r = rng.random()
            outcome = "fail" if r < p_fail else "info" if r < p_fail + p_info else "ok"
            inject = None
            if not fault_done and started >= fault_at:
                inject = fault
                if fault == "failed-read" and any(m[0] == "append" for m in mops):
                    outcome = "fail"       # reported as failed, but its appends will apply
            emit({"index": n_ops, "time": t, "type": "invoke", "process": p, "f": "txn",
                  "value": [list(m) for m in mops]})
            lat = int(rng.expovariate(1 / 2_000_000)) + 1000
            eff = t + rng.randint(1, lat - 1)
            txn = {"p": p, "mops": mops, "outcome": outcome, "inject": inject, "invoke": t}
            push(eff, "effect", txn)
            push(t + lat, "complete", txn)
        elif kind == "effect":
            txn = data
            applies = txn["outcome"] == "ok" or (txn["outcome"] == "info" and rng.random() < 0.5)
            inj = txn["inject"]
            if (inj == "failed-read" and txn["outcome"] == "fail" and not fault_done
                    and any(m[0] == "append" for m in txn["mops"])):
                applies = True
                fault_done = True
            if not applies:
                txn["result"] = None
                continue
            result = []
            for f, k, v in txn["mops"]:
                if f == "append":
                    store.setdefault(k, []).append(v)
                    result.append([f, k, v])
                    if txn["outcome"] == "ok":
                        if fault == "stale":
                            completed_appends.setdefault(k, []).append((None, len(store[k]) - 1, txn))
                else:
                    cur = list(store.get(k, ()))
                    if inj == "swap" and len(cur) >= 2 and txn["outcome"] == "ok" and not fault_done:
                        i = rng.randrange(len(cur) - 1)
                        cur[i], cur[i + 1] = cur[i + 1], cur[i]
                        fault_done = True
                    elif inj == "stale" and txn["outcome"] == "ok" and not fault_done:
                        done = [idx for (ct, idx, w) in completed_appends.get(k, ())
                                if w.get("done_at") is not None and w["done_at"] < txn["invoke"]]
                        if done:
                            cur = cur[:max(done)]
                            fault_done = True
                    if p_stale and cur and rng.random() < p_stale:
                        cur = cur[:rng.randrange(len(cur))]
                    result.append([f, k, cur])
                    if txn["outcome"] == "ok" and cur:
                        observed = (k, cur[-1])
            if inj == "drop" and not fault_done and observed:
                k, v = observed
                if v in store.get(k, ()):
                    store[k].remove(v)
                    fault_done = True
            txn["result"] = result
        else:  # complete
            txn = data
            p = txn["p"]
            out = txn["outcome"]
            if out == "ok":
                value = txn["result"]
                txn["done_at"] = t
            else:
                value = [list(m) for m in txn["mops"]]
            emit({"index": n_ops, "time": t, "type": out, "process": p, "f": "txn", "value": value})
            last_time = t
            if out == "info":
                p = next_process
                next_process += 1
            push(t + rng.randint(1, 50_000), "invoke", p)
    if final_reads:
        t = last_time + 1_000_000
        keys = sorted(store)
        for i in range(0, len(keys), 8):
            chunk = keys[i:i + 8]
            p = next_process
            next_process += 1
            emit({"index": n_ops, "time": t, "type": "invoke", "process": p, "f": "txn",
                  "value": [["r", k, None] for k in chunk]})
            emit({"index": n_ops, "time": t + 1000, "type": "ok", "process": p, "f": "txn",
                  "value": [["r", k, list(store[k])] for k in chunk]})
            t += 2000
    return ops, fault_done


def write_jsonl(path, ops):
    import orjson
    with open(path, "wb") as f:
        for op in ops:
            f.write(orjson.dumps(op) + b"\n")
