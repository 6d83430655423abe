"""Property tests of checkers/linearizable.py: a simulated linearizable store is always valid, a
store with a planted stale read or lost write is always caught, and the zone test agrees with
the search on random unique-valued register histories (valid and not)."""
import random

import pytest

from checkers.linearizable import (check_ops, collect, search, search_eager, search_jit, zone_check,
                                   zones_apply)
from checkers.register_sim import simulate


def _histories(datatype, fault, count=150):
    for seed in range(count):
        rng = random.Random(seed * 7919 + len(datatype))
        yield seed, simulate(rng.randrange(5, 80), rng, processes=rng.randrange(1, 7),
                             keys=rng.choice([None, 1, 3]), datatype=datatype, fault=fault,
                             info_rate=rng.choice([0.0, 0.1, 0.3]))


@pytest.mark.parametrize("datatype", ["register", "cas-register"])
def test_linearizable_store_is_always_valid(datatype):
    for seed, hist in _histories(datatype, None):
        r = check_ops(hist, datatype)
        assert r["valid"] is True, (seed, r["anomalies"])


@pytest.mark.parametrize("datatype", ["register", "cas-register"])
@pytest.mark.parametrize("fault", ["stale-read", "lost-write"])
def test_planted_faults_are_always_found(datatype, fault):
    planted = 0
    for seed, hist in _histories(datatype, fault):
        if hist.planted:
            planted += 1
            r = check_ops(hist, datatype)
            assert r["valid"] is False, seed
            assert r["anomalies"]["nonlinearizable"][0]["explanation"]
    assert planted > 50   # the simulator did plant most of the time


def test_non_unique_values_valid_store_is_valid():
    for seed in range(60):
        rng = random.Random(seed)
        hist = simulate(rng.randrange(5, 200), rng, processes=5, keys=2, datatype="cas-register",
                        unique=False, values=3, info_rate=0.1)
        assert check_ops(hist)["valid"] is True, seed


def _random_register_history(rng):
    """Random intervals, unique written values, reads of random values: mostly not linearizable."""
    ops, nproc, open_, pid, written = [], rng.randrange(1, 5), {}, {}, 0
    for _ in range(rng.randrange(2, 22)):
        p = rng.randrange(nproc)
        proc = pid.setdefault(p, p)
        if p in open_:
            f, v = open_.pop(p)
            t = rng.choice(["ok"] * 6 + ["info", "fail"])
            if f == "read":
                t = "fail" if t == "fail" else "ok"
                v = rng.choice([None] + list(range(1, written + 2)))
            ops.append({"type": t, "process": proc, "f": f, "value": v})
            if t == "info":
                pid[p] = proc + 100
        else:
            f = rng.choice(["read", "write"])
            v = None
            if f == "write":
                written += 1
                v = written
            open_[p] = (f, v)
            ops.append({"type": "invoke", "process": proc, "f": f, "value": v})
    return ops


def test_zone_test_agrees_with_the_search():
    outcomes = set()
    for seed in range(3000):
        hist = _random_register_history(random.Random(seed))
        for ops in collect(hist, "register").values():
            assert zones_apply(ops)
            zones = zone_check(ops) is None
            assert zones == search(ops)[0], seed
            outcomes.add(zones)
    assert outcomes == {True, False}


def _brute_force(ops, state=None):
    """Linearizable? by trying every order (and every subset of the ops that never completed)."""
    from checkers.linearizable import CAS, MISMATCH, NEVER, READ, WRITE

    def legal(op, s):
        if op.kind == READ:
            return s == op.a, s
        if op.kind == WRITE:
            return True, op.a
        if op.kind == CAS:
            return s == op.a, op.b
        if op.kind == MISMATCH:
            return s != op.a, s
        return True, (op.b if s == op.a else s)

    def go(rest, s):
        if all(o.ret is NEVER for o in rest):
            return True
        for o in rest:
            if any(p.ret < o.call for p in rest if p is not o):
                continue   # something that completed before o began is still unplaced
            ok, ns = legal(o, s)
            others = [p for p in rest if p is not o]
            if ok and go(others, ns):
                return True
            if o.ret is NEVER and go(others, s):   # it never took effect
                return True
        return False
    return go(list(ops), state)


def _random_cas_history(rng):
    ops, nproc, open_, pid = [], rng.randrange(1, 5), {}, {}
    for _ in range(rng.randrange(2, 14)):
        p = rng.randrange(nproc)
        proc = pid.setdefault(p, p)
        if p in open_:
            f, v = open_.pop(p)
            t = rng.choice(["ok"] * 4 + ["info", "fail"])
            if f == "read":
                t = "ok"
                v = rng.choice([None, 0, 1, 2])
            ops.append({"type": t, "process": proc, "f": f, "value": v})
            if t == "info":
                pid[p] = proc + 100
        else:
            f = rng.choice(["read", "write", "cas", "cas"])
            v = None if f == "read" else rng.randrange(3) if f == "write" else \
                [rng.choice([None, 0, 1, 2]), rng.randrange(3)]
            open_[p] = (f, v)
            ops.append({"type": "invoke", "process": proc, "f": f, "value": v})
    return ops


@pytest.mark.parametrize("decide", [search, search_jit, search_eager], ids=lambda f: f.__name__)
def test_search_agrees_with_brute_force_on_small_cas_histories(decide):
    """Neither search order nor its pruning rules (legal reads first, identical unknown ops,
    unknown ops without effect, unknown ops only when stuck) ever changes a verdict."""
    outcomes = set()
    for seed in range(2500):
        (ops,) = collect(_random_cas_history(random.Random(seed))).values() or [[]]
        if not ops:
            continue
        expected = _brute_force(ops)
        assert decide(ops)[0] == expected, seed
        outcomes.add(expected)
    assert outcomes == {True, False}


def test_many_unknown_cas_ops_are_decided_within_the_budget():
    """A 1,000-op cas history with ~37 unknown ops sent the just-in-time order past 2.5 M
    configurations (unknown); handed on to Porcupine's order it is decided."""
    h = simulate(1000, random.Random(0), processes=10, keys=1, datatype="cas-register", info_rate=0.05)
    (ops,) = collect(h).values()
    assert sum(o.ret == float("inf") for o in ops) > 30
    assert search(ops, budget=500_000)[0] is True
    bad = simulate(1000, random.Random(0), processes=10, keys=1, datatype="cas-register",
                   info_rate=0.05, fault="stale-read")
    (ops,) = collect(bad).values()
    assert search(ops, budget=500_000)[0] is False
