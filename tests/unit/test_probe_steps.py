"""The probe's test definitions and runner against the in-memory store of known behaviour
(harness/probe/memory.py): one node reproduces Hermitage's published rows, two nodes whose locks
are their own let the engine probes fail cross-node while the same node prevents them."""
import time

import pytest

from harness.probe import hermitage, probe, rc_equivalent
from harness.probe.definitions import BY_NAME, ENGINE_TESTS, HERMITAGE_TESTS, S
from harness.probe.memory import MemoryBackend, MemoryCluster
from harness.probe.placement import Placement, assign, placements
from harness.probe.runner import PREVENTED, run_variant
from harness.probe.steps import ProbeTest, Variant

BLOCK = 0.05  # the store answers in microseconds: a step still running after 50 ms is blocked


@pytest.fixture(scope="module")
def one_node():
    return probe(MemoryCluster(("n1",)), backend=MemoryBackend, block_timeout=BLOCK)


@pytest.fixture(scope="module")
def two_nodes():
    return probe(MemoryCluster(("n1", "n2")), backend=MemoryBackend, block_timeout=BLOCK,
                 isolations=["read-committed"])


def row(result, isolation, placement="same-node", settled=False):
    return next(r for r in result.rows if r["isolation"] == isolation and r["placement"] == placement
                and r["settled"] == settled)


# the memory store's levels and the published rows they must reproduce (its repeatable read is
# snapshot isolation, as PostgreSQL's; its read uncommitted reads dirty, as InnoDB's)
PUBLISHED_FOR = {"read-uncommitted": ("mysql", "read-uncommitted"),
                 "read-committed": ("postgres", "read-committed"),
                 "repeatable-read": ("postgres", "repeatable-read"),
                 "serializable": ("postgres", "serializable")}


@pytest.mark.parametrize("isolation", list(PUBLISHED_FOR))
def test_one_node_reproduces_hermitages_row(one_node, isolation):
    results = row(one_node, isolation)["results"]
    seen = {t: hermitage.SYMBOL[results[t]] for t in HERMITAGE_TESTS}
    assert seen == hermitage.PUBLISHED[PUBLISHED_FOR[isolation]]


def test_dirty_reads_are_seen_at_read_uncommitted_and_not_at_read_committed(one_node):
    ru, rc = row(one_node, "read-uncommitted"), row(one_node, "read-committed")
    assert ru["results"]["G1a"] == "occurs" and "= 101" in ru["evidence"]["G1a"]["why"]
    assert rc["results"]["G1a"] == "prevented"
    # G0 waits at every level: the second writer queues behind the first one's row lock
    assert all(row(one_node, iso)["results"]["G0"] == "waits-then-prevented" for iso in PUBLISHED_FOR)


def test_engine_probes_hold_on_one_node_at_read_committed(one_node):
    rc = row(one_node, "read-committed")
    assert {t: rc["results"][t] for t in ENGINE_TESTS} == dict.fromkeys(ENGINE_TESTS, "waits-then-prevented")
    steps = rc["evidence"]["for-update"]["variants"]["deployment-lock"]["steps"]
    assert [s["step"] for s in steps if s.get("blocked")] == ["T2 lock('deployment.lock')"]
    assert rc_equivalent(one_node) == (True, [])


def test_snapshot_taken_before_the_lock_lets_for_update_deploy_twice(one_node):
    # repeatable read: T2's snapshot predates T1's commit, so after the lock it reads the old maximum
    rr = row(one_node, "repeatable-read")
    assert rr["results"]["for-update"] == "occurs"
    assert "deployed version 2" in rr["evidence"]["for-update"]["why"]


def test_cross_node_locks_and_keys_do_not_hold_while_same_node_they_do(two_nodes):
    same, cross = row(two_nodes, "read-committed"), row(two_nodes, "read-committed", "n1/n2")
    for test in ENGINE_TESTS:
        assert same["results"][test] in PREVENTED, test
        assert cross["results"][test] == "occurs", test
    final = cross["evidence"]["for-update"]["variants"]["deployment-lock"]["final"]
    assert [v for _, _, v in final["n1"]] == [1, 2, 2]
    ok, reasons = rc_equivalent(two_nodes)
    assert not ok and "for-update occurs at n1/n2, n1/n2 settled" in reasons


def test_settled_cross_node_reads_see_the_other_nodes_commit(two_nodes):
    # at once, T3 on n2 never sees T1's commit on n1 and the nodes end apart; settled, they agree
    at_once, settled = row(two_nodes, "read-committed", "n1/n2"), row(two_nodes, "read-committed", "n1/n2", True)
    assert at_once["results"]["G0"] == "occurs" and "disagree" in at_once["evidence"]["G0"]["why"]
    assert settled["results"]["G0"] in PREVENTED


