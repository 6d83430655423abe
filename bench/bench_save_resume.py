#!/usr/bin/env python3
"""Benchmark the save-resume (engine) checker on simulated histories.

    python3 bench/bench_save_resume.py [--ops 10000 100000] [--seed 1]

The histories come from testing/engine_sim.py's `simulate(n_ops, seed, ...)`: the save-resume
workload played against a single-copy, atomic in-memory engine database in the workload's exact
encoding (Camunda's tables, id blocks, deploys, exclusive jobs, the final dumps and next-day resumes). Such a history is correct, so the checker must find nothing;
engine_sim.FAULTS lists the faults it can plant to prove detection.
For each size the bench prints ops, seconds of the engine invariants, of the list-append encoding,
and of the whole check (list-append checker included), and the verdict (must be valid).

Measured (2026-12-03, seed 1, one core of an AMD EPYC, Python 3.11.7):

         ops history_ops  sim_s  engine_s  encode_s  check_s valid
       10000       20002    0.7      0.56      0.45     1.67 True
      100000      200002   10.6      7.90      4.24    13.16 True

(engine_s: engine_findings alone; encode_s: list_append_history alone; check_s: sr.check, which does
both again plus the list-append checker.) Roughly linear: 10x the ops, about 8x the check time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from testing.engine_sim import FAULTS, simulate  # noqa: E402,F401


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from checkers import save_resume as sr
    print(f"{'ops':>8} {'history_ops':>11} {'sim_s':>6} {'engine_s':>9} {'encode_s':>9} {'check_s':>8} valid")
    for n in args.ops:
        t = time.perf_counter()
        h = simulate(n, args.seed)
        sim_s = time.perf_counter() - t
        t0 = time.perf_counter()
        sr.engine_findings(h)
        t1 = time.perf_counter()
        sr.list_append_history(h)
        t2 = time.perf_counter()
        r = sr.check(h)
        t3 = time.perf_counter()
        print(f"{n:>8} {len(h):>11} {sim_s:>6.1f} {t1 - t0:>9.2f} {t2 - t1:>9.2f} {t3 - t2:>8.2f} {r['valid']}")
        if r["valid"] is not True:
            print("  unexpected:", r["anomaly_types"], r.get("unknown_reason"))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
