"""`harness run --history-compress` against a real MariaDB (issue 20): the run writes history.jsonl.gz
only, and its check, analyze, report and `harness check FILE` read it; a run SIGKILLed mid-way leaves
a .gz that checks as the whole lines before the cut."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checkers.history import iter_history
from harness import cluster as cl

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent.parent


def harness(*argv, timeout=300):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def maria():
    c = cl.up(db="mariadb")
    yield c
    c.teardown()


def test_a_compressed_run_checks_analyzes_and_reports(maria, tmp_path):
    p = harness("run", "--cluster", maria.name, "--db", "mariadb", "--workload", "list-append",
                "--isolation", "repeatable-read", "--time-limit", "10", "--rate", "300",
                "--final-time-limit", "5", "--opt", "key_count=3", "--seed", "3", "--history-compress",
                "--store", tmp_path, "--no-progress", "--json")
    assert p.returncode in (0, 1), p.stderr[-2000:]
    r = json.loads(p.stdout)
    run = Path(r["run_dir"])
    assert (run / "history.jsonl.gz").is_file() and not (run / "history.jsonl").exists()
    assert json.loads((run / "test.json").read_text())["history_compress"] is True
    assert r["stats"]["txns"] > 1000 and not r["errors"] and "history_note" not in r
    ops = [op for _, op in iter_history(run / "history.jsonl.gz")]
    assert [op["index"] for op in ops] == list(range(len(ops)))
    assert 'href="history.jsonl.gz"' in (run / "index.html").read_text()
    q = harness("analyze", run, "--json")
    assert q.returncode == p.returncode, q.stderr[-2000:]
    a = json.loads(q.stdout)
    assert (a["valid"], a["anomaly_types"], a["stats"]["txns"]) == (r["valid"], r["anomaly_types"], r["stats"]["txns"])
    c = harness("check", run / "history.jsonl.gz", "--model", "repeatable-read", "--json")
    assert c.returncode == p.returncode and json.loads(c.stdout)["anomaly_types"] == r["anomaly_types"]


def test_a_sigkilled_compressed_run_leaves_a_checkable_prefix(maria, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--cluster", maria.name, "--db", "mariadb",
                             "--workload", "list-append", "--time-limit", "60", "--rate", "0",
                             "--history-compress", "--store", str(tmp_path), "--no-progress"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        deadline = time.monotonic() + 60
        gz = None
        while time.monotonic() < deadline:   # until the history has a few flushes in it
            found = list(tmp_path.glob("*/*/history.jsonl.gz"))
            if found and found[0].stat().st_size > 20_000:
                gz = found[0]
                break
            time.sleep(0.2)
        assert gz is not None, "no compressed history appeared"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    c = harness("check", gz, "--workload", "list-append", "--json")
    assert c.returncode == 0, c.stderr
    assert c.stderr.startswith(f"harness check: note: {gz}: the gzip stream ends early") and \
        len(c.stderr.strip().splitlines()) == 1
    assert json.loads(c.stdout)["stats"]["txns"] > 100
    a = harness("analyze", gz.parent, "--json")     # the killed run left no results.json: analyze writes one
    assert a.returncode == 0 and "Traceback" not in a.stderr, a.stderr[-2000:]
    assert json.loads(a.stdout)["history_note"].endswith("whole lines before the cut")
    assert (gz.parent / "index.html").is_file()