def test_a_step_blocked_forever_is_cancelled_and_rolled_back():
    test = ProbeTest("stuck", "T1 never ends", {"test": [(1, 10), (2, 20)]}, "test", (
        Variant("stuck", (S("T1", "update", 1, 11), S("T2", "update", 1, 12), S("T2", "commit")),
                lambda v: None),))
    backend = MemoryBackend(MemoryCluster(("n1",)))
    start = time.monotonic()
    r = run_variant(backend, test, test.variants[0], {"T1": "n1", "T2": "n1"}, "read-committed",
                    block_timeout=BLOCK, cancel_timeout=2)
    assert time.monotonic() - start < 2
    blocked, queued = r.steps[1], r.steps[2]
    assert blocked["blocked"] and blocked["error_kind"] == "cancelled"
    assert queued["queued"] and "skipped" in queued
    assert r.final == {"n1": [(1, 10), (2, 20)]}  # T1 rolled back at the end, T2 never wrote
    assert r.outcome == "waits-then-prevented"


def test_a_session_that_cannot_connect_is_an_error_cell_not_a_crash():
    class NoSecondNode(MemoryBackend):
        def open(self, session, node, isolation):
            if node == "n2":
                raise ConnectionRefusedError("n2 is down")
            return super().open(session, node, isolation)

    r = probe(MemoryCluster(("n1", "n2")), backend=NoSecondNode, block_timeout=BLOCK,
              isolations=["read-committed"], tests=["P4"])
    cross = row(r, "read-committed", "n1/n2")
    assert cross["results"]["P4"] == "error" and "n2 is down" in cross["evidence"]["P4"]["why"]
    assert row(r, "read-committed")["results"]["P4"] == "occurs"


def test_placements_and_routing_of_writers_to_the_primary():
    members = MemoryCluster(("n1", "n2", "n3"))
    assert [p.label for p in placements(members)] == ["same-node", "n1/n2", "n1/n3", "n2/n3"]
    roles = {"n1": "primary", "n2": "standby"}
    g1a = BY_NAME["G1a"].variants[0]          # T2 only reads: it may go to the standby
    p4 = BY_NAME["P4"].variants[0]            # T2 writes: the load balancer sends it to the primary
    pair = Placement("n1/n2", ("n1", "n2"))
    assert assign(pair, g1a, roles) == {"T1": "n1", "T2": "n2"}
    assert assign(pair, p4, roles) == {"T1": "n1", "T2": "n1"}


def _obs(i, step, seq, label=None, result=None, **extra):
    return {"i": i, "step": step, "node": "n1", "label": label, "done": True, "result": result, "seq": seq, **extra}


# Recorded on mariadb-mm at serializable, same node (probe.json): T3's read of row 1 blocked on T2's
# lock and returned T2's 12 while T2's commit() was running; its thread recorded its end (seq 5)
# before the committing thread recorded the commit's (seq 7). Judged "read before T2 committed"
# (OTV occurs) before the fix; a read released by the commit saw committed data.
RELEASED_BY_COMMIT = [
    _obs(0, "T1 update(1, 11)", 0, result=1), _obs(1, "T1 update(2, 19)", 1, result=1),
    _obs(2, "T2 update(1, 12)", 2, result=1, blocked=True, finished_during_step=3),
    _obs(3, "T1 commit()", 3),
    _obs(4, "T3 read(1) -> a", 5, label="a", result=12, blocked=True, finished_during_step=7),
    _obs(5, "T2 update(2, 18)", 4, result=1),
    _obs(6, "T3 read(2) -> b", 6, label="b", result=18, queued=True, finished_during_step=7),
    _obs(7, "T2 commit()", 7),
    _obs(8, "T3 read(2) -> c", 8, label="c", result=18), _obs(9, "T3 read(1) -> d", 9, label="d", result=12),
    _obs(10, "T3 commit()", 10)]


def test_a_read_released_by_the_writers_commit_read_committed_data():
    from harness.probe.definitions import _otv
    from harness.probe.runner import View
    v = View(RELEASED_BY_COMMIT, {"T1", "T2", "T3"}, {"n1": [[1, 12], [2, 18]]})
    assert v.finished_after_commit("a", "T2") and v.finished_after_commit("b", "T2")
    assert _otv(v) is None
    # the same read finished during an earlier step (T2 still open): a dirty read, still caught
    dirty = [dict(o, finished_during_step=5) if o["label"] == "a" else o for o in RELEASED_BY_COMMIT]
    dirty = [dict(o, seq=4.5) if o["label"] == "a" else o for o in dirty]
    assert _otv(View(dirty, {"T1", "T2", "T3"}, {"n1": [[1, 12], [2, 18]]})).startswith("T3 read row 1 = 12 (a)")
