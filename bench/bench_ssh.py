"""Galera over the ssh backend against the netns backend on this machine (issue 15): bring-up time,
one command on a node, per-op latency of a list-append run, and the SSH connections a run opens.

    python bench/bench_ssh.py [--runs 3] [--time-limit 10]

The ssh hosts are tests/ssh_hosts.py's: network namespaces each running its own sshd, with a
private base dir, so every file step and command goes through ssh as on real machines while the
database traffic goes over the same kind of veth link as netns's. Needs root, sshd and Galera
(`./setup.sh`). "Ready" is what up() returns on (size 3, Synced everywhere). The runs are 10 s of
list-append at 100 ops/s, 4 clients, round-robin, with partition and kill faults (so p95 holds the
ops that waited out a fault).

Measured on the 2-CPU project VM, 2026-12-06, --runs 3:
    backend  ready median  ready max  one command   op p50   op p95    ops  ssh connections
    netns           1.55s      1.90s        2.9ms   1.97ms  65.68ms   1522                -
    ssh             4.02s      4.31s       13.1ms   1.87ms  62.66ms   1582            3/3/3
(stop 25, under load 5-7: ready 1.8-2.2 s vs 7.1-7.7 s, op p50 1.72 vs 2.49 ms.) Bring-up costs the
initdb on each host and the data dir copied host to host through the control node; ops cost the same
(database traffic is direct in both); a run opens one SSH connection per host (ControlMaster).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import harness.cluster as hc  # noqa: E402
from checkers.history import read_history  # noqa: E402
from checkers.pairing import pair  # noqa: E402
from harness.backends import ssh_transport  # noqa: E402
from harness.runner import run_test  # noqa: E402
from harness.spec import TestSpec  # noqa: E402
from tests.ssh_hosts import SSHHosts  # noqa: E402


def ms(ns_list, q):
    """The q-quantile of nanosecond durations, in ms."""
    s = sorted(ns_list)
    return s[min(len(s) - 1, int(q * len(s)))] / 1e6


def op_latencies(run_dir) -> list[int]:
    """ns from invoke to ok of every committed client op."""
    return [p.done["time"] - p.invoke["time"] for p in pair(read_history(Path(run_dir) / "history.jsonl"))
            if p.invoke is not None and p.type == "ok"]


def bring_up(backend, i):
    t0 = time.monotonic()
    c = hc.up(db="galera", backend=backend, name=f"bssh{os.getpid() % 1000}{i}")
    ready = time.monotonic() - t0
    try:
        runs = []
        for _ in range(20):
            t1 = time.monotonic_ns()
            c.nodes[0].run(["true"], timeout=10)
            runs.append(time.monotonic_ns() - t1)
    finally:
        c.teardown()
    return ready, statistics.median(runs) / 1e6


def one_run(backend, time_limit, store):
    ssh_transport.TRANSPORT.connections = 0
    spec = TestSpec(db="galera", workload="list-append", backend=backend, isolation="serializable",
                    routing="round-robin", time_limit=time_limit, final_time_limit=5, concurrency=4,
                    rate=100, nemesis=["partition", "kill"], nemesis_interval=3.0, store=store, seed=7)
    r = run_test(spec, live=False)
    return op_latencies(r["run_dir"]), ssh_transport.TRANSPORT.connections


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--time-limit", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ehs-bench") as state, SSHHosts(3) as hosts:
        os.environ["HARNESS_STATE_DIR"] = state  # short paths for the ssh control sockets
        os.environ.update(hosts.env())
        print(f"{'backend':<8}{'ready median':>13}{'ready max':>11}{'one command':>13}"
              f"{'op p50':>9}{'op p95':>9}{'ops':>7}{'ssh connections':>17}")
        for backend in ("netns", "ssh"):
            ups = [bring_up(backend, i) for i in range(args.runs)]
            lat, conns = [], []
            for _ in range(args.runs):
                got, n = one_run(backend, args.time_limit, os.path.join(state, "store"))
                lat += got
                conns.append(n)
            readies = [r for r, _ in ups]
            conn_text = "-" if backend == "netns" else "/".join(map(str, conns))
            print(f"{backend:<8}{statistics.median(readies):>12.2f}s{max(readies):>10.2f}s"
                  f"{statistics.median(c for _, c in ups):>11.1f}ms{ms(lat, 0.5):>7.2f}ms{ms(lat, 0.95):>7.2f}ms"
                  f"{len(lat):>7}{conn_text:>17}", flush=True)


if __name__ == "__main__":
    main()
