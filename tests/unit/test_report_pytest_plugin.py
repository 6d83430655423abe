"""The `harness_run` fixture as a nightly job uses it: a separate pytest session in a temp project.

The runner itself is replaced (in that session's conftest) by a stand-in that returns canned
results, so this checks the plugin's wiring: spec fields, outcome, failure message, report path.
"""
import subprocess
import sys

CONFTEST = '''
import json, harness.runner
CALLS = []

def fake_run_test(spec, cluster=None, junit=None, live=None):
    spec.validate()
    CALLS.append(spec)
    assert cluster in (None, "the-cluster")
    bad = spec.db == "mariadb-mm"
    results = {"valid": not bad, "anomaly_types": ["lost-save"] if bad else [], "anomalies": {},
               "not": ["read-committed"] if bad else [], "db": spec.db, "workload": spec.workload,
               "nemesis": spec.nemesis, "stats": {"txns": 10, "ok": 9, "fail": 1, "info": 0},
               "run_dir": spec.store + "/" + spec.test_name, "report": spec.store + "/" + spec.test_name + "/index.html"}
    with open("calls.jsonl", "a") as f:
        f.write(json.dumps({"name": spec.test_name, "time_limit": spec.time_limit, "store": spec.store,
                            "routing": spec.routing, "nemesis": spec.nemesis}) + "\\n")
    return results

harness.runner.run_test = fake_run_test
'''

TESTS = '''
def test_single_node(harness_run):
    assert harness_run(db="mariadb", workload="list-append", routing="primary", cluster="the-cluster").valid

def test_mm(harness_run):
    assert harness_run(db="mariadb-mm", workload="save-resume", routing="round-robin").valid

def test_typo(harness_run):
    harness_run(db="galera", workload="save-resume", nemesis=["no-such-fault"])

def test_bad_field(harness_run):
    harness_run(db="galera", workload="save-resume", routng="sticky")
'''


def test_fixture_runs_reports_and_explains_failures(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_nightly.py").write_text(TESTS)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "--harness-store",
                        str(tmp_path / "st"), "--harness-time-limit", "7", "--junitxml", str(tmp_path / "j.xml"),
                        "test_nightly.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "1 passed" in out and "3 failed" in out, out
    # the failed assert names the verdict, what broke and where the report is
    assert "<harness run: INVALID mariadb-mm/save-resume (no faults) — lost-save — not read-committed" in out
    assert "st/pytest-test_mm/index.html" in out
    assert "harness runs" in out  # the report section attached to the test
    # bad input fails with one clear line, not a traceback into the runner
    assert "harness_run could not run galera/save-resume: unknown nemesis no-such-fault" in out
    assert "harness_run: " in out and "routng" in out
    calls = [line for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == 2 and all('"time_limit": 7.0' in c and str(tmp_path / "st") in c for c in calls)
    assert '"name": "pytest-test_single_node"' in calls[0]
    assert "harness_report" in (tmp_path / "j.xml").read_text()


def test_plugin_is_registered_for_every_pytest_session():
    r = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, timeout=120)
    assert "--harness-store" in r.stdout and "--harness-time-limit" in r.stdout


def test_outcome_accessors():
    from harness.pytest_plugin import RunOutcome
    o = RunOutcome({"valid": "unknown", "unknown_reason": "no committed txns", "db": "postgres",
                    "workload": "bank", "run_dir": "store/x/1"})
    assert o.valid == "unknown" and o.anomaly_types == [] and o["db"] == "postgres" and o.report is None
    assert repr(o) == "<harness run: UNKNOWN postgres/bank (no faults) — no committed txns — report store/x/1>"
