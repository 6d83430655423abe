"""Runner pieces that need no database: spec checks, error classification, store, CLI bad input."""
import json
import os
import socket
import subprocess
import sys

import psycopg
import pymysql
import pytest

from harness import store
from harness.errors import UsageError
from harness.run_cmd import exit_code, parse_pairs, summary_line
from harness.spec import TestSpec
from workloads import WORKLOADS, make_workload
from workloads.base import Abort, CommitUnknown, classify, is_definite_abort, is_node_unavailable


@pytest.mark.parametrize("fields, message", [
    ({"db": "oracle"}, "unknown db 'oracle'"),
    ({"workload": "ledger"}, "unknown workload 'ledger'"),
    ({"routing": "closest"}, "unknown routing 'closest'"),
    ({"isolation": "snapshot"}, "unknown isolation 'snapshot'"),
    ({"backend": "vm"}, "unknown backend 'vm'"),
    ({"time_limit": 0}, "time limit must be a number > 0"),
    ({"time_limit": -5}, "time limit must be a number > 0"),
    ({"time_limit": float("nan")}, "time limit must be a number > 0"),
    ({"rate": -1}, "rate must be a number >= 0"),
    ({"concurrency": 0}, "concurrency must be an integer from 1 to 1000"),
    ({"concurrency": 2.5}, "concurrency must be an integer"),
    ({"nodes": 0}, "nodes must be an integer from 1 to 9"),
    ({"op_timeout": 0}, "op timeout must be"),
    ({"workload_opts": {"keys": 3}}, "unknown option(s) keys"),
    ({"model": "bogus"}, "unknown consistency model 'bogus'"),
    ({"workload_opts": {"key_count": "many"}}, "option key_count must be an integer, not 'many'"),
    ({"workload_opts": {"key_count": 0}}, "key_count and max_writes_per_key must be at least 1"),
    ({"workload_opts": {"min_txn_length": 5, "max_txn_length": 2}}, "min_txn_length <= max_txn_length"),
    ({"workload": "bank", "workload_opts": {"accounts": 1}}, "accounts must be at least 2"),
    ({"workload": "bank", "workload_opts": {"read_fraction": 1.5}}, "read_fraction must lie between"),
])
def test_bad_specs_are_one_line_usage_errors(fields, message):
    spec = TestSpec(**{"db": "mariadb", "workload": "list-append", **fields})
    with pytest.raises(UsageError) as e:
        spec.validate()
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_spec_round_trips_through_test_json_and_draws_a_seed():
    spec = TestSpec(db="galera", workload="bank", nemesis="partition,kill", knobs={"wsrep_sync_wait": 7})
    assert spec.nemesis == ["partition", "kill"]
    assert isinstance(spec.seed, int)
    again = TestSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    record = {**spec.to_dict(), "cluster": "galera-1a2b3c", "topology": [], "nemesis_info": {}}
    assert TestSpec.from_dict(record) == spec  # test.json's run facts are not spec fields
    assert spec.test_name == "galera-bank-primary-partition+kill"
    assert TestSpec(db="postgres", workload="set").checker_model == "strict-serializable"
    assert TestSpec(db="postgres", workload="set", isolation="read-committed").checker_model == "read-committed"
    with pytest.raises(UsageError, match="unknown field"):
        TestSpec.from_dict({"db": "mariadb", "workload": "set", "colour": "red"})


def test_errors_are_classified_as_definite_or_indeterminate():
    assert classify(Abort("insufficient funds")) == ("fail", "insufficient funds")
    deadlock = pymysql.err.OperationalError(1213, "Deadlock found")
    assert classify(deadlock)[0] == "fail" and is_definite_abort(deadlock)
    assert classify(pymysql.err.OperationalError(1047, "WSREP has not yet prepared node"))[0] == "fail"
    assert classify(pymysql.err.OperationalError(2013, "Lost connection to server during query"))[0] == "info"
    assert classify(pymysql.err.InterfaceError(0, ""))[0] == "info"
    assert classify(socket.timeout("timed out"))[0] == "info"
    assert classify(CommitUnknown(pymysql.err.OperationalError(2013, "Lost connection")))[0] == "info"
    serial = psycopg.errors.SerializationFailure("could not serialize access")
    assert classify(serial)[0] == "fail" and is_definite_abort(serial)
    assert classify(psycopg.OperationalError("timed out after 10s waiting for the server"))[0] == "info"
    assert classify(psycopg.errors.UniqueViolation("duplicate key"))[0] == "fail"
    assert "1213: Deadlock found" in classify(deadlock)[1]
    # what makes the failover router move on
    assert is_node_unavailable(pymysql.err.OperationalError(1047, "WSREP has not yet prepared node"))
    assert is_node_unavailable(pymysql.err.OperationalError(2003, "Can't connect"))
    assert not is_node_unavailable(deadlock) and not is_node_unavailable(serial)


