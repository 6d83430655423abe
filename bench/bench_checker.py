#!/usr/bin/env python3
"""Benchmark the list-append checker on generated histories; also the history simulator tests use.

    python3 bench/bench_checker.py [--txns 100000 1000000] [--keep DIR]

For each size: generate a history from a simulated atomic store (10 concurrent processes, 1-4
micro-ops per txn, exponential key choice over ~100 live keys, <= 64 appends per key, ~1 % fail,
~1 % info), write it as JSONL, then measure in fresh subprocesses (so peak RSS is per task):
  - parse: orjson.loads of every line, nothing else (the floor any checker pays);
  - check: `checkers.api.check_file(path, "list-append", "strict-serializable")`.
Prints, per size, one plain line (txns, seconds, txn/s, peak RSS, the check/parse ratio in CPU and
wall time: CPU time is steadier on a shared machine) and then the same as one JSON object. Times
are the fastest of --repeat runs, parse and check interleaved so both see the same load.
Imports (numpy, scipy: ~0.3 s) are timed apart, as `import_s`.

Measured on the 2-core project VM shared with other jobs, 2026-11-26 (two runs each, load 0.8 / 2.2):
    100,000 txns (35 MB):   check 0.57-0.61 s (+0.3 s imports), 165-176k txn/s, peak RSS 117 MB,
                            check/parse 2.55-2.74 (CPU), 2.55-2.68 (wall)
  1,000,000 txns (366 MB):  check 6.3-7.0 s (+0.3 s imports), 143-159k txn/s, peak RSS 628 MB,
                            check/parse 2.64-2.79 (CPU), 2.53-2.79 (wall)
The same runs with the checker before the struct-packed rows gave 2.80 (CPU) at both sizes. Load
moves these ratios by +-0.2; a steadier measure is instructions under valgrind (callgrind, 20k
txns, imports subtracted): parse 459 M, check 947 M (2.06x; before: 1041 M, 2.27x). The check
pays more cache misses than the parse, so its time ratio sits above its instruction ratio.

`simulate(...)` is importable: a seeded generator of histories where every transaction takes effect
at one instant between its invoke and its completion (so the history is strict-serializable), with
optional injected faults to prove detection.
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import subprocess
import sys
import tempfile
import time

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


_PARSE = """
import sys, time, resource, orjson
t, c = time.perf_counter(), time.process_time()
with open(sys.argv[1], 'rb') as f:
    for line in f:
        orjson.loads(line)
print(time.perf_counter() - t, time.process_time() - c)
"""

# imports are timed separately: the ratio compares the work itself
_CHECK = """
import sys, time, resource, json
t = time.perf_counter()
import checkers.list_append
from checkers.api import check_file
t1, c1 = time.perf_counter(), time.process_time()
r = check_file(sys.argv[1], 'list-append', 'strict-serializable')
print(time.perf_counter() - t1, time.process_time() - c1, t1 - t,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, json.dumps(r['valid']),
      json.dumps(r['anomaly_types']), r['stats']['txns'])
"""

_GENERATE = """
import sys, orjson
sys.path.insert(0, sys.argv[3])
from bench_checker import simulate
with open(sys.argv[2], 'wb') as f:
    simulate(int(sys.argv[1]), seed=int(sys.argv[4]), sink=lambda op: f.write(orjson.dumps(op) + b'\\n'))
"""


def _run(code, *args):
    """Run `code` in a fresh interpreter (its own peak RSS), return its printed words."""
    # OPENBLAS_NUM_THREADS=1: numpy's OpenBLAS starts a worker per core that spins for a while
    # after import, CPU time that is not the checker's (it does no BLAS work at all)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))] +
        [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=1200, check=True, env=env).stdout.split()


def plain(row):
    """One line for people: the sizes, and the check/parse ratio the issue bounds (<= 3x)."""
    return (f"{row['txns']:,} txns ({row['file_mb']} MB): check {row['check_s']:.2f} s wall "
            f"({row['txn_per_s']:,} txn/s, +{row['import_s']:.2f} s imports), peak RSS "
            f"{row['check_peak_rss_mb']} MB, valid={row['valid']}; check/parse ratio "
            f"{row['ratio_cpu']:.2f}x CPU ({row['check_cpu_s']:.2f} s / {row['parse_cpu_s']:.2f} s), "
            f"{row['ratio_wall']:.2f}x wall ({row['check_s']:.2f} s / {row['parse_s']:.2f} s); target <= 3x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txns", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--keep", help="directory to keep generated histories in (reused if present)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each measurement; the fastest counts (the machine is shared)")
    args = ap.parse_args(argv)
    tmp = args.keep or tempfile.mkdtemp(prefix="bench-checker-")
    os.makedirs(tmp, exist_ok=True)
    rows = []
    for n in args.txns:
        path = os.path.join(tmp, f"list-append-{n}-s{args.seed}.jsonl")
        if not os.path.exists(path):
            t = time.perf_counter()
            _run(_GENERATE, n, path + ".part", os.path.dirname(os.path.abspath(__file__)), args.seed)
            os.replace(path + ".part", path)
            print(f"generated {n} txns in {time.perf_counter() - t:.1f} s -> {path} "
                  f"({os.path.getsize(path) / 1e6:.0f} MB)", file=sys.stderr)
        parses, checks = [], []
        for _ in range(args.repeat):      # interleaved, so both see the same machine load
            parses.append(_run(_PARSE, path))
            checks.append(_run(_CHECK, path))
        parse_wall = min(float(o[0]) for o in parses)
        parse_cpu = min(float(o[1]) for o in parses)
        out = min(checks, key=lambda o: float(o[0]))
        check_wall = float(out[0])
        check_cpu = min(float(o[1]) for o in checks)
        import_s, check_mb = float(out[2]), float(out[3])
        valid, types, txns = json.loads(out[4]), json.loads(out[5]), int(out[6])
        row = {"txns": txns, "file_mb": round(os.path.getsize(path) / 1e6),
               "parse_s": round(parse_wall, 2), "check_s": round(check_wall, 2),
               "parse_cpu_s": round(parse_cpu, 2), "check_cpu_s": round(check_cpu, 2),
               "import_s": round(import_s, 2), "txn_per_s": int(txns / check_wall),
               "check_peak_rss_mb": round(check_mb),
               "ratio_wall": round(check_wall / parse_wall, 2),
               "ratio_cpu": round(check_cpu / parse_cpu, 2),
               "valid": valid, "anomalies": types}
        rows.append(row)
        print(plain(row), flush=True)
        print(json.dumps(row), flush=True)
    if not args.keep:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(r["valid"] is True for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
