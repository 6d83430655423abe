"""--server-opt against real servers: refused before anything starts, the server's own error when it
rejects an option, the effective value read back from every node (and recorded by a run)."""
import json
import subprocess
import sys

import pytest

from harness.cluster import cleanup_all, up

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(autouse=True)
def private_state(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    yield
    cleanup_all(caches=True)  # also the private data root's cached data dirs on /dev/shm


def harness(*argv, timeout=300):
    return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, timeout=timeout)


def test_an_owned_option_is_refused_exit_2():
    cp = harness("cluster", "up", "--db", "galera", "--server-opt", "datadir=/x")
    assert cp.returncode == 2
    assert cp.stderr.strip() == "harness cluster: --server-opt datadir=/x: datadir is set by the harness: refused"


@pytest.mark.parametrize("db,line", [
    ("galera", "[ERROR] mariadbd: unknown variable 'no_such_option=1'"),
    ("postgres", 'unrecognized configuration parameter "no_such_option"'),
])
def test_an_option_the_server_rejects_is_its_own_log_line_exit_2(db, line, tmp_path):
    cp = harness("cluster", "up", "--db", db, "--server-opt", "no_such_option=1")
    assert cp.returncode == 2, cp.stderr
    assert len(cp.stderr.strip().splitlines()) == 1 and line in cp.stderr, cp.stderr
    assert harness("cluster", "status").stdout.strip() == "no clusters"  # nothing left behind


def test_galera_settings_read_back_from_every_node():
    c = up(db="galera", knobs={"server_options": ["innodb_flush_log_at_trx_commit=0", "n2:max_connections=77",
                                                  "wsrep_provider_options=gcache.size=64M"]})
    try:
        s = c.settings()
        assert {n: v["innodb_flush_log_at_trx_commit"] for n, v in s.items()} == {"n1": "0", "n2": "0", "n3": "0"}
        assert {n: v["max_connections"] for n, v in s.items()} == {"n1": "300", "n2": "77", "n3": "300"}
        assert s["n1"]["wsrep_provider_options"] == "gcache.size = 64M"
    finally:
        c.teardown()


def test_postgres_run_records_given_options_and_settings(tmp_path):
    cp = harness("run", "--db", "postgres", "--workload", "set", "--time-limit", "2", "--rate", "20",
                 "--server-opt", "work_mem=5MB", "--store", str(tmp_path / "store"), "--no-progress", "--json")
    assert cp.returncode == 0, cp.stderr[-2000:]
    results = json.loads(cp.stdout)
    assert results["server_options"] == ["work_mem=5MB"]
    assert results["settings"] == {"n1": {"work_mem": "5MB"}}
    test = json.loads((tmp_path / "store" / "latest" / "test.json").read_text())
    assert test["settings"] == results["settings"] and test["knobs"]["server_options"] == ["work_mem=5MB"]
