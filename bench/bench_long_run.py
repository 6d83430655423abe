#!/usr/bin/env python3
"""Benchmark (issue 20): a long `harness run` at full rate, the harness's memory during and after it.

    flock /tmp/eh-cluster.lock python3 bench/bench_long_run.py [--minutes 10] [--db mariadb]
                                   [--workload list-append] [--history-compress] [--keep DIR]

Runs `harness run --rate 0` (its own cluster, brought up and torn down by the run) and samples the
harness process's resident memory (/proc/PID/status VmRSS, and VmHWM for the peak) every
--every seconds. harness.log's "run done" line splits the samples into the run (main + final
phase) and its end (check + report + teardown). Prints ops/s, txns, history size, RSS during the
run and at its end, the end-of-run seconds, and a projection to one hour: txns, history size and
end-of-run seconds linear in the txns; the end's peak as its base plus a growth linear in the txns.

Measured on the 2-core project VM (shared with other jobs, load 2-7), 2026-12-03, after runner.check_run
streams (issue 20), one MariaDB node, --minutes 10, plain history.jsonl:
    1529 ops/s (main phase), 923,000 txns, history.jsonl 364 MB, verdict valid
    harness RSS during the run: median 61 MB, max 68 MB (206 samples, every 3 s)
    end of run (check + report + teardown): 34.4 s (check 25.7 s of it, slowed by the load);
    harness peak (VmHWM) 510 MB
    projected to 1 hour: 5.5 M txns, 2.2 GB history, ~207 s end of run, end peak ~2.7 GB (linear;
    bench_report measured the check alone at 8 M txns: 4.1 GB, the list-append checker's own peak)
After the list-append checker's compact tables (stop 26), a real 1-hour run, 2026-12-06, the machine
otherwise idle, one MariaDB node, --minutes 60, plain history.jsonl:
    1446 ops/s (main phase), 5,209,553 txns, history.jsonl 2032 MB, verdict valid
    harness RSS during the run: median 72 MB, max 108 MB (1205 samples, every 3 s)
    end of run (check + report + teardown): 127.1 s (check 106.0 s of it); harness peak (VmHWM)
    1013 MB; the whole command 3743 s
Before (issue 20's note): a 300 s run of 700 k txns ended in ~40 s at a 4.0 GB peak (the check held
the history as op dicts), which an hour (~8 M txns) would have pushed to ~45 GB.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) of a live process in MB, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    got = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M))
    if "VmRSS" not in got:
        return None
    return int(got["VmRSS"]) / 1024, int(got.get("VmHWM", got["VmRSS"])) / 1024


def log_time(run_dir: Path, needle: str) -> float | None:
    """The wall-clock time (epoch s) of the first harness.log line holding `needle`."""
    log = run_dir / "harness.log"
    if not log.exists():
        return None
    for line in log.read_text(errors="replace").splitlines():
        if needle in line:
            stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--db", default="mariadb")
    ap.add_argument("--workload", default="list-append")
    ap.add_argument("--history-compress", action="store_true")
    ap.add_argument("--every", type=float, default=3.0, help="seconds between RSS samples")
    ap.add_argument("--keep", help="store dir to keep (default: a temp dir, removed)")
    args = ap.parse_args(argv)
    store = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-long-run-"))
    seconds = args.minutes * 60
    cmd = [sys.executable, "-m", "harness", "run", "--db", args.db, "--workload", args.workload, "--rate", "0",
           "--time-limit", str(seconds), "--store", str(store), "--no-progress", "--json", "--seed", "1"]
    if args.history_compress:
        cmd.append("--history-compress")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    samples = []     # (epoch s, rss MB, hwm MB)
    try:
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while proc.poll() is None:
            got = rss_mb(proc.pid)
            if got:
                samples.append((time.time(), *got))
            time.sleep(args.every)
        end = time.time()
        out, err = proc.communicate()
        if proc.returncode not in (0, 1):
            print(f"harness run: exit {proc.returncode}: {err.strip()[-1500:]}", file=sys.stderr)
            return 2
        r = json.loads(out)
        run_dir = Path(r["run_dir"])
        done = log_time(run_dir, "run done:") or end
        during = [s for s in samples if s[0] < done]
        after = [s for s in samples if s[0] >= done]
        hist = next(p for p in (run_dir / "history.jsonl", run_dir / "history.jsonl.gz") if p.exists())
        hist_mb = hist.stat().st_size / 1e6
        txns = r["stats"]["txns"]
        end_s = end - done
        peak_end = max((s[2] for s in samples), default=0.0)
        base = max((s[1] for s in during), default=0.0)
        scale = 3600 / seconds
        print(f"{args.db} {args.workload} --rate 0 for {seconds:.0f} s"
              f"{' --history-compress' if args.history_compress else ''}: verdict {r['valid']}, "
              f"{r['run']['throughput']:.0f} ops/s (main phase), {txns:,} txns, {hist.name} {hist_mb:.0f} MB")
        if during:
            rss = [s[1] for s in during]
            print(f"  harness RSS during the run: min {min(rss):.0f}, median {statistics.median(rss):.0f}, "
                  f"max {max(rss):.0f} MB ({len(rss)} samples every {args.every:g} s)")
        print(f"  end of run (check + report + teardown): {end_s:.1f} s, harness RSS at the end: "
              f"max sampled {max((s[1] for s in after), default=0):.0f} MB, peak (VmHWM) {peak_end:.0f} MB")
        print(f"  whole command {end - t0:.0f} s; check {r['stats'].get('seconds', 0):.1f} s (its own timer)")
        print(f"  projected to 1 hour (x{scale:.1f}, linear in txns): {txns * scale:,.0f} txns, "
              f"{hist.name} {hist_mb * scale / 1000:.1f} GB, end of run {end_s * scale:.0f} s, "
              f"end peak {base + (peak_end - base) * scale:.0f} MB", flush=True)
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
