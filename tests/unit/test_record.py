"""The run record (harness/record.py) and the result with no verdict (checkers.api.unknown_result):
what the runner writes is what analyze keeps and the report shows."""
import dataclasses
import json
import re
import shlex

from checkers.api import unknown_result
from harness import record
from harness.cli import build_parser
from harness.report.data import load_run
from harness.run_cmd import spec_from_args
from harness.spec import TestSpec

FACTS = {"seconds": 6.1, "main_seconds": 5.0, "throughput": 80.0, "main_ops": 400, "counts": {"ok": 400},
         "processes": 10, "op_errors": {}, "notes": [], "sticky_mapping": None, "network": None,
         "errors": ["worker 3 crashed: boom"], "nemesis_notes": ["kill n2"], "lag": {}}
SERVER = {"server_options": ["--innodb-flush-log-at-trx-commit=2"], "settings": {"n1": {"x": "1"}}}


def spec():
    return TestSpec(db="galera", workload="list-append", nodes=3, routing="round-robin", nemesis="partition,kill",
                    knobs={"wsrep_sync_wait": 7}, workload_opts={"key_count": 3}, time_limit=12, seed=41)


def test_the_command_recorded_reruns_the_same_spec(tmp_path):
    s = spec()
    argv = record.run_results(unknown_result("x"), s, topology=[], versions={}, server=SERVER, run_dir=tmp_path,
                              facts=FACTS, started="2026-12-04T18:00:00Z")["command"]
    assert argv[:2] == ["harness", "run"] and argv[argv.index("--seed") + 1] == "41"
    assert argv[argv.index("--model") + 1] == "strict-serializable"   # the model judged, explicit
    again = spec_from_args(build_parser().parse_args(argv[1:]))
    assert again == dataclasses.replace(s, model=s.checker_model)


def test_the_rerun_command_carries_every_setting_off_its_default():
    # every field differs from TestSpec's default: a flag the command forgets makes `again` differ
    s = TestSpec(db="postgres-standby", workload="set", nodes=2, backend="docker", isolation="read-committed",
                 routing="failover", nemesis=["kill"], nemesis_interval=3.0, time_limit=7.0,
                 final_time_limit=4.0, concurrency=3, rate=5.0, seed=9, store="elsewhere", op_timeout=2.0,
                 model="snapshot-isolation", knobs={"standbys": 1}, workload_opts={"k": 2}, name="n",
                 network="lan", history_compress=True)
    defaults = TestSpec(db="postgres-standby", workload="set", seed=9)
    assert all(getattr(s, f.name) != getattr(defaults, f.name) for f in dataclasses.fields(TestSpec)
               if f.name not in ("db", "workload", "seed"))
    again = spec_from_args(build_parser().parse_args(record.rerun_argv(s.to_dict())[1:]))
    assert again == s


def test_test_json_carries_started_and_command_and_still_reads_back_as_the_spec():
    s = spec()
    test = record.test_record(s, "galera-1a2b", [{"name": "n1"}], SERVER, "2026-12-04T18:00:00Z")
    assert test["started"] == "2026-12-04T18:00:00Z" and test["command"][:2] == ["harness", "run"]
    assert test["model"] == s.checker_model and test["cluster"] == "galera-1a2b"
    again = TestSpec.from_dict(json.loads(json.dumps(test)))       # the run facts are not spec fields
    assert again == dataclasses.replace(s, model=s.checker_model)    # test.json names the model checked


def test_started_is_iso_8601_utc():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record.started_now())


def test_results_hold_every_run_meta_key_and_analyze_keeps_them(tmp_path):
    s = spec()
    result = unknown_result("checker failed: ValueError: x")
    res = record.run_results(result, s, topology=[{"name": "n1"}], versions={"galera": "26.4"}, server=SERVER,
                             run_dir=tmp_path, facts=FACTS, started="2026-12-04T18:00:00Z")
    assert set(record.RUN_META) - {"error"} <= set(res)
    assert all(isinstance(res[k], t) for k, t in record.RUN_META.items())
    assert res["errors"] == ["worker 3 crashed: boom", "checker failed: ValueError: x"]
    old = record.kept_meta(json.loads(json.dumps(res)))
    assert old["started"] == res["started"] and old["command"] == res["command"]
    again = record.analyzed_results({"valid": True, "stats": {}}, old, s, tmp_path)
    assert again["valid"] is True and again["errors"] == ["worker 3 crashed: boom"]   # the old check's error goes
    assert again["started"] == "2026-12-04T18:00:00Z" and again["seed"] == 41


def test_kept_meta_drops_what_a_run_never_writes():
    kept = record.kept_meta({"started": 5, "command": ["harness", 3, "run"], "seed": "x", "db": "galera",
                             "colour": "red"})
    assert kept == {"command": ["harness", "run"], "db": "galera"}
    assert record.kept_meta(["not", "a", "dict"]) == {}


def test_unknown_result_has_the_check_objects_shape():
    r = unknown_result("no results.json", test="t1")
    assert r == {"valid": "unknown", "anomaly_types": [], "anomalies": {}, "not": [], "also_not": [],
                 "stats": {}, "error": "no results.json", "test": "t1"}
    assert unknown_result("cannot judge", key="unknown_reason")["unknown_reason"] == "cannot judge"


def test_the_report_shows_the_recorded_start_and_command(tmp_path):
    s = spec()
    res = record.run_results(unknown_result("x"), s, topology=[], versions={}, server=SERVER, run_dir=tmp_path,
                             facts=FACTS, started="2026-12-04T18:00:00Z")
    (tmp_path / "results.json").write_text(json.dumps(res))
    run = load_run(tmp_path)
    assert run.meta("started") == "2026-12-04T18:00:00Z"
    assert run.command() == shlex.join(res["command"])
    (tmp_path / "results.json").write_text(json.dumps({"valid": True, "db": "galera"}))  # an older run dir
    (tmp_path / "test.json").write_text(json.dumps(s.to_dict()))
    old = load_run(tmp_path)
    assert old.meta("started") is None and old.command() == record.rerun_command(s.to_dict())
