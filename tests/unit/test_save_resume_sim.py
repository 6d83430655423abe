"""Property tests of the engine checker on simulated histories (bench/bench_save_resume.py): a
single-copy atomic engine database yields no finding for any seed, and each injected fault is
found as what it is, without dragging in findings of other kinds."""
import os
import sys

import pytest

# bench/bench_save_resume.py still simulates the engine's OLD encoding (own tables, client ids); the
# workload moved to Camunda's tables (issue 12) and its rewrite is unfinished. Until then the real-DB
# truth tests (tests/integration/test_save_resume.py) and the hand-made histories
# (tests/unit/test_save_resume_checker.py) carry the checker's no-false-positive evidence.
pytest.skip("engine simulator not yet ported to the Camunda-table encoding", allow_module_level=True)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
from bench_save_resume import simulate  # noqa: E402

from checkers import save_resume as sr  # noqa: E402


@pytest.mark.parametrize("seed", range(5))
def test_correct_engine_histories_have_no_findings(seed):
    h = simulate(1500, seed=seed, info_rate=0.03)
    assert sum(o["type"] == "info" for o in h) > 0
    assert sr.engine_findings(h) == {}


def test_correct_engine_history_is_valid_overall():
    pytest.importorskip("checkers.list_append")
    r = sr.check(simulate(3000, seed=11))
    assert r["valid"] is True and r["anomaly_types"] == [], r["anomaly_types"]
    assert r["stats"]["final_nodes"] == ["n1", "n2"]


@pytest.mark.parametrize("seed", range(3))
def test_lagging_replica_reads_are_stale_resumes_only(seed):
    f = sr.engine_findings(simulate(2000, seed=seed, faults=("stale",), stale_ms=40))
    assert set(f) == {"stale-resume"}


@pytest.mark.parametrize("seed", range(3))
def test_ignored_optimistic_lock_is_double_win(seed):
    f = sr.engine_findings(simulate(3000, seed=seed, faults=("double-win",)))
    assert "double-win" in f and "lost-save" in f  # the duplicate step: one of the two is lost
    assert not {"torn-state", "double-execution", "duplicate-instance"} & set(f)


def test_row_missing_on_one_node_is_lost_save_and_divergence():
    f = sr.engine_findings(simulate(2000, seed=4, faults=("lose",)))
    assert set(f) == {"lost-save", "divergence"}
    assert all("n2" in x["explanation"] for x in f["lost-save"])
    assert [x["table"] for x in f["divergence"]] == ["hi_actinst"]


def test_harness_check_judges_engine_histories_at_read_committed_by_default(tmp_path, capsys):
    import json

    from checkers.history import write_history
    from harness.cli import main
    path = tmp_path / "history.jsonl"
    write_history(path, simulate(500, seed=3))
    assert main(["check", str(path), "--workload", "save-resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "read-committed"
