"""Time to ready per topology and teardown time, on real servers (netns backend).

    python bench/bench_cluster.py [--runs 3] [--db galera,postgres-standby,...]

Targets (issue 3): 3-node Galera <= 8 s to ready, postgres-standby <= 3 s, teardown <= 1 s.
"Ready" is what `up()` returns on: every node accepts connections as the harness user, Galera
size N and Synced everywhere, replicas streaming. The first run of a server version also builds
the cached initialised data dir (reported separately as "cold").
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import harness.cluster as hc  # noqa: E402
from harness.cluster.dbs import template  # noqa: E402

TOPOLOGIES = [("mariadb", None), ("galera", 3), ("mariadb-mm", 2), ("postgres", None), ("postgres-standby", 2)]
TARGETS = {"galera": 8.0, "postgres-standby": 3.0}


def one(db, nodes, i):
    name = f"bench-{os.getpid() % 10000}-{i}"
    t0 = time.monotonic()
    c = hc.up(db, nodes=nodes, name=name)
    ready = time.monotonic() - t0
    t0 = time.monotonic()
    c.teardown()
    down = time.monotonic() - t0
    assert not c.leftovers(), c.leftovers()
    return ready, down


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", default=",".join(db for db, _ in TOPOLOGIES))
    args = ap.parse_args()
    wanted = args.db.split(",")
    cold = not template.templates_dir().is_dir()
    print(f"{'topology':<22}{'nodes':>6}{'ready median':>14}{'ready max':>11}{'teardown max':>14}  target")
    worst_down = 0.0
    for db, nodes in TOPOLOGIES:
        if db not in wanted:
            continue
        results = [one(db, nodes, i) for i in range(args.runs)]
        readies = [r for r, _ in results]
        downs = [d for _, d in results]
        worst_down = max(worst_down, *downs)
        target = TARGETS.get(db)
        verdict = "" if target is None else \
            f"<= {target:.0f} s {'ok' if statistics.median(readies) <= target else 'MISSED'}"
        n = nodes or 1
        print(f"{db:<22}{n:>6}{statistics.median(readies):>13.2f}s{max(readies):>10.2f}s{max(downs):>13.2f}s  {verdict}",
              flush=True)
    print(f"teardown worst {worst_down:.2f} s (target <= 1 s {'ok' if worst_down <= 1 else 'MISSED'})"
          + ("; first run built the data-dir templates (cold)" if cold else ""))


if __name__ == "__main__":
    main()
