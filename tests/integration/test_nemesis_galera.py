"""Faults against a real 3-node MariaDB Galera cluster (netns backend). One cluster for the module
(bring-up ~10 s); every test heals, waits until the cluster is whole and checks nothing is left."""
import os
import random
import secrets
import time

import pymysql
import pytest

import nemesis
from harness.cluster import up

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def galera():
    cluster = up(db="galera", nodes=3, name=f"nmtest-g{secrets.token_hex(2)}")
    try:
        sql(cluster, cluster.nodes[0], "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
        yield cluster
    finally:
        cluster.teardown()


@pytest.fixture
def whole(galera):
    """Each test starts from, and must leave, a whole and clean cluster."""
    galera.wait_healthy(60)
    yield galera
    try:
        assert nemesis.verify_clean(galera) == []
        galera.wait_healthy(90)
    finally:
        for fault in ("partition", "lag", "loss", "pause", "kill", "clock-skew"):
            nemesis.FAULTS[fault]().heal(galera)


def sql(cluster, node, statement, timeout=5.0):
    conn = cluster.connect(node, timeout=timeout, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()
    finally:
        conn.close()


def wsrep(cluster, node, var):
    return sql(cluster, node, f"SHOW STATUS LIKE '{var}'")[0][1]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except pymysql.MySQLError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_partition_one_node_refuses_while_the_majority_serves(whole):
    c = whole
    fault = nemesis.FAULTS["partition-one"]()
    value = fault.start(c, random.Random(2))
    lone = next(n for n in c.nodes if len(value["grudge"].get(n.name, [])) == 2)
    rest = [n for n in c.nodes if n is not lone]
    try:
        wait_for(lambda: wsrep(c, rest[0], "wsrep_cluster_size") == "2", 30, "the majority to shrink to 2")
        wait_for(lambda: wsrep(c, lone, "wsrep_cluster_status") == "non-Primary", 30,
                 "the lone node to notice it is in a minority")  # the harness still reaches it
        sql(c, rest[1], "INSERT INTO t (v) VALUES (1)")  # the majority serves
        with pytest.raises(pymysql.MySQLError) as err:
            sql(c, lone, "SELECT COUNT(*) FROM t")
        assert err.value.args[0] == 1047, err.value  # WSREP has not yet prepared node for application use
    finally:
        fault.stop(c)
    wait_for(lambda: all(wsrep(c, n, "wsrep_cluster_size") == "3" for n in c.nodes), 60, "size 3 after healing")


def test_kill_and_restart_rejoins_by_ist(whole):
    c = whole
    fault = nemesis.FAULTS["kill-one"]()
    victim = c.node(fault.start(c, random.Random(5))["nodes"][0])
    assert not victim.alive()
    survivor = next(n for n in c.nodes if n is not victim)
    for i in range(20):  # writes it misses, to be sent by IST
        sql(c, survivor, f"INSERT INTO t (v) VALUES ({i})")
    log_before = os.path.getsize(victim.log_path)
    assert fault.stop(c)["restarted"] == [victim.name]
    c.wait_healthy(60)
    with open(victim.log_path, errors="replace") as f:
        f.seek(log_before)
        log = f.read()
    assert "IST received" in log, log[-2000:]  # incremental: only the missed writes were sent
    assert sql(c, victim, "SELECT COUNT(*) FROM t")[0][0] == sql(c, survivor, "SELECT COUNT(*) FROM t")[0][0]


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
