"""A 3-node MariaDB Galera cluster as containers (docker backend): replication, a partition and a
kill show the same effects as on the netns backend, a restart of the bootstrap node rejoins
instead of forming a second cluster, and teardown leaves no container and no network.
One cluster for the module (bring-up ~7 s, plus the image build when it is not cached yet)."""
import os
import random
import secrets

import pytest

from tests.integration import support
from tests.integration.docker_support import docker_cluster, docker_objects
from tests.integration.support import (check_kill_and_restart_rejoins_by_ist,
                                       check_partition_one_node_refuses_while_the_majority_serves, sql,
                                       wait_for, wsrep)

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def galera():
    with docker_cluster("galera", f"dktest-g{secrets.token_hex(2)}", nodes=3) as cluster:
        sql(cluster, cluster.nodes[0], "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
        yield cluster


@pytest.fixture
def whole(galera):
    yield from support.whole(galera, ("partition", "kill"))


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
    check_partition_one_node_refuses_while_the_majority_serves(whole)


def test_kill_and_restart_rejoins_by_ist(whole):
    check_kill_and_restart_rejoins_by_ist(whole)


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
