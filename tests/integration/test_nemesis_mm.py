"""Database-native replication lag on MariaDB master-master (netns backend): the faults reach the
replica through the definition's capabilities (MASTER_DELAY, STOP SLAVE SQL_THREAD), show as
leftovers while on, and heal back to the cluster's own MASTER_DELAY."""
import random
import secrets
import time

import pytest

import nemesis
from harness.cluster import up
from tests.integration import support
from tests.integration.support import sql, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def mm():
    cluster = up(db="mariadb-mm", name=f"nmtest-m{secrets.token_hex(2)}", knobs={"master_delay": 1})
    try:
        sql(cluster, cluster.nodes[0], "CREATE TABLE reg (k INT PRIMARY KEY, v INT)")
        wait_for(lambda: sql(cluster, cluster.nodes[1], "SHOW TABLES") == (("reg",),), 15, "the table on n2")
        yield cluster
    finally:
        cluster.teardown()


@pytest.fixture
def whole(mm):
    yield from support.whole(mm, ("replication-lag",))


def sql_delay(c, node):
    return c.dbdef.replica_status(node).delay_s


def test_replication_lag_on_a_master_master_replica(whole):
    c = whole
    a, b = c.nodes
    assert [n.name for n in c.dbdef.replicas(c)] == ["n1", "n2"] and sql_delay(c, b) == 1
    for i, name in enumerate(["replication-delay", "replication-stop"]):
        fault = nemesis.FAULTS[name](delay_s=4, targets=["n2"])
        assert fault.applicable(c) is None
        assert fault.start(c, random.Random(0))["nodes"] == ["n2"]
        left = nemesis.verify_clean(c)
        assert left == (["n2: MASTER_DELAY = 4"] if name == "replication-delay" else
                        ["n2: replica SQL thread stopped"]), left
        sql(c, a, f"INSERT INTO reg VALUES ({i}, {i})")
        time.sleep(2.5)  # longer than the configured delay, shorter than the fault's
        assert sql(c, b, f"SELECT v FROM reg WHERE k = {i}") == (), "the replica applied it already"
        fault.stop(c)
        assert nemesis.verify_clean(c) == [] and sql_delay(c, b) == 1  # back to the knob, not 0
        wait_for(lambda: sql(c, b, f"SELECT v FROM reg WHERE k = {i}") == ((i,),), 15, "n2 to catch up")
    assert {s["sql_running"] for s in c.status()} == {"Yes"}
