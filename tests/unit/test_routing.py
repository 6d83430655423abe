"""Routing policies and read/write splitting, on plain node objects."""
from collections import Counter
from types import SimpleNamespace as N

import pytest

from harness.errors import UsageError
from harness.routing import Router


def nodes(*roles):
    return [N(name=f"n{i}", role=r) for i, r in enumerate(roles, 1)]


def names(router, ops, process=0):
    return [router.pick(op, process).name for op in ops]


W = {"f": "txn"}
R = {"f": "txn", "readonly": True}


def test_primary_sends_everything_to_the_first_node():
    r = Router("primary", nodes("member", "member", "member"))
    assert set(names(r, [W, R] * 10)) == {"n1"}


def test_round_robin_takes_turns():
    r = Router("round-robin", nodes("member", "member", "member"))
    assert names(r, [W] * 6) == ["n1", "n2", "n3", "n1", "n2", "n3"]


def test_random_is_seeded_and_spreads():
    a = Router("random", nodes("member", "member", "member"), seed=4)
    b = Router("random", nodes("member", "member", "member"), seed=4)
    seq = names(a, [W] * 300)
    assert seq == names(b, [W] * 300)
    assert min(Counter(seq).values()) > 60


def test_sticky_pins_instances_keys_and_processes_through_a_mapping_table():
    r = Router("sticky", nodes("member", "member", "member"))
    first = {k: r.pick({"f": "txn", "key": k}, 0).name for k in range(6)}
    assert len(set(first.values())) == 3  # new keys are spread
    for _ in range(3):
        for k in range(6):
            assert r.pick({"f": "txn", "key": k}, 99).name == first[k]
    # the instance wins over the key
    inst = r.pick({"f": "save", "instance": "pi-1", "key": 0}, 0).name
    assert all(r.pick({"f": "resume", "instance": "pi-1", "key": k}, p).name == inst
               for k in range(6) for p in range(3))
    # no hint: per client process
    assert len({r.pick(W, 7).name for _ in range(5)}) == 1
    assert "instance:pi-1" in r.mapping() and "key:0" in r.mapping()


def test_failover_stays_until_the_node_fails_then_moves_on():
    ns = nodes("member", "member", "member")
    r = Router("failover", ns)
    assert set(names(r, [W] * 5)) == {"n1"}
    r.failed(ns[1])  # not the active node: nothing changes
    assert r.pick(W, 0).name == "n1"
    r.failed(ns[0])
    assert set(names(r, [W] * 5)) == {"n2"}
    r.failed(ns[1])
    r.failed(ns[2])
    assert r.pick(W, 0).name == "n1"  # wraps around


def test_standby_topology_splits_reads_and_writes():
    r = Router("round-robin", nodes("primary", "standby"))
    assert set(names(r, [W] * 6)) == {"n1"}          # writes only to the primary
    assert names(r, [R] * 4) == ["n1", "n2", "n1", "n2"]  # read-only txns follow the policy
    s = Router("sticky", nodes("primary", "standby", "standby"))
    assert {s.pick({"f": "txn", "key": k}, 0).name for k in range(9)} == {"n1"}
    f = Router("failover", nodes("primary", "standby"))
    f.failed(f.nodes[0])
    assert f.pick(W, 0).name == "n1"  # no writable node to fail over to
    assert f.pick(R, 0).name == "n2"  # reads move to the standby


def test_unknown_policy_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown routing 'closest'"):
        Router("closest", nodes("single"))
