"""Is the harness the bottleneck? The runner against a bare PyMySQL loop, same transactions, same
concurrency, one MariaDB node, no rate limit.

    python3 bench/bench_runner.py [--seconds 8] [--concurrency 10] [--rounds 2] [--cluster NAME]

Both sides draw list-append transactions from the same seeded generator and run the same SQL on
autocommit connections (START TRANSACTION ... COMMIT, REPEATABLE READ). The bare loop does nothing
else; the runner also routes, records every invoke and completion to history.jsonl (flushed per op)
and classifies errors. Rounds alternate (bare, runner, bare, runner, ...) so drifting machine load
hits both; the best round of each is compared. Prints both rates and runner/bare (target >= 90 %).
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.runner import execute  # noqa: E402
from harness.spec import TestSpec  # noqa: E402
from workloads.list_append import ListAppend  # noqa: E402

APPEND = ("INSERT INTO lists (k, v) VALUES (%s, %s) "
          "ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', VALUES(v))")
READ = "SELECT v FROM lists WHERE k = %s"


def fresh(cluster, seed):
    """Empty database + schema; a workload whose generator starts from `seed`."""
    cluster.reset_data()
    wl = ListAppend()
    wl.setup(cluster)
    return wl


def bare_loop(cluster, seconds, concurrency, seed) -> float:
    """Transactions per second of plain PyMySQL threads running the generator's txns."""
    wl = fresh(cluster, seed)
    ops = wl.generator(random.Random(f"{seed}-generator"))
    lock = threading.Lock()
    done = [0] * concurrency
    conns = []
    for _ in range(concurrency):
        c = cluster.connect(cluster.primary, timeout=10.0, autocommit=True)
        c.cursor().execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conns.append(c)
    start = time.monotonic()
    deadline = start + seconds

    def work(w):
        cur = conns[w].cursor()
        while time.monotonic() < deadline:
            with lock:
                op = next(ops)
            try:
                cur.execute("START TRANSACTION")
                for f, k, v in op["value"]:
                    if f == "append":
                        cur.execute(APPEND, (k, str(v)))
                    else:
                        cur.execute(READ, (k,))
                        cur.fetchone()
                cur.execute("COMMIT")
            except Exception:  # deadlock: roll back, count it as the runner counts a fail
                cur.execute("ROLLBACK")
            done[w] += 1

    threads = [threading.Thread(target=work, args=(w,)) for w in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    for c in conns:
        c.close()
    return sum(done) / elapsed


def runner_loop(cluster, seconds, concurrency, seed, tmp: Path) -> float:
    wl = fresh(cluster, seed)
    spec = TestSpec(db=cluster.db, workload="list-append", isolation="repeatable-read", rate=0,
                    concurrency=concurrency, time_limit=seconds, final_time_limit=0, seed=seed,
                    store=str(tmp))
    run_dir = Path(tempfile.mkdtemp(dir=tmp))
    facts = execute(spec, cluster, wl, run_dir, live=False)
    return facts["throughput"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cluster", help="use this running mariadb cluster instead of creating one")
    args = ap.parse_args(argv)

    from harness import cluster as cl
    owned = not args.cluster
    cluster = cl.up(db="mariadb") if owned else cl.load(args.cluster)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
            bare, runner = [], []
            for r in range(args.rounds):
                bare.append(bare_loop(cluster, args.seconds, args.concurrency, args.seed + r))
                runner.append(runner_loop(cluster, args.seconds, args.concurrency, args.seed + r, Path(tmp)))
                print(f"round {r + 1}: bare {bare[-1]:.0f} txn/s, runner {runner[-1]:.0f} txn/s", flush=True)
        b, h = max(bare), max(runner)
        ratio = h / b if b else 0.0
        print(f"bare PyMySQL loop: {b:.0f} txn/s")
        print(f"harness runner:    {h:.0f} txn/s")
        print(f"runner / bare:     {ratio:.1%}  (target >= 90%, concurrency {args.concurrency}, "
              f"{args.seconds:g} s rounds, best of {args.rounds})")
        return 0 if ratio >= 0.9 else 1
    finally:
        if owned:
            cluster.teardown()


if __name__ == "__main__":
    sys.exit(main())