def test_run_dirs_are_unique_and_latest_follows_the_newest(tmp_path):
    a = store.new_run_dir(tmp_path, "pg list/append")
    b = store.new_run_dir(tmp_path, "pg list/append")
    assert a != b and a.parent == b.parent and a.parent.name == "pg_list_append"
    store.update_latest(tmp_path, a)
    store.update_latest(tmp_path, b)
    assert store.latest(tmp_path) == b.resolve()
    assert not os.path.isabs(os.readlink(tmp_path / "latest"))
    (b / store.TEST).write_text("{}")
    assert store.runs(tmp_path) == [b]


def test_summary_line_and_exit_codes():
    r = {"valid": False, "db": "mariadb", "workload": "list-append", "isolation": "repeatable-read",
         "model": "repeatable-read", "routing": "primary", "nemesis": [], "anomaly_types": ["G2-item"],
         "anomalies": {"G2-item": [{}, {}]}, "run": {"counts": {"ok": 5, "fail": 1}, "throughput": 9.5},
         "run_dir": "store/x/1"}
    line = summary_line(r)
    assert line.startswith("INVALID") and "mariadb" in line and "G2-item" in line and "\n" not in line
    assert "routing primary" in line
    assert exit_code(r) == 1 and exit_code({"valid": True}) == 0 and exit_code({"valid": "unknown"}) == 2
    assert parse_pairs(["key_count=10", "name=x"], "--opt") == {"key_count": 10, "name": "x"}
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_pairs(["oops"], "--opt")


def test_workload_options_given_as_text_become_numbers():
    w = make_workload("list-append", {"key_count": "7", "read_fraction": "0.25"})
    assert w.opts["key_count"] == 7 and w.opts["read_fraction"] == 0.25 and w.pool.active == list(range(7))


def test_every_registered_workload_builds_with_defaults():
    for name in WORKLOADS:
        w = make_workload(name)
        assert w.name == name and callable(w.invoke)


@pytest.mark.parametrize("argv, message", [
    (["run", "--db", "oracle", "--workload", "list-append"], "unknown db 'oracle'"),
    (["run", "--db", "mariadb", "--workload", "nope"], "unknown workload 'nope'"),
    (["run", "--db", "mariadb", "--workload", "bank", "--routing", "dns"], "unknown routing 'dns'"),
    (["run", "--db", "mariadb", "--workload", "bank", "--time-limit", "-3"], "time limit must be"),
    (["run", "--db", "mariadb", "--workload", "bank", "--concurrency", "0"], "concurrency must be"),
    (["analyze", "/nonexistent/run"], "no such run directory"),
])
def test_cli_bad_input_exits_2_with_one_line_and_leaves_nothing(tmp_path, argv, message):
    p = subprocess.run([sys.executable, "-m", "harness", *argv, "--store", str(tmp_path / "store")]
                       if argv[0] == "run" else [sys.executable, "-m", "harness", *argv],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert not (tmp_path / "store").exists()


def test_analyze_rejects_a_directory_that_is_not_a_run(tmp_path):
    p = subprocess.run([sys.executable, "-m", "harness", "analyze", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "not a run directory" in p.stderr


def test_recorder_indexes_times_and_flushes_each_op(tmp_path):
    from checkers.history import read_history
    from harness.runner import Recorder
    rec = Recorder(tmp_path / "history.jsonl", t0_ns=__import__("time").monotonic_ns())
    rec.record({"type": "invoke", "process": 0, "f": "txn", "value": [["r", 1, None]], "node": "n1"})
    rec.record_nemesis({"type": "invoke", "f": "start-pause", "value": None})
    rec.record({"type": "ok", "process": 0, "f": "txn", "value": [["r", 1, []]], "node": "n1"})
    rec.record({"type": "fail", "process": 1, "f": "txn", "value": [], "error": "1213: Deadlock"})
    __import__("time").sleep(0.3)  # the flusher writes the file out as the run goes
    on_disk = read_history(tmp_path / "history.jsonl")  # readable before close
    assert [op["index"] for op in on_disk] == [0, 1, 2, 3]
    times = [op["time"] for op in on_disk]
    assert times == sorted(times) and all(isinstance(t, int) for t in times)
    assert on_disk[1]["process"] == "nemesis"
    assert list(on_disk[0])[:4] == ["index", "time", "type", "process"]
    assert rec.counts == {"ok": 1, "fail": 1} and rec.errors == {"1213: Deadlock": 1}
    rec.close()
    assert rec.record({"type": "ok", "process": 5, "f": "txn", "value": []}) is None  # a straggler
    assert len(read_history(tmp_path / "history.jsonl")) == 4


def test_check_run_turns_an_unusable_history_into_unknown(tmp_path):
    from harness.runner import check_run
    (tmp_path / "history.jsonl").write_text('{"index": 0, "type": "invoke"\n')
    r = check_run(tmp_path, make_workload("bank"), "serializable")
    assert r["valid"] == "unknown" and "history.jsonl:1" in r["error"]
