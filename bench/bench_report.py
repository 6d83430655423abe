"""Benchmark: the run report for a 100,000-op history in <= 10 s, the run directory <= 20 MB.

Builds a synthetic run (realistic list-append and engine histories with fault periods and
planted anomalies), times write_report (wall and CPU seconds), and prints the sizes. "Ops" counts history lines
(invokes and completions), as Jepsen counts a history; 200,000 is measured too.

    python bench/bench_report.py [--ops N ...] [--keep DIR]
"""
import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import json

from harness.report import write_report
from harness.report.synthetic import _g_single, make_run_dir

REPORT_FILES = ("index.html", "latency-raw.png", "latency-quantiles.png", "rate.png", "summary.json")


def cpu_seconds() -> float:
    """CPU time of this process and its children (graphviz): steadier than wall time on a shared box."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def plant_anomalies(run: Path, per_type: int = 20):
    """20 each of G-single, G-single-realtime and lost-update, spread over the history."""
    results = json.loads((run / "results.json").read_text())
    with open(run / "history.jsonl") as f:
        oks = [op for op in map(json.loads, f) if op["type"] == "ok"]
    step = max(1, len(oks) // (per_type + 1))
    anomalies = results["anomalies"]
    anomalies["G-single"] = [_g_single(oks[i * step], oks[i * step + 7]) for i in range(per_type)]
    anomalies["G-single-realtime"] = [_g_single(oks[i * step + 3], oks[i * step + 5]) for i in range(per_type)]
    anomalies["lost-update"] = [dict(anomalies["lost-update"][0], ops=[oks[i * step], oks[i * step + 1]])
                                for i in range(per_type)]
    results["anomaly_types"] = sorted(anomalies)
    (run / "results.json").write_text(json.dumps(results))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, nargs="+", default=[100_000, 200_000])
    ap.add_argument("--workload", nargs="+", default=["list-append", "save-resume", "many-anomalies"],
                    help="many-anomalies: list-append with 60 anomalies, each with its graph and timeline")
    ap.add_argument("--keep", help="leave the run dirs here instead of a temp dir")
    args = ap.parse_args(argv)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-report-"))
    ok = True
    print(f"{'workload':<15} {'ops':>8} {'report s':>9} {'cpu s':>6} {'history MB':>11} {'report MB':>10} "
          f"{'run dir MB':>11}  verdict")
    try:
        for wl in args.workload:
            for n in args.ops:
                run = make_run_dir(root / f"{wl}-{n}", n_ops=n, workload="list-append" if wl == "many-anomalies"
                                   else wl, duration=300.0)
                if wl == "many-anomalies":
                    plant_anomalies(run)
                t0, c0 = time.perf_counter(), cpu_seconds()
                write_report(run)
                secs, cpu = time.perf_counter() - t0, cpu_seconds() - c0
                hist = (run / "history.jsonl").stat().st_size / 1e6
                report = sum((run / f).stat().st_size for f in REPORT_FILES if (run / f).exists())
                if (run / "explanations").exists():
                    report += dir_size(run / "explanations")
                report /= 1e6
                total = dir_size(run) / 1e6
                if n <= 100_000:   # the target: <= 10 s and <= 20 MB for a 100,000-op history
                    good = secs <= 10 and total <= 20
                    ok &= good
                    verdict = "ok" if good else "OVER THE TARGET"
                else:
                    verdict = "(beyond the target size; for scale)"
                print(f"{wl:<15} {n:>8,} {secs:>9.2f} {cpu:>6.2f} {hist:>11.2f} {report:>10.2f} {total:>11.2f}  {verdict}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
