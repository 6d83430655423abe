"""The dependency graph: leaving out edges real-time order implies keeps every SCC as it was."""
import numpy as np
from hypothesis import given, settings, strategies as st

from checkers.graph import FAIL, INFO, NO_TIME, OK, DepGraph, strong_components


def same_partition(a, b):
    """Two SCC labelings name the same sets of nodes (labels may differ)."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def random_graph(seed, n, n_edges):
    rng = np.random.default_rng(seed)
    types = rng.choice([OK, OK, OK, FAIL, INFO], n).astype(np.int8)
    t_inv = rng.integers(0, 1000, n)
    t_cmp = t_inv + rng.integers(1, 200, n)
    t_inv[rng.random(n) < 0.1] = NO_TIME           # some ops without times
    t_cmp[rng.random(n) < 0.1] = NO_TIME
    procs = rng.integers(-1, 4, n)
    g = DepGraph(n)
    g.add(rng.integers(0, n, n_edges), rng.integers(0, n, n_edges), rng.integers(0, 3, n_edges))
    g.add_session_and_realtime(types, procs, t_inv, t_cmp)
    return g


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(2, 60), st.integers(0, 120))
def test_scc_edges_keep_the_components(seed, n, n_edges):
    g = random_graph(seed, n, n_edges)
    src, dst, _ = g.edges()
    s2, d2 = g.scc_edges()
    full, _ = strong_components(src, dst, g.n_nodes)
    reduced, _ = strong_components(s2, d2, g.n_nodes)
    assert same_partition(full, reduced)
    assert len(s2) <= len(src)


def test_scc_edges_drop_what_real_time_implies_and_keep_the_rest():
    # T0 completes at 10 before T1 is invoked at 20: T0 -> T1 is implied (dropped);
    # T1 -> T0 points back in time (kept); T2 failed, so nothing leads to it through barriers
    types = np.array([OK, OK, FAIL], np.int8)
    t_inv = np.array([0, 20, 30])
    t_cmp = np.array([10, 40, 50])
    g = DepGraph(3)
    g.add([0, 1, 0], [1, 0, 2], 0)
    g.add_session_and_realtime(types, np.array([-1, -1, -1]), t_inv, t_cmp)
    s, d = g.scc_edges()
    data = {(a, b) for a, b in zip(s.tolist(), d.tolist()) if a < 3 and b < 3}
    assert data == {(1, 0), (0, 2)}
    # and the cycle T0 -> T1 -> T0 is still one component
    labels, comps = strong_components(s, d, g.n_nodes)
    assert labels[0] == labels[1] and len(comps) == 1
