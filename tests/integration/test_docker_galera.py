"""A 3-node MariaDB Galera cluster as containers (docker backend): replication, a partition and a
kill show the same effects as on the netns backend, a restart of the bootstrap node rejoins
instead of forming a second cluster, and teardown leaves no container and no network.
One cluster for the module (bring-up ~7 s, plus the image build when it is not cached yet)."""
import os
import random
import secrets
import time

import pymysql
import pytest

import nemesis
from harness.cluster import up
from tests.integration.docker_support import docker_objects, require_docker

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def galera():
    require_docker()
    cluster = up(db="galera", nodes=3, backend="docker", name=f"dktest-g{secrets.token_hex(2)}")
    try:
        sql(cluster, cluster.nodes[0], "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
        yield cluster
    finally:
        cluster.teardown()
    assert cluster.leftovers() == []
    assert docker_objects(cluster.name) == []


@pytest.fixture
def whole(galera):
    galera.wait_healthy(60)
    yield galera
    try:
        assert nemesis.verify_clean(galera) == []
        galera.wait_healthy(90)
    finally:
        for fault in ("partition", "kill"):
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


def test_nodes_are_containers_on_their_own_subnet(galera):
    ips = [n.ip for n in galera.nodes]
    assert all(ip.startswith("10.78.") for ip in ips) and len(set(ips)) == 3
    found = docker_objects(galera.name)
    assert sorted(f"container {n.container}" for n in galera.nodes) == \
        sorted(x for x in found if x.startswith("container"))
    assert f"network {galera.record['network']}" in found
    # run() executes inside the container: its hostname and its image's entry point are there
    out = galera.nodes[1].run(["sh", "-c", "hostname; test -x /usr/local/bin/harness-entrypoint && echo img"])
    assert out.stdout.split() == ["n2", "img"]


def test_write_on_one_node_is_read_on_another(whole):
    c = whole
    marker = random.randrange(10**9)
    sql(c, c.nodes[0], f"INSERT INTO t (v) VALUES ({marker})")
    # wsrep_sync_wait: the read waits until n3 has applied everything committed before it
    conn = c.connect(c.nodes[2], autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION wsrep_sync_wait = 1")
            cur.execute(f"SELECT COUNT(*) FROM t WHERE v = {marker}")
            assert cur.fetchone()[0] == 1
    finally:
        conn.close()


def test_partition_one_node_refuses_while_the_majority_serves(whole):
    c = whole
    fault = nemesis.FAULTS["partition-one"]()
    value = fault.start(c, random.Random(2))
    lone = next(n for n in c.nodes if len(value["grudge"].get(n.name, [])) == 2)
    rest = [n for n in c.nodes if n is not lone]
    try:
        wait_for(lambda: wsrep(c, rest[0], "wsrep_cluster_size") == "2", 30, "the majority to shrink to 2")
        sql(c, rest[1], "INSERT INTO t (v) VALUES (1)")  # the majority serves
        # the lone node notices on its own schedule (the majority's view can change first)
        wait_for(lambda: wsrep(c, lone, "wsrep_cluster_status") != "Primary", 30, "the lone node to leave Primary")
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
    wait_for(lambda: wsrep(c, survivor, "wsrep_cluster_size") == "2", 30, "the others to see size 2")
    for i in range(20):  # writes it misses, to be sent by IST
        sql(c, survivor, f"INSERT INTO t (v) VALUES ({i})")
    log_before = os.path.getsize(victim.log_path)
    assert fault.stop(c)["restarted"] == [victim.name]
    c.wait_healthy(60)
    with open(victim.log_path, errors="replace") as f:
        f.seek(log_before)
        log = f.read()
    assert "IST received" in log, log[-2000:]
    assert sql(c, victim, "SELECT COUNT(*) FROM t")[0][0] == sql(c, survivor, "SELECT COUNT(*) FROM t")[0][0]


def test_bootstrap_node_restarted_with_new_cluster_flag_rejoins(whole):
    """The entry point honours --wsrep-new-cluster only on a node's very first start: n1 killed
    and relaunched WITH the flag must rejoin the running cluster, not bootstrap a second one."""
    c = whole
    first = c.nodes[0]
    first.kill()
    wait_for(lambda: wsrep(c, c.nodes[1], "wsrep_cluster_size") == "2", 30, "the others to see size 2")
    log_before = os.path.getsize(first.log_path)
    c.dbdef.start(c, first, extra=["--wsrep-new-cluster"])
    c.wait_healthy(60)
    uuids = {wsrep(c, n, "wsrep_cluster_state_uuid") for n in c.nodes}
    assert len(uuids) == 1 and all(wsrep(c, n, "wsrep_cluster_size") == "3" for n in c.nodes)
    with open(first.log_path, errors="replace") as f:
        f.seek(log_before)
        assert "not bootstrapping again" in f.read()
