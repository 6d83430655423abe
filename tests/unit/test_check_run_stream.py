"""runner.check_run streams the history through checkers.api.check_file (issue 20): on the repo's test
histories its result (verdict, anomaly types, every explanation and the positions it cites, stats)
is the one the old in-memory path gave: workload.check(read_history(path), model)."""
import json
from pathlib import Path

import pytest

from checkers.history import HistoryError, read_history, write_history
from harness import store
from harness.runner import check_run
from testing import engine_sim, list_append_sim
from tests.unit.test_bank import GOOD, hist as bank_hist
from tests.unit.test_set import adds, final
from workloads import make_workload

ROOT = Path(__file__).resolve().parent.parent.parent


def old_path(run_dir, workload, model):
    """What check_run did before: the whole history as a list of op dicts (unusable input: unknown)."""
    try:
        return workload.check(read_history(run_dir / store.HISTORY), model)
    except HistoryError as e:
        return {"valid": "unknown", "anomaly_types": [], "anomalies": {}, "not": [], "also_not": [],
                "stats": {}, "error": str(e)}


def timeless(r):
    """The result without its timings (stats["seconds"], stats["...seconds"]), as JSON text."""
    r = dict(r, stats={k: v for k, v in r["stats"].items() if not k.endswith("seconds")})
    return json.dumps(r, sort_keys=True, default=str)


def same(run_dir, workload_name, model, opts=None):
    workload = make_workload(workload_name, opts)
    a = old_path(run_dir, workload, model)
    b = check_run(run_dir, workload, model)
    assert "checker failed" not in b.get("error", "")
    assert timeless(a) == timeless(b)
    return b


def run_dir_of(tmp_path, ops, name="run"):
    d = tmp_path / name
    d.mkdir()
    write_history(d / store.HISTORY, ops)
    return d


def elle_cases(name):
    return [pytest.param(c, id=c["id"]) for c in json.loads((ROOT / "tests/data/elle" / name).read_text())]


@pytest.mark.parametrize("case", elle_cases("list_append_cases.json"))
def test_list_append_elle_cases(tmp_path, case):
    same(run_dir_of(tmp_path, case["history"]), "list-append", case["model"])


@pytest.mark.parametrize("case", elle_cases("rw_register_cases.json"))
def test_rw_register_elle_cases(tmp_path, case):
    same(run_dir_of(tmp_path, case["history"]), "rw-register", case["model"])


@pytest.mark.parametrize("fault", (None,) + list_append_sim.FAULTS)
def test_list_append_simulated_histories_with_each_fault(tmp_path, fault):
    ops, _ = list_append_sim.simulate(3000, seed=7, fault=fault)
    r = same(run_dir_of(tmp_path, ops), "list-append", "strict-serializable")
    assert (r["valid"] is True) == (fault is None)


def test_list_append_broken_store_with_many_anomalies_cites_the_same_ops(tmp_path):
    ops, _ = list_append_sim.simulate(4000, seed=3, p_stale=0.05)
    # a blank line shifts file lines away from list positions: both paths must still cite the same
    d = run_dir_of(tmp_path, ops)
    raw = (d / store.HISTORY).read_bytes().split(b"\n")
    (d / store.HISTORY).write_bytes(b"\n".join(raw[:10] + [b""] + raw[10:]))
    r = same(d, "list-append", "strict-serializable")
    assert r["valid"] is False and len(r["anomaly_types"]) >= 2


def test_bank_and_set_keep_their_in_memory_path_with_the_same_results(tmp_path):
    bad = dict(GOOD, **{"2": 40})
    r = same(run_dir_of(tmp_path, bank_hist(GOOD, bad), "bank"), "bank", "serializable")
    assert r["valid"] is False
    lost = final(adds({1: "ok", 2: "ok", 3: "info"}), [1, 3])
    assert same(run_dir_of(tmp_path, lost, "set"), "set", "serializable")["valid"] is False


@pytest.mark.parametrize("faults", [(), ("stale",), ("double-win", "lose")])
def test_save_resume_results_are_unchanged(tmp_path, faults):
    ops = engine_sim.simulate(600, seed=2, faults=faults)
    workload = make_workload("save-resume")
    workload.measured_lag_ms = 12.5     # check_opts carries it to the checker on both paths
    d = run_dir_of(tmp_path, ops)
    a = old_path(d, workload, "read-committed")
    b = check_run(d, workload, "read-committed")
    assert timeless(a) == timeless(b)
    assert (b["valid"] is True) == (not faults)


def test_list_append_check_run_does_not_read_the_history_into_a_list(tmp_path, monkeypatch):
    import checkers.history as h
    d = run_dir_of(tmp_path, list_append_sim.simulate(200, seed=1)[0])

    def refuse(path):
        raise AssertionError("read_history called")
    monkeypatch.setattr(h, "read_history", refuse)
    assert check_run(d, make_workload("list-append"), "strict-serializable")["valid"] is True
