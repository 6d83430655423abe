"""Progress of long checks (issue 20): the readers count ops per chunk into checkers.history.PROGRESS;
`harness check` / analyze draw it with rich on stderr when stderr is a terminal, never on stdout."""
import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

from checkers.api import check_file
from checkers.history import PROGRESS, write_history
from harness.progress import task, task_line

from testing import list_append_sim
from tests.unit.test_history_gzip import write_gz

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_readers_count_ops_and_the_phase_moves_on_at_the_end(tmp_path):
    ops = list_append_sim.simulate(8000, seed=4)[0]
    plain, gz = tmp_path / "h.jsonl", tmp_path / "h.jsonl.gz"
    write_history(plain, ops)
    write_gz(gz, ops)
    for path, workload in [(plain, "list-append"), (gz, "list-append"), (plain, "bank"), (plain, "set")]:
        with task("reading", "analysing", path, enabled=False) as p:
            assert p.phase == "reading" and p.ops == 0
            check_file(path, workload)
        assert (p.phase, p.ops) == ("analysing", len(ops)), (path, workload)
    assert p.total == plain.stat().st_size and p.bytes == p.total
    assert "100 %" in task_line(p) and f"{len(ops):,} ops read" in task_line(p)


def test_the_report_counts_its_pass_too(tmp_path):
    from harness.report import write_report
    from testing.synthetic import make_run_dir
    run = make_run_dir(tmp_path / "run", n_ops=3000)
    lines = len((run / "history.jsonl").read_bytes().splitlines())
    with task("report: reading", "report: writing", run / "history.jsonl", enabled=False):
        write_report(run)
    assert (PROGRESS.phase, PROGRESS.ops) == ("report: writing", lines)


def on_a_terminal(argv):
    """Run argv with stderr a pty (stdout a pipe); (exit code, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    got = []
    reader = threading.Thread(target=lambda: got.extend(iter(lambda: _read(master), b"")), daemon=True)
    reader.start()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=slave, cwd=ROOT, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    os.close(slave)
    reader.join(10)
    os.close(master)
    return p.returncode, p.stdout, b"".join(got)


def _read(fd):
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


def test_harness_check_draws_progress_on_a_terminal_stderr_only(tmp_path):
    path = tmp_path / "h.jsonl"
    write_history(path, list_append_sim.simulate(20000, seed=1)[0])
    cmd = [sys.executable, "-m", "harness", "check", str(path), "--workload", "list-append", "--json"]
    rc, out, term = on_a_terminal(cmd)
    assert rc == 0 and json.loads(out)["valid"] is True       # stdout: the JSON alone
    assert b"ops read" in term and b"check: " in term
    p = subprocess.run(cmd, capture_output=True, cwd=ROOT, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.returncode == 0 and p.stderr == b""              # not a terminal: nothing drawn
