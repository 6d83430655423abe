#!/usr/bin/env python3
"""Run the hostile corpus through `harness check` (every workload, plain and --json, and the
guessed workload) and `harness analyze`, in this process, and count what must never happen:

    tracebacks          an exception escaped the command (anything but a clean exit status)
    hangs               a command still running after --timeout seconds (SIGALRM interrupts it)
    exit-0-on-garbage   exit 0 (valid) for an input that is malformed or must not be judged valid

    python3 tests/hostile/run_corpus.py [--timeout 10] [--verbose]

Prints one line per failure (with --verbose) and a final JSON line of counts; exit 1 if any count
is not zero.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import tempfile
import traceback

# HARNESS_TREE: judge another checkout of the harness (e.g. the commit before a fix) with this corpus
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if os.environ.get("HARNESS_TREE"):
    sys.path.insert(0, os.environ["HARNESS_TREE"])

from harness.cli import main  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import ALL, build  # noqa: E402  (this corpus, whatever the tree)


class Hang(Exception):
    pass


def _alarm(*_):
    raise Hang()


def run_one(argv, timeout):
    """(status, stderr) where status is an int exit code, 'traceback' or 'hang'."""
    out, err = io.StringIO(), io.StringIO()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    except Hang:
        return "hang", err.getvalue()
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 2
    except BaseException:   # noqa: BLE001 - counting exactly these
        return "traceback", traceback.format_exc(limit=-3)
    finally:
        signal.alarm(0)
    return status, err.getvalue()


def run_corpus(timeout=10, verbose=False, workdir=None):
    counts = {"runs": 0, "tracebacks": 0, "hangs": 0, "exit-0-on-garbage": 0}
    failures = []
    with tempfile.TemporaryDirectory(dir=workdir) as d:
        histories, runs = build(d)
        jobs = []
        for name, path, garbage in histories:
            for w in sorted(ALL):
                for js in ([], ["--json"]):
                    jobs.append((name, ["check", path, "--workload", w, *js], w in garbage))
            jobs.append((name, ["check", path], garbage == ALL))
        for name, path in runs:
            jobs.append((name, ["analyze", path], name.startswith("test-")))
        for name, argv, garbage in jobs:
            status, err = run_one(argv, timeout)
            counts["runs"] += 1
            kind = None
            if status == "traceback":
                kind = "tracebacks"
            elif status == "hang":
                kind = "hangs"
            elif status == 0 and garbage:
                kind = "exit-0-on-garbage"
            if kind:
                counts[kind] += 1
                failures.append((kind, name, argv, err.strip().splitlines()[-1:] if err else []))
    if verbose:
        for kind, name, argv, last in failures:
            print(f"{kind}: {name}: {' '.join(argv[:1] + argv[2:])}: {last[0] if last else ''}")
    return counts, failures


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=int, default=10)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    counts, _ = run_corpus(a.timeout, a.verbose)
    print(json.dumps(counts))
    sys.exit(1 if counts["tracebacks"] or counts["hangs"] or counts["exit-0-on-garbage"] else 0)
