"""The compact dependency graph (DepGraph.csr / sccs / inside_edges) and list-append's compact
writers: the same components, edges and verdicts as the plain forms they replace."""
import numpy as np
import pytest

from checkers import list_append as la
from checkers.graph import NO_TIME, OK, PROC, RT, RTB, RW, WR, WW, DepGraph, strong_components
from checkers.list_append import SpentWriters
from testing import list_append_sim as sim


def random_edges(rng, n, e):
    """Edges with repeated pairs and several types per pair, and a few cycles."""
    src = rng.integers(0, n, e)
    dst = rng.integers(0, n, e)
    typ = rng.choice([WW, WR, RW], e)
    src = np.concatenate([src, src[: e // 4]])   # the same pairs again, other types too
    dst = np.concatenate([dst, dst[: e // 4]])
    typ = np.concatenate([typ, rng.choice([WW, WR, RW], e // 4)])
    return src, dst, typ


def graph_of(src, dst, typ, n, rows=None):
    g = DepGraph(n)
    if rows:
        g.ROWS = rows
    for t in (WW, WR, RW):
        m = typ == t
        g.add(src[m], dst[m], t)
    return g


@pytest.mark.parametrize("rows", [None, 4, 7])
def test_csr_holds_each_pair_once_with_all_its_types(rows):
    rng = np.random.default_rng(3)
    src, dst, typ = random_edges(rng, 50, 400)
    indptr, indices, kinds = graph_of(src, dst, typ, 50, rows).csr()
    want = {}
    for s, d, t in zip(src.tolist(), dst.tolist(), typ.tolist()):
        want[(s, d)] = want.get((s, d), 0) | (1 << t)
    got = {}
    for s in range(50):
        for i in range(indptr[s], indptr[s + 1]):
            assert (s, int(indices[i])) not in got        # distinct pairs: scipy needs that
            got[(s, int(indices[i]))] = int(kinds[i])
    assert got == want


@pytest.mark.parametrize("rows", [None, 5])
def test_components_match_the_plain_scipy_path(rows):
    rng = np.random.default_rng(11)
    for n, e in ((30, 25), (60, 90), (200, 150)):
        src, dst, typ = random_edges(rng, n, e)
        want_labels, want_comps = strong_components(src, dst, n)
        labels, comps, _ = graph_of(src, dst, typ, n, rows).sccs()
        as_sets = lambda lab, cs: sorted(sorted(np.nonzero(lab == c)[0].tolist()) for c in cs)
        assert as_sets(labels, comps) == as_sets(want_labels, want_comps)


def test_inside_edges_are_every_edge_within_a_component_by_type():
    # 0 -ww-> 1 -wr-> 0 (a cycle), 1 -rw-> 2 (leaves it), 0 -rw-> 1 (a second type on a pair)
    g = DepGraph(3)
    g.add([0, 0], [1, 1], WW)
    g.add([1], [0], WR)
    g.add([1, 0], [2, 1], RW)
    labels, comps, csr = g.sccs()
    s, d, t = g.inside_edges(labels, comps, csr)
    assert sorted(zip(s.tolist(), d.tolist(), t.tolist())) == [(0, 1, WW), (0, 1, RW), (1, 0, WR)]


def test_process_edges_implied_by_real_time_come_back_inside_components():
    # two txns of process 0, a then b, b completed... a's session edge a -> b is implied by real
    # time (a completed before b was invoked), so it is not in the SCC pass; with b -ww-> a the
    # cycle a -> b -> a needs it (or the barrier path): it must be found either way
    types = np.array([OK, OK], np.int8)
    procs = np.array([0, 0])
    t_inv = np.array([0, 20])
    t_cmp = np.array([10, 30])
    g = DepGraph(2)
    g.add([1], [0], WW)
    g.add_session_and_realtime(types, procs, t_inv, t_cmp)
    labels, comps, csr = g.sccs()
    assert len(comps) == 1
    s, d, t = g.inside_edges(labels, comps, csr)
    edges = set(zip(s.tolist(), d.tolist(), t.tolist()))
    assert (0, 1, PROC) in edges and (1, 0, WW) in edges
    assert any(k == RT for k in t.tolist()) and any(k == RTB for k in t.tolist())


def test_process_edge_without_times_is_kept_for_the_scc_pass():
    # no times: real time orders nothing, so the session edge alone closes the cycle
    types = np.array([OK, OK], np.int8)
    g = DepGraph(2)
    g.add([1], [0], WW)
    g.add_session_and_realtime(types, np.array([0, 0]), np.full(2, NO_TIME), np.full(2, NO_TIME))
    labels, comps, csr = g.sccs()
    assert len(comps) == 1
    s, d, t = g.inside_edges(labels, comps, csr)
    assert sorted(zip(s.tolist(), d.tolist(), t.tolist())) == [(0, 1, PROC), (1, 0, WW)]


def test_acyclic_graph_has_no_components():
    g = DepGraph(4)
    g.add([0, 1, 2, 0], [1, 2, 3, 1], WW)
    assert g.sccs()[1] == []


def test_spent_writers_give_back_the_dicts():
    dicts = [{1: 5, 2: 7, 2 ** 40: 9}, {"a": 1, "b": 2}, {1.5: 3, 2: 4}, {2 ** 70: 1}, {}, {True: 6}]
    sw = SpentWriters()
    for kid, d in enumerate(dicts):
        sw.keep(kid, dict(d))
    for kid, d in enumerate(dicts):
        assert sw[kid] == d
    assert sw[1] is not None and sw[3][2 ** 70] == 1
    assert sw[5].get(1) == 6            # True == 1, as the dict had it
    assert sw[99] == {}                 # a key nobody appended to


@pytest.mark.parametrize("fault", [None] + list(sim.FAULTS))
def test_small_buckets_give_the_same_verdicts(monkeypatch, fault):
    """The bucketed CSR build over many buckets and slices judges histories as one bucket does."""
    ops, _ = sim.simulate(400, seed=5, concurrency=5, live_keys=4, max_appends=10, fault=fault)
    want = la.check(ops, "strict-serializable")
    monkeypatch.setattr(DepGraph, "ROWS", 8)
    monkeypatch.setattr(la, "READ_SLICE", 16)
    got = la.check(ops, "strict-serializable")
    assert got["valid"] == want["valid"]
    assert got["anomaly_types"] == want["anomaly_types"]
    assert got["stats"]["edges"] == want["stats"]["edges"]
    if fault is not None:
        assert got["valid"] is False
