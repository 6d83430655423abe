"""Pure parts of the nemesis: partition grudges, netem/iptables rule building, the delayer's hold
queue, fault registry, and the schedule's bookkeeping and healing (with fault doubles)."""
import random
import threading
import time

import pytest

import nemesis
from nemesis import lag, loss, partition
from nemesis.base import Fault, majority, minority, pick
from nemesis.delayer import Delayer
from nemesis.schedule import Schedule

NAMES = ["n1", "n2", "n3", "n4", "n5"]


def symmetric(grudge):
    return all(a in grudge.get(b, []) for a, peers in grudge.items() for b in peers)


def test_one_and_primary_isolate_a_single_node():
    g = partition.one_grudge(NAMES[:3], random.Random(1))
    lone = [n for n, peers in g.items() if len(peers) == 2]
    assert len(lone) == 1 and symmetric(g)
    assert partition.primary_grudge(NAMES[:3], "n1") == {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7])
def test_majority_split_leaves_exactly_one_majority(n):
    g = partition.majority_grudge(NAMES[:n] + [f"m{i}" for i in range(n - 5)] if n > 5 else NAMES[:n],
                                  random.Random(n))
    sides = {tuple(sorted([a] + [b for b in g if b not in g[a] and b != a])) for a in g}
    sizes = sorted(len(s) for s in sides)
    assert len(sides) == 2 and sizes[-1] == (majority(n) if n > 2 else 1) and symmetric(g)


@pytest.mark.parametrize("n", [4, 5, 7])
def test_ring_every_node_sees_a_distinct_majority(n):
    names = [f"n{i}" for i in range(1, n + 1)]
    g = partition.ring_grudge(names, random.Random(3))
    views = [frozenset(set(names) - set(g[a])) for a in names]
    assert all(len(v) >= majority(n) for v in views)
    assert len(set(views)) == n and symmetric(g)
    assert all(g[a] for a in names), "every node must lose someone, or it is no partition"


def test_bridge_keeps_one_node_talking_to_both_halves():
    g = partition.bridge_grudge(NAMES, random.Random(4))
    bridges = [n for n, peers in g.items() if not peers]
    assert len(bridges) == 1 and symmetric(g)
    cut = {n for n, peers in g.items() if peers}
    assert len(cut) == 4 and all(len(g[n]) == 2 for n in cut)


def test_ring_needs_four_nodes():
    class C:
        nodes = [object()] * 3
    assert partition.PartitionRing().applicable(C) and partition.PartitionOne().applicable(C) is None


def test_pick_and_sizes():
    assert [minority(n) for n in (2, 3, 5)] == [1, 1, 2]
    assert [majority(n) for n in (2, 3, 5)] == [2, 2, 3]
    nodes = list(range(5))
    got = pick(random.Random(0), nodes, 3)
    assert len(got) == 3 and got == sorted(got)


class N:
    def __init__(self, name, ip):
        self.name, self.ip = name, ip


def test_netem_scripts_delay_chosen_egress_and_peer_traffic_to_them():
    a, b, c = N("n1", "10.77.1.11"), N("n2", "10.77.1.12"), N("n3", "10.77.1.13")
    s = lag.netem_scripts([a], [b, c], 100, 20, {"n1": "eth0", "n2": "eth0", "n3": "eth1"})
    assert s["n1"] == "tc qdisc replace dev eth0 root netem delay 100ms 20ms"
    assert "prio bands 4" in s["n3"] and "dev eth1" in s["n3"]
    assert "match ip dst 10.77.1.11/32 flowid 1:4" in s["n2"]
    assert "netem delay 100ms" in lag.netem_scripts([a], [], 100, 0, {"n1": "eth0"})["n1"]


def test_nfqueue_rules_queue_peer_input_and_all_output_but_lo():
    ins, outs = lag.nfqueue_rules([N("n2", "10.77.1.12")])
    assert ins == [["-s", "10.77.1.12", "-j", "NFQUEUE", "--queue-num", str(lag.QUEUE_NUM), "--queue-bypass"]]
    assert outs[0][:3] == ["!", "-o", "lo"] and "--queue-bypass" in outs[0]


def test_loss_rules_and_bad_probability():
    ins, outs = loss.loss_rules(0.25)
    assert ins[0][:3] == ["!", "-i", "lo"] and "0.25" in ins[0] and outs[0][:3] == ["!", "-o", "lo"]
    with pytest.raises(ValueError, match="probability"):
        loss.Loss(probability=1.5)


class FakePacket:
    def __init__(self, name, log):
        self.name, self.log = name, log

    def accept(self):
        self.log.append(self.name)


def test_delayer_holds_packets_for_the_delay_in_release_order():
    log = []
    d = Delayer(0.05, 0.0, random.Random(0))
    d.on_packet(FakePacket("a", log))
    d.on_packet(FakePacket("b", log))
    now = time.monotonic()
    d.release_due(now)
    assert log == [] and 0.0 < d.next_timeout(now) <= 0.05
    d.release_due(now + 0.06)
    assert log == ["a", "b"] and d.passed == 2
    d.on_packet(FakePacket("c", log))
    d.release_all()
    assert log == ["a", "b", "c"]


def test_delayer_jitter_stays_within_bounds():
    d = Delayer(0.1, 0.02, random.Random(1))
    t0 = 1000.0  # an explicit clock: a slow machine between calls must not widen the spread
    for i in range(200):
        d.on_packet(FakePacket(i, []), now=t0)
    waits = [at - t0 for at, _, _ in d.held]
    assert 0.08 <= min(waits) and max(waits) <= 0.12 and max(waits) - min(waits) > 0.02


