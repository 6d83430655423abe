"""Shared by the integration tests: one-statement SQL, waiting for a condition, the "whole and
clean around every test" fixture body, and the Galera fault checks both backends must pass."""
import os
import random
import time

import pymysql
import pytest

import nemesis


def sql(cluster, node, statement, timeout=5.0):
    """Run one statement on `node` as the harness user (autocommit): its rows, None when it has none."""
    conn = cluster.connect(node, timeout=timeout, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def wait_for(pred, timeout, what):
    """Until pred() holds (a MariaDB error counts as not yet); AssertionError naming `what` after timeout s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except pymysql.MySQLError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def the_standby(cluster):
    return next(n for n in cluster.nodes if n.role == "standby")


def galera_with_table(prefix):
    """A module fixture's body: a 3-node Galera with table t (id auto-increment, v), torn down after."""
    import secrets

    from harness.cluster import up
    cluster = up(db="galera", nodes=3, name=f"{prefix}-g{secrets.token_hex(2)}")
    try:
        sql(cluster, cluster.nodes[0], "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
        yield cluster
    finally:
        cluster.teardown()


def whole(cluster, faults, healthy_after=True):
    """A fixture's body: the cluster is whole before the test; after it no fault may have left a
    trace (asserted), and every fault family in `faults` is healed whatever happened."""
    cluster.wait_healthy(60)
    yield cluster
    try:
        assert nemesis.verify_clean(cluster) == []
        if healthy_after:
            cluster.wait_healthy(90)
    finally:
        for fault in faults:
            nemesis.FAULTS[fault]().heal(cluster)


# -- Galera: what a fault must do, on any backend ----------------------------------------------
def wsrep(cluster, node, var):
    return sql(cluster, node, f"SHOW STATUS LIKE '{var}'")[0][1]


def check_partition_one_node_refuses_while_the_majority_serves(c):
    """Table t (id INT PRIMARY KEY AUTO_INCREMENT, v INT) must exist."""
    fault = nemesis.FAULTS["partition-one"]()
    value = fault.start(c, random.Random(2))
    lone = next(n for n in c.nodes if len(value["grudge"].get(n.name, [])) == 2)
    rest = [n for n in c.nodes if n is not lone]
    try:
        wait_for(lambda: wsrep(c, rest[0], "wsrep_cluster_size") == "2", 30, "the majority to shrink to 2")
        sql(c, rest[1], "INSERT INTO t (v) VALUES (1)")  # the majority serves
        # the lone node notices on its own schedule (the majority's view can change first);
        # the harness still reaches it
        wait_for(lambda: wsrep(c, lone, "wsrep_cluster_status") != "Primary", 30, "the lone node to leave Primary")
        with pytest.raises(pymysql.MySQLError) as err:
            sql(c, lone, "SELECT COUNT(*) FROM t")
        assert err.value.args[0] == 1047, err.value  # WSREP has not yet prepared node for application use
    finally:
        fault.stop(c)
    wait_for(lambda: all(wsrep(c, n, "wsrep_cluster_size") == "3" for n in c.nodes), 60, "size 3 after healing")


def check_kill_and_restart_rejoins_by_ist(c):
    """Table t (id INT PRIMARY KEY AUTO_INCREMENT, v INT) must exist."""
    fault = nemesis.FAULTS["kill-one"]()
    victim = c.node(fault.start(c, random.Random(5))["nodes"][0])
    assert not victim.alive()
    survivor = next(n for n in c.nodes if n is not victim)
    wait_for(lambda: wsrep(c, survivor, "wsrep_cluster_size") == "2", 30, "the others to see size 2")
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
