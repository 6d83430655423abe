"""Composed faults (a+b), the schedule as data, kill-all-rapid's plan, the Galera founder choice."""
import random
import time

import pytest

import nemesis
from harness.cluster.dbs.galera import most_advanced
from harness.spec import TestSpec
from harness.errors import UsageError
from nemesis.base import Fault
from nemesis.compose import Composed, MajoritySideKill
from nemesis.kill import KillAllRapid
from nemesis.schedule import Schedule
from tests.unit.test_nemesis import Cluster, Recorder


def test_parse_faults_composes_validates_and_takes_the_window():
    assert nemesis.parse_faults("partition+kill, kill-all-rapid:0.5,crash-in-partition") == [
        "partition+kill", "kill-all-rapid:0.5", "crash-in-partition"]
    for bad, message in (("partition+partition-one", "two partition faults"),
                         ("kill+kill-all-rapid", "two kill faults"),
                         ("partition+nope", "unknown nemesis nope"),
                         ("kill:1", "takes no parameter"),
                         ("kill-all-rapid:x", "kill window in seconds"),
                         ("kill-all-rapid:-1", "0..60 seconds")):
        with pytest.raises(ValueError, match=message):
            nemesis.parse_faults(bad)
    TestSpec(db="galera", workload="set", nemesis=["partition+kill"]).validate()  # the spec asks the same place
    with pytest.raises(UsageError, match="two kill faults"):
        TestSpec(db="galera", workload="set", nemesis=["kill+kill-one"]).validate()
    assert nemesis.make("kill-all-rapid:0.25").window == 0.25 and nemesis.make("kill-all-rapid").window == 1.0


def part(name, rank, events, fail_start=False):
    return part_cls(name, rank, events, fail_start)()


def part_cls(name, rank, events, fail_start=False):
    class P(Fault):
        family = name
        stop_rank = rank

        def start(self, cluster, rng):
            events.append(("start", name))
            if fail_start:
                raise RuntimeError("boom")
            return {"fault": name}

        def stop(self, cluster):
            events.append(("stop", name))
            return {"fault": name, "healed": True}

        def heal(self, cluster):
            events.append(("heal", name))
    P.name = name
    return P


def test_composition_starts_in_order_and_stops_network_first():
    events = []
    c = Composed([part("kill", 4, events), part("partition", 0, events)])
    assert (c.name, c.family) == ("kill+partition", "kill+partition")
    assert c.start(Cluster(), random.Random(0)) == {"fault": "kill+partition", "parts": [{"fault": "kill"},
                                                                                       {"fault": "partition"}]}
    assert c.stop(Cluster())["parts"] == [{"fault": "partition", "healed": True}, {"fault": "kill", "healed": True}]
    assert events == [("start", "kill"), ("start", "partition"), ("stop", "partition"), ("stop", "kill")]
    events.clear()
    c.heal(Cluster())
    assert events == [("heal", "partition"), ("heal", "kill")]  # heal heals everything


def test_a_part_that_fails_to_start_heals_the_whole_composition():
    events = []
    c = Composed([part("partition", 0, events), part("kill", 4, events, fail_start=True)])
    with pytest.raises(RuntimeError, match="boom"):
        c.start(Cluster(), random.Random(0))
    assert events[-2:] == [("heal", "partition"), ("heal", "kill")]


def test_one_op_pair_per_transition_with_both_values(monkeypatch):
    events = []
    monkeypatch.setitem(nemesis.FAULTS, "pa", part_cls("pa", 0, events))
    monkeypatch.setitem(nemesis.FAULTS, "ki", part_cls("ki", 4, events))
    monkeypatch.setattr(nemesis, "verify_clean", lambda cluster: [])
    rec = Recorder()
    s = Schedule(Cluster(), ["pa+ki"], 0.05, random.Random(0), rec)
    s.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sum(op["f"] == "stop-pa+ki" for op in rec.ops) < 2:
        time.sleep(0.01)
    s.stop()
    starts = [op for op in rec.ops if op["f"] == "start-pa+ki" and op["type"] == "info"]
    stops = [op for op in rec.ops if op["f"] == "stop-pa+ki" and op["type"] == "info"]
    assert starts and len(starts) == len(stops)
    assert starts[0]["value"] == {"fault": "pa+ki", "parts": [{"fault": "pa"}, {"fault": "ki"}]}
    assert [p["fault"] for p in stops[0]["value"]["parts"]] == ["pa", "ki"]


