"""Benchmark the nemesis on a real cluster: for each fault, the time to apply it (start), the time
to heal it (stop), and the time until the cluster is whole again (wait_healthy after the heal).
Compositions (`partition+kill`) and parameters (`kill-all-rapid:0.5`) are fault names too; a Galera
whole-cluster restart's founder, positions and seconds are in the JSON's stop_value.

    python bench/bench_nemesis.py [--db galera] [--nodes 3] [--backend netns|docker] [--faults a,b,...] [--hold 3] [--json]

Needs root and the database packages (./setup.sh). Brings up its own cluster (name nmbench-*) and
always tears it down. Each fault is held `--hold` seconds between start and stop.
"""
import argparse
import json
import random
import secrets
import sys
import time

import nemesis
from harness.cluster import up

DEFAULT = {
    "galera": "partition-one,partition-majority,partition-bridge,lag,loss,kill-one,kill-majority,"
              "kill-all,kill-all-rapid,crash-in-partition,partition+kill,pause-one,clock-skew",
    "postgres-standby": "partition-primary,lag,loss,replication-delay,replication-stop,kill-one,pause-one,clock-skew",
    "mariadb-mm": "partition-one,lag,loss,replication-delay,replication-stop,kill-one,pause-one,clock-skew",
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", default="galera")
    p.add_argument("--nodes", type=int, default=None)
    p.add_argument("--backend", default="netns", choices=("netns", "docker"))
    p.add_argument("--faults", default=None, help="comma-separated fault names (default: a set per db)")
    p.add_argument("--hold", type=float, default=3.0, help="seconds each fault stays on")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p.parse_args(argv)


def bench_fault(cluster, name, hold, rng):
    fault = nemesis.make(name)
    why = fault.applicable(cluster)
    if why:
        return {"fault": name, "skipped": why}
    t0 = time.monotonic()
    value = fault.start(cluster, rng)
    applied = time.monotonic() - t0
    time.sleep(hold)
    t1 = time.monotonic()
    try:
        stopped = fault.stop(cluster)
    finally:
        healed = time.monotonic() - t1
    t2 = time.monotonic()
    cluster.wait_healthy(180)
    whole = time.monotonic() - t2
    left = nemesis.verify_clean(cluster)
    return {"fault": name, "apply_s": round(applied, 3), "heal_s": round(healed, 3),
            "whole_after_heal_s": round(whole, 3), "clean": not left, "leftovers": left, "value": value,
            "stop_value": stopped}


def main(argv=None) -> int:
    args = parse_args(argv)
    names = nemesis.parse_faults(args.faults or DEFAULT.get(args.db, "partition-one,lag,loss,kill-one,pause-one"))
    rng = random.Random(args.seed)
    t = time.monotonic()
    cluster = up(db=args.db, nodes=args.nodes, backend=args.backend, name=f"nmbench-{secrets.token_hex(2)}")
    setup_s = time.monotonic() - t
    results = []
    try:
        from nemesis import lag
        info = {"db": args.db, "backend": args.backend, "nodes": len(cluster.nodes), "lag_method": lag.method(cluster),
                "cluster_up_s": round(setup_s, 2), "hold_s": args.hold}
        for name in names:
            try:
                results.append(bench_fault(cluster, name, args.hold, rng))
            except Exception as e:  # report and go on; heal whatever it was
                results.append({"fault": name, "error": f"{type(e).__name__}: {e}"})
                nemesis.make(name).heal(cluster)
                cluster.wait_healthy(180)
            if not args.json:
                print_row(results[-1], first=len(results) == 1, info=info)
    finally:
        cluster.teardown()
    if args.json:
        print(json.dumps({"info": info, "faults": results}, indent=1))
    return 0 if all("error" not in r and r.get("clean", True) for r in results) else 1


def print_row(r, first, info):
    if first:
        print(f"# {info['db']} ({info['backend']}), {info['nodes']} nodes, lag method {info['lag_method']}, "
              f"cluster up in {info['cluster_up_s']} s, each fault held {info['hold_s']} s")
        print(f"{'fault':<20} {'apply s':>8} {'heal s':>8} {'whole s':>8}  clean")
    if "skipped" in r:
        print(f"{r['fault']:<20} skipped: {r['skipped']}")
    elif "error" in r:
        print(f"{r['fault']:<20} ERROR: {r['error']}")
    else:
        print(f"{r['fault']:<20} {r['apply_s']:>8.3f} {r['heal_s']:>8.3f} {r['whole_after_heal_s']:>8.3f}  "
              f"{'yes' if r['clean'] else 'NO: ' + '; '.join(r['leftovers'])}")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
