"""Composed faults and whole-cluster crashes on a real 3-node Galera cluster (netns): everything
heals, nothing is left behind, the restart founds the cluster from the most advanced node."""
import random

import pytest

import nemesis
from nemesis.schedule import Schedule
from tests.integration import support
from tests.integration.support import sql

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def galera():
    yield from support.galera_with_table("cmtest")


@pytest.fixture
def whole(galera):
    yield from support.whole(galera, ("partition", "kill", "crash-in-partition"))


def count(c, node):
    return sql(c, node, "SELECT COUNT(*) FROM t")[0][0]


def test_partition_plus_kill_heals_everything(whole):
    c = whole
    ops = []
    s = Schedule(c, ["partition+kill"], 2.0, random.Random(4), ops.append, horizon=3.0)
    s.start()
    support.wait_for(lambda: any(op["f"] == "stop-partition+kill" and op["type"] == "info" for op in ops), 150,
                     "one start/stop of partition+kill")
    assert s.stop() == []
    assert nemesis.verify_clean(c) == []
    start = next(op for op in ops if op["f"] == "start-partition+kill" and op["type"] == "info")
    assert [p["fault"].split("-")[0] for p in start["value"]["parts"]] == ["partition", "kill"]
    c.wait_healthy(60)


def test_kill_all_rapid_restarts_from_the_most_advanced_node(whole):
    c = whole
    sql(c, c.nodes[0], "INSERT INTO t (v) VALUES (1)")
    before = count(c, c.nodes[0])
    fault = nemesis.make("kill-all-rapid:0.5")
    started = fault.start(c, random.Random(9))
    assert sorted(started["nodes"]) == ["n1", "n2", "n3"] and started["offsets_s"][-1] == 0.5
    assert not any(n.alive() for n in c.nodes)
    stopped = fault.stop(c)
    assert set(stopped["positions"]) == {"n1", "n2", "n3"} and stopped["founder"] in stopped["positions"]
    seqno = {n: int(p.rsplit(":", 1)[1]) for n, p in stopped["positions"].items()}
    assert seqno[stopped["founder"]] == max(seqno.values())
    assert 0 < stopped["restart_s"] <= stopped["kill_to_synced_s"]
    assert nemesis.verify_clean(c) == []
    assert all(count(c, n) == before for n in c.nodes)  # innodb_flush_log_at_trx_commit=1: nothing lost


def test_crash_in_partition_heals_and_restarts(whole):
    c = whole
    fault = nemesis.make("crash-in-partition")
    value = fault.start(c, random.Random(2))
    partition, kill = value["parts"]
    assert kill["nodes"] and all(n not in partition["grudge"] or len(partition["grudge"][n]) == 1
                                 for n in kill["nodes"])  # the majority side of 3 nodes
    assert [n.name for n in c.nodes if not n.alive()] == kill["nodes"]
    fault.stop(c)
    assert nemesis.verify_clean(c) == []
    c.wait_healthy(60)
