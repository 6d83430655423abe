"""Property tests of the engine checker on simulated histories (testing/engine_sim.py): the save-resume
workload's ops, in its encoding (Camunda's tables, id blocks, deployment lock, exclusive jobs, final
dumps and next-day resumes), played against ONE atomic in-memory database. Such a history is correct:
for every seed and shape the checker must find nothing. Each planted fault must be found as what it
is, with no finding of another kind except those the fault logically implies (said per test)."""
import pytest

from checkers import save_resume as sr
from testing.engine_sim import simulate

CORRECT_SEEDS = range(30)
SHAPES = [dict(engines=3), dict(id_block=7), dict(lease_ms=15), dict(jobs_per_step=3, job_every=2),
          dict(instances=3, sessions=16)]


def kinds(h):
    return {k: len(v) for k, v in sr.engine_findings(h).items()}


def count(h, f, typ):
    return sum(o["f"] == f and o["type"] == typ for o in h)


@pytest.mark.parametrize("seed", CORRECT_SEEDS)
def test_correct_engine_histories_have_no_findings(seed):
    h = simulate(1500, seed=seed, info_rate=0.03)
    # the history exercises what the invariants judge: open ops, acquired and executed jobs, deploys
    assert count(h, "save", "info") + count(h, "execute", "info") > 0
    assert any(o["f"] == "acquire" and o["type"] == "ok" and o["value"]["jobs"] for o in h)
    assert count(h, "execute", "ok") > 0 and count(h, "deploy", "ok") > 0 and count(h, "correlate", "ok") > 0
    assert kinds(h) == {}


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("seed", range(3))
def test_correct_engine_histories_of_other_shapes_have_no_findings(shape, seed):
    """Three engines, tiny id blocks (a block per few commands), 15 ms leases (locks expire and are
    taken over), three jobs per service step every 2nd step, 16 sessions on 3 instances."""
    assert kinds(simulate(1500, seed=100 + seed, info_rate=0.03, **shape)) == {}


def test_correct_engine_history_is_valid_overall():
    pytest.importorskip("checkers.list_append")
    r = sr.check(simulate(3000, seed=11))
    assert r["valid"] is True and r["anomaly_types"] == [], r["anomaly_types"]
    assert r["stats"]["final_nodes"] == ["n1", "n2"]


@pytest.mark.parametrize("seed", range(3))
def test_lagging_replica_reads_are_stale_resumes(seed):
    # a resume that returns an older state also read an older REV_ of the execution row after a newer
    # one was acknowledged: the REV_ register check may see that stale read too (rev-nonlinearizable)
    f = kinds(simulate(2000, seed=seed, faults=("stale",), stale_ms=40))
    assert "stale-resume" in f and set(f) <= {"stale-resume", "rev-nonlinearizable"}, f


@pytest.mark.parametrize("seed", range(3))
def test_ignored_optimistic_lock_is_double_win(seed):
    # three planted duplicates; each puts two steps with one sequence number in the instance's
    # history: one of the two acknowledged saves is lost (lost-save), nothing else
    f = kinds(simulate(3000, seed=seed, faults=("double-win",)))
    assert set(f) == {"double-win", "lost-save"} and f["double-win"] == 3, f


@pytest.mark.parametrize("seed", range(3))
def test_row_missing_on_one_node_is_lost_save_and_divergence(seed):
    f = sr.engine_findings(simulate(2000, seed=seed, faults=("lose",)))
    assert set(f) == {"lost-save", "divergence"}, set(f)
    assert all("n2" in x["explanation"] for x in f["lost-save"])
    assert [x["table"] for x in f["divergence"]] == ["ACT_HI_ACTINST"]


@pytest.mark.parametrize("seed", range(3))
def test_stale_id_block_is_duplicate_id(seed):
    # two distinct jobs that got one ID_ (the first executed and deleted before the second was inserted)
    # are one job to anyone who names jobs by ID_: double-execution is implied, and only on those ids
    f = sr.engine_findings(simulate(2000, seed=seed, faults=("shared-ids",)))
    assert "duplicate-id" in f and set(f) <= {"duplicate-id", "double-execution"}, set(f)
    dup = {x["id"] for x in f["duplicate-id"] if "id" in x}
    assert {x["job"] for x in f.get("double-execution", [])} <= dup


@pytest.mark.parametrize("seed", range(3))
def test_unlocked_deployment_is_duplicate_definition(seed):
    f = sr.engine_findings(simulate(2000, seed=seed, faults=("unlocked-deploy",)))
    assert set(f) == {"duplicate-definition"}, set(f)


@pytest.mark.parametrize("seed", range(3))
def test_missed_exclusive_lock_is_exclusive_overlap(seed):
    f = sr.engine_findings(simulate(2000, seed=seed, faults=("exclusive",)))
    assert set(f) == {"exclusive-overlap"}, set(f)
    assert 1 <= len(f["exclusive-overlap"]) <= 3  # three planted (one may end before it is certain)
    assert all("exec" in x for x in f["exclusive-overlap"])  # job locks, not message subscriptions


@pytest.mark.parametrize("seed", range(3))
def test_halted_replication_is_found_with_what_it_implies(seed):
    # n2 stops applying half way: its final state lacks every later acknowledged step (lost-save on
    # n2), differs from n1 (divergence), and a returning user opening an instance there finds it old
    # (next-day-resume)
    f = sr.engine_findings(simulate(2000, seed=seed, faults=("halted",)))
    assert set(f) == {"replication-halted", "lost-save", "divergence", "next-day-resume"}, set(f)
    assert all("n2" in x["explanation"] for x in f["replication-halted"] + f["lost-save"])


def test_harness_check_judges_engine_histories_at_read_committed_by_default(tmp_path, capsys):
    import json

    from checkers.history import write_history
    from harness.cli import main
    path = tmp_path / "history.jsonl"
    write_history(path, simulate(500, seed=3))
    assert main(["check", str(path), "--workload", "save-resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "read-committed"