def test_registry_and_parse_faults():
    for name in ("partition-one", "partition-majority", "partition-ring", "partition-bridge",
                 "partition-primary", "lag", "loss", "replication-lag", "kill", "kill-majority",
                 "pause", "clock-skew", "partition"):
        assert name in nemesis.FAULTS
    assert nemesis.parse_faults(" partition, kill ,") == ["partition", "kill"]
    with pytest.raises(ValueError, match="unknown nemesis partitoin"):
        nemesis.parse_faults("partitoin")


def test_family_picks_only_members_that_fit():
    class C:
        db = "galera"
        nodes = [N("n1", "1"), N("n2", "2"), N("n3", "3")]
    fam = nemesis.FAULTS["replication-lag"]()
    assert "async replica" in fam.applicable(C)
    assert nemesis.FAULTS["partition"]().applicable(C) is None


# -- schedule, with fault doubles -----------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.ops, self.lock = [], threading.Lock()

    def __call__(self, op):
        with self.lock:
            self.ops.append(op)


class Cluster:
    db = "fake"
    backend = "fake"
    nodes = []


def wait_ops(rec, pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pred(rec.ops):
        time.sleep(0.02)


def fake(name, fail_start=False, fail_stop=False, events=None):
    events = events if events is not None else []

    class Fake(Fault):
        family = name

        def start(self, cluster, rng):
            events.append(("start", name))
            if fail_start:
                raise RuntimeError("boom")
            return {"fault": name}

        def stop(self, cluster):
            events.append(("stop", name))
            if fail_stop:
                raise RuntimeError("stuck")
            return {"fault": name, "healed": True}

        def heal(self, cluster):
            events.append(("heal", name))
    Fake.name = name
    return Fake, events


@pytest.fixture
def registry(monkeypatch):
    def add(name, **kw):
        cls, events = fake(name, **kw)
        monkeypatch.setitem(nemesis.FAULTS, name, cls)
        return events
    monkeypatch.setattr(nemesis, "verify_clean", lambda cluster: [])
    return add


def test_schedule_alternates_start_and_stop_and_heals_every_kind_on_stop(registry):
    events = registry("fa")
    rec = Recorder()
    s = Schedule(Cluster(), ["fa"], 0.05, random.Random(0), rec)
    s.start()
    wait_ops(rec, lambda ops: sum(op["f"] == "stop-fa" for op in ops) >= 4)
    assert s.stop() == []
    fs = [(op["type"], op["f"]) for op in rec.ops]
    assert fs[:4] == [("invoke", "start-fa"), ("info", "start-fa"), ("invoke", "stop-fa"), ("info", "stop-fa")]
    starts = sum(1 for t, f in fs if t == "info" and f == "start-fa")
    stops = sum(1 for t, f in fs if t == "info" and f == "stop-fa")
    assert starts == stops >= 2
    assert events[-1] == ("heal", "fa") and s.active() == []
    assert any("verified clean" in n for n in s.notes)


def test_a_failing_start_is_recorded_and_healed_and_the_loop_goes_on(registry):
    events = registry("bad", fail_start=True)
    rec = Recorder()
    s = Schedule(Cluster(), ["bad"], 0.05, random.Random(0), rec)
    s.start()
    wait_ops(rec, lambda ops: sum(bool(op.get("error")) for op in ops) >= 2)
    s.stop()
    errs = [op for op in rec.ops if op.get("error")]
    assert errs and errs[0]["f"] == "start-bad" and "boom" in errs[0]["error"]
    assert events.count(("start", "bad")) >= 2 and ("heal", "bad") in events


def test_stop_in_the_middle_of_a_fault_stops_it_once_and_is_idempotent(registry):
    events = registry("long")
    rec = Recorder()
    s = Schedule(Cluster(), ["long"], 0.1, random.Random(0), rec)
    s.interval = 0.1
    s.start()
    deadline = time.monotonic() + 2
    while not s.active() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert s.active() == ["long"]
    s.stop()
    s.stop()
    assert events.count(("stop", "long")) == 1 and events.count(("heal", "long")) == 1
    assert rec.ops[-1]["f"] == "stop-long" and rec.ops[-1]["type"] == "info"


def test_failing_stop_falls_back_to_heal(registry):
    events = registry("sticky", fail_stop=True)
    s = Schedule(Cluster(), ["sticky"], 0.05, random.Random(0), Recorder())
    s.start()
    time.sleep(0.2)
    s.stop()
    assert ("heal", "sticky") in events


def test_schedule_rejects_faults_that_cannot_run_here():
    with pytest.raises(ValueError, match="cannot run on this galera cluster"):
        class C(Cluster):
            db = "galera"
        Schedule(C(), ["replication-lag"], 1.0, random.Random(0), Recorder())
    with pytest.raises(ValueError, match="unknown nemesis "):
        Schedule(Cluster(), ["nope"], 1.0, random.Random(0), Recorder())
    with pytest.raises(ValueError, match="interval"):
        Schedule(Cluster(), ["kill"], 0, random.Random(0), Recorder())


def test_same_seed_same_fault_sequence(registry):
    registry("x")
    registry("y")
    seqs = []
    for _ in range(2):
        rec = Recorder()
        s = Schedule(Cluster(), ["x", "y"], 0.02, random.Random(42), rec)
        s.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(op["type"] == "info" for op in rec.ops) < 10:
            time.sleep(0.02)
        s.stop()
        seqs.append([op["f"] for op in rec.ops if op["type"] == "info" and op["f"].startswith("start")][:5])
    assert seqs[0] == seqs[1] and len(seqs[0]) == 5
