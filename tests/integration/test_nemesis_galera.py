"""Faults against a real 3-node MariaDB Galera cluster (netns backend). One cluster for the module
(bring-up ~10 s); every test heals, waits until the cluster is whole and checks nothing is left."""
import random
import time

import pytest

import nemesis
from tests.integration import support
from tests.integration.support import (check_kill_and_restart_rejoins_by_ist,
                                       check_partition_one_node_refuses_while_the_majority_serves, sql)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def galera():
    yield from support.galera_with_table("nmtest")


@pytest.fixture
def whole(galera):
    """Each test starts from, and must leave, a whole and clean cluster."""
    yield from support.whole(galera, ("partition", "lag", "loss", "pause", "kill", "clock-skew"))


def test_partition_one_node_refuses_while_the_majority_serves(whole):
    check_partition_one_node_refuses_while_the_majority_serves(whole)


def test_kill_and_restart_rejoins_by_ist(whole):
    check_kill_and_restart_rejoins_by_ist(whole)


def test_pause_of_one_node_stalls_writes_on_the_others(whole):
    c = whole
    sql(c, c.nodes[0], "INSERT INTO t (v) VALUES (0)")
    t0 = time.monotonic()
    sql(c, c.nodes[0], "INSERT INTO t (v) VALUES (0)")
    baseline = time.monotonic() - t0
    fault = nemesis.PauseOne()
    value = fault.start(c, random.Random(0))
    paused = c.node(value["nodes"][0])
    other = next(n for n in c.nodes if n is not paused)
    try:
        t0 = time.monotonic()
        sql(c, other, "INSERT INTO t (v) VALUES (1)", timeout=30)
        stalled = time.monotonic() - t0
    finally:
        fault.stop(c)
    assert baseline < 0.5 and stalled > 1.0, (baseline, stalled)  # held until the paused node is evicted


def test_kill_all_nodes_then_the_cluster_recovers_whole(whole):
    c = whole
    fault = nemesis.FAULTS["kill-all"]()
    assert fault.start(c, random.Random(0))["nodes"] == ["n1", "n2", "n3"]
    assert not any(n.alive() for n in c.nodes)
    fault.stop(c)
    c.wait_healthy(60)
    sql(c, c.nodes[1], "INSERT INTO t (v) VALUES (7)")


def test_lag_on_one_node_slows_every_commit(whole):
    c = whole

    def commit_s(node):
        t0 = time.monotonic()
        sql(c, node, "INSERT INTO t (v) VALUES (2)", timeout=10)
        return time.monotonic() - t0
    base = min(commit_s(c.nodes[0]) for _ in range(3))
    fault = nemesis.Lag(delay_ms=150, jitter_ms=0, targets=["n3"])
    assert fault.start(c, random.Random(0))["method"] == "nfqueue"
    try:
        lagged = min(commit_s(c.nodes[0]) for _ in range(3))
    finally:
        fault.stop(c)
    # replication waits on n3: at least one round trip through its delayed links (2 x 150 ms)
    assert lagged > 0.25 and lagged > base + 0.2, (base, lagged)


def test_clock_skew_moves_only_that_servers_clock(whole):
    c = whole
    fault = nemesis.ClockSkew(targets=["n2"])
    offset = fault.start(c, random.Random(4))["offsets_s"]["n2"]
    try:
        c.wait_healthy(60)
        skew = float(sql(c, c.node("n2"), "SELECT UNIX_TIMESTAMP(NOW(6))")[0][0]) - time.time()
        other = float(sql(c, c.node("n1"), "SELECT UNIX_TIMESTAMP(NOW(6))")[0][0]) - time.time()
    finally:
        fault.stop(c)
    assert abs(skew - offset) < 2 and abs(other) < 2, (offset, skew, other)


def test_schedule_on_galera_heals_everything(whole):
    from nemesis.schedule import Schedule
    c = whole
    ops = []
    s = Schedule(c, ["partition", "pause", "loss"], 1.0, random.Random(11), ops.append)
    s.start()
    time.sleep(4.5)
    assert s.stop() == []
    assert nemesis.verify_clean(c) == []
    assert any("verified clean" in n for n in s.notes)
    c.wait_healthy(60)
    assert [op["f"] for op in ops if op["type"] == "info"][:2] == \
        [ops[1]["f"], ops[1]["f"].replace("start", "stop")]
