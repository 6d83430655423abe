"""`harness check`: exit codes, --json shape, --out files, one-line errors for bad input."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from checkers.history import write_history
from testing.histories import hist, to_edn

WRITE_SKEW = hist((0, 0, 10, "ok", [["r", "x", []], ["append", "y", 1]]),
                  (1, 0, 10, "ok", [["r", "y", []], ["append", "x", 1]]))
SERIAL = hist((0, 0, 10, "ok", [["append", "x", 1]]), (1, 20, 30, "ok", [["r", "x", [1]]]))


class Run:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def harness(capsys):
    """Run `harness check ARGS` in this process (fast); returns returncode/stdout/stderr."""
    from harness.cli import main

    def run(*args):
        capsys.readouterr()
        rc = main(["check", *map(str, args)])
        out, err = capsys.readouterr()
        return Run(rc, out, err)
    return run


def test_console_command_end_to_end(tmp_path):
    p = tmp_path / "skew.jsonl"
    write_history(p, WRITE_SKEW)
    r = subprocess.run([sys.executable, "-m", "harness", "check", str(p)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and "G2-item" in r.stdout


@pytest.fixture
def files(tmp_path):
    def make(name, ops):
        p = tmp_path / name
        write_history(p, ops)
        return p
    return make


def test_valid_exits_0(files, harness):
    r = harness(files("ok.jsonl", SERIAL))
    assert r.returncode == 0, r.stderr
    assert "valid under strict-serializable: yes" in r.stdout


def test_invalid_exits_1_and_json_has_the_contract_shape(files, harness):
    r = harness(files("skew.jsonl", WRITE_SKEW), "--json")
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["valid"] is False
    assert out["anomaly_types"] == ["G2-item"]
    assert out["not"] == ["repeatable-read"]
    assert "strict-serializable" in out["also_not"]
    assert set(out["stats"]) >= {"txns", "ok", "fail", "info", "seconds"}
    inst = out["anomalies"]["G2-item"][0]
    assert len(inst["cycle"]) == 2 and len(inst["steps"]) == 2 and inst["explanation"]


def test_model_changes_the_verdict_not_the_anomalies(files, harness):
    r = harness(files("skew.jsonl", WRITE_SKEW), "--json", "--model", "snapshot-isolation")
    assert r.returncode == 0
    assert json.loads(r.stdout)["anomaly_types"] == ["G2-item"]


def test_workload_rw_register_is_guessed(files, harness):
    ops = hist((0, 0, 10, "ok", [["r", "x", None], ["w", "y", 1]]),
               (1, 0, 10, "ok", [["r", "y", None], ["w", "x", 1]]))
    r = harness(files("reg.jsonl", ops), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["anomaly_types"] == ["G2-item"]


def test_edn_file_same_verdict(tmp_path, harness):
    p = tmp_path / "history.edn"
    p.write_text(to_edn(WRITE_SKEW))
    r = harness(p, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["anomaly_types"] == ["G2-item"]


def test_out_dir_has_text_and_graphs(files, tmp_path, harness):
    out = tmp_path / "expl"
    r = harness(files("skew.jsonl", WRITE_SKEW), "--out", out)
    assert r.returncode == 1
    names = set(os.listdir(out))
    assert "g2-item.txt" in names and "g2-item-1.dot" in names
    if shutil.which("dot"):
        assert "g2-item-1.svg" in names
        assert "<svg" in (out / "g2-item-1.svg").read_text()
    text = (out / "g2-item.txt").read_text()
    assert "contradiction" in text
    assert "->" in (out / "g2-item-1.dot").read_text()


@pytest.mark.parametrize("content, message", [
    ('{"type":"invoke","f":"txn","process":0,"value":[["append","x",1]]}\n{"type":"ok",', ":2: malformed JSON"),
    ('{"type":"invoke","f":"txn","process":0,"value":[]}\n{"process":0,"f":"txn","value":[]}\n',
     ":2: missing field 'type'"),
    ('{"type":"invoke","f":"txn","process":0,"value":[["put","x",1]]}\n'
     '{"type":"ok","f":"txn","process":0,"value":[["put","x",1]]}\n', ":2: unknown micro-op"),
    ('{"type":"invoke","f":"txn","process":0,"value":[["append","x",1]]}\n'
     '{"type":"ok","f":"txn","process":0,"value":[["append","x",1]]}\n'
     '{"type":"invoke","f":"txn","process":0,"value":[["append","x",1]]}\n'
     '{"type":"ok","f":"txn","process":0,"value":[["append","x",1]]}\n', ":4: value 1 appended to key 'x' more than once"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, content, message, harness):
    p = tmp_path / "bad.jsonl"
    p.write_text(content)
    r = harness(p, "--workload", "list-append")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(p) + message in lines[0], r.stderr


def test_unknown_model_and_missing_file_exit_2(files, tmp_path, harness):
    r = harness(files("ok.jsonl", SERIAL), "--model", "nonsense")
    assert r.returncode == 2 and "unknown consistency model" in r.stderr
    r = harness(tmp_path / "missing.jsonl")
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_empty_history_is_unknown_exit_2(tmp_path, harness):
    p = tmp_path / "empty.jsonl"
    p.write_text("")
    r = harness(p, "--workload", "list-append")
    assert r.returncode == 2 and "unknown" in r.stderr