def test_the_plan_is_data_fixed_by_the_seed(monkeypatch):
    monkeypatch.setitem(nemesis.FAULTS, "x", part_cls("x", 0, []))
    monkeypatch.setitem(nemesis.FAULTS, "y", part_cls("y", 0, []))

    def info(seed, horizon=60.0):
        return Schedule(Cluster(), ["x", "y"], 10.0, random.Random(seed), Recorder(), horizon=horizon).info()
    a, b, other = info(7), info(7), info(8)
    assert a == b and a["plan"] != other["plan"]
    assert [(st["start_s"], st["stop_s"]) for st in a["plan"]] == [(10.0, 20.0), (30.0, 40.0), (50.0, 60.0)]
    assert {st["fault"] for st in info(7, 1000)["plan"]} == {"x", "y"}
    assert info(7, horizon=15.0)["plan"] == [a["plan"][0]] and info(7, horizon=5.0)["plan"] == []
    s = Schedule(Cluster(), ["x", "y"], 10.0, random.Random(7), Recorder())
    assert s.step_rng(3).random() == s.step_rng(3).random() != s.step_rng(4).random()


def test_the_loop_runs_the_plan(monkeypatch):
    events = []
    for name in ("x", "y"):
        monkeypatch.setitem(nemesis.FAULTS, name, part_cls(name, 0, events))
    monkeypatch.setattr(nemesis, "verify_clean", lambda cluster: [])
    rec = Recorder()
    s = Schedule(Cluster(), ["x", "y"], 0.03, random.Random(5), rec)
    s.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sum(op["type"] == "info" and op["f"].startswith("stop") for op in rec.ops) < 6:
        time.sleep(0.01)
    s.stop()
    ran = [op["f"][len("start-"):] for op in rec.ops if op["type"] == "info" and op["f"].startswith("start")]
    assert ran[:6] == [st["fault"] for st in s.info()["plan"][:6]]


class N:
    def __init__(self, name, index):
        self.name, self.index, self.killed = name, index, False

    def kill(self, sig=None):
        self.killed = True


def test_kill_all_rapid_kills_every_node_once_within_the_window():
    c = Cluster()
    c.nodes = [N(f"n{i}", i) for i in range(1, 6)]
    f = KillAllRapid(0.2)
    plan = f.plan(c, random.Random(3))
    offsets = [o for o, _ in plan]
    assert sorted(n.name for _, n in plan) == ["n1", "n2", "n3", "n4", "n5"]
    assert offsets == sorted(offsets) and offsets[0] == 0.0 and offsets[-1] == 0.2
    assert [n.name for _, n in plan] == [n.name for _, n in f.plan(c, random.Random(3))]
    t0 = time.monotonic()
    value = f.start(c, random.Random(3))
    assert 0.2 <= time.monotonic() - t0 < 1.0 and all(n.killed for n in c.nodes)
    assert value["window_s"] == 0.2 and len(value["offsets_s"]) == 5


def test_crash_in_partition_kills_the_majority_side():
    c = Cluster()
    c.nodes = [N(f"n{i}", i) for i in range(1, 4)]

    class P:
        last_grudge = {"n1": ["n3"], "n2": ["n3"], "n3": ["n1", "n2"]}
    value = MajoritySideKill(P()).start(c, random.Random(0))
    assert value["nodes"] == ["n1", "n2"] and [n.killed for n in c.nodes] == [True, True, False]
    assert nemesis.make("crash-in-partition").applicable(c) is None
    c.nodes = c.nodes[:2]
    assert "at least 3" in nemesis.make("crash-in-partition").applicable(c)


def test_the_most_advanced_node_founds_the_cluster():
    order = ["n1", "n2", "n3"]
    u = "0d654e10-925a-4f88-9da5-d77920e28203"
    assert most_advanced({"n1": f"{u}:5", "n2": f"{u}:9", "n3": f"{u}:7"}, order) == "n2"
    assert most_advanced({"n1": f"{u}:9", "n2": f"{u}:9", "n3": f"{u}:9"}, order) == "n1"  # equals: first
    assert most_advanced({"n1": None, "n2": f"{u}:-1", "n3": None}, order) == "n2"


def test_kill_hands_an_all_down_cluster_to_the_whole_cluster_restart():
    calls = []

    class Db:
        def restart_all(self, cluster, timeout):
            calls.append(timeout)
            for n in cluster.nodes:
                n.up = True
            return {"founder": "n2", "positions": {}, "restart_s": 1.0}

    class Node(N):
        up = True

        def kill(self, sig=None):
            self.up = False

        def alive(self):
            return self.up

        def start(self, wait=True):
            raise AssertionError("one node at a time is not how a dead cluster comes back")
    c = Cluster()
    c.dbdef, c.nodes = Db(), [Node(f"n{i}", i) for i in range(1, 4)]
    f = KillAllRapid(0)
    f.start(c, random.Random(0))
    value = f.stop(c)
    assert calls and value["founder"] == "n2" and sorted(value["restarted"]) == ["n1", "n2", "n3"]
    assert "kill_to_synced_s" in value and all(n.alive() for n in c.nodes)
