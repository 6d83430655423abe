"""Find and classify dependency cycles: G0, G1c, G-single, G-nonadjacent, G2-item (+ -process, -realtime).

Only strongly connected components with 2+ nodes can hold cycles, so everything here works on the
(usually tiny) part of the graph inside nontrivial SCCs. For each anomaly class we first narrow
the candidates with one scipy SCC pass over the edges the class may use (a start edge can only lie
on such a cycle if both its ends share a component of that subgraph), then run a breadth-first
search from the start edge back to its source, over states (node, rw edges so far, last edge rw?)
so the class constraints hold on the path found. Once every class is searched (the verdict is
settled), what is left of the budget goes to the shortest proof per class, as Elle gives it: any
cycle of two txns first (found directly on the edge arrays, real-time order included), else a
BFS from each further start edge that explores only paths shorter than the best cycle so far. Barrier edges (real-time order) cost 0 and the
txn->barrier step costs 1, so lengths count real steps. The search is bounded: a global budget of
visited states; when it runs out the classes not searched are reported as truncated, never a hang.

The classes, their shapes and their order are the cycle entries of checkers/anomalies.py.
Classification is by the cycle actually found (anomalies.classify), the first class that admits it:
    no rw edge, only ww (+process/realtime)  -> G0      one rw edge              -> G-single
    no rw edge, some wr                       -> G1c     2+ rw, none adjacent      -> G-nonadjacent
    2+ rw edges, two adjacent                 -> G2-item
suffix -realtime if a real-time edge is needed, else -process if a process edge is.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from checkers.anomalies import CYCLES, VARIANTS, classify
from checkers.graph import PROC, RT, RTB, RW, WR, WW, strong_components

DEFAULT_BUDGET = 2_000_000     # visited search states over the whole check
STARTS_PER_COMPONENT = 3        # start edges tried per class per component (shortest kept)
MAX_CYCLES_PER_CLASS = 100      # components searched per class before we stop collecting

# edge kinds of the anomaly table -> graph edge types (real time: the txn -> barrier edge first,
# then the barrier chain and barrier -> txn edges)
_EDGE = {"ww": (WW,), "wr": (WR,), "rw": (RW,), "process": (PROC,), "realtime": (RT, RTB)}
# (suffix, extra edge types, start edge type): a variant may use the edges of those before it
LAYERS = (("", (), None),) + tuple(
    (v.suffix, tuple(t for w in VARIANTS[:i + 1] for t in _EDGE[w.edge]), _EDGE[v.edge][0])
    for i, v in enumerate(VARIANTS))
# class name, allowed data edges, start edge type for the plain layer, min rw, max rw, nonadjacent,
# classes whose finding makes this one pointless
CLASSES = tuple((a.name, tuple(_EDGE[k][0] for k in a.cycle.edges), _EDGE[a.cycle.start][0], a.cycle.min_rw,
                 a.cycle.max_rw, a.cycle.nonadjacent, a.implied_by) for a in CYCLES)


class _Component:
    """Local CSR view of the edges inside one nontrivial SCC."""

    def __init__(self, nodes, src, dst, typ):
        self.nodes = nodes                       # local -> global node id
        order = np.lexsort((typ, src))
        self.src = src[order]
        self.dst = dst[order].tolist()
        self.typ = typ[order].tolist()
        self.indptr = np.searchsorted(self.src, np.arange(len(nodes) + 1)).tolist()


def find_cycles(graph, n_txn, budget=DEFAULT_BUDGET, skip=()):
    """Search every nontrivial SCC of `graph` (a checkers.graph.DepGraph; consumed) for each cycle
    class.

    Nodes >= n_txn are barrier nodes.
    skip: anomaly classes already known (their variants are not searched again).
    Returns (cycles, info): cycles is a list of {"type", "nodes": [txn ids], "kinds": [edge kinds]}
    where nodes[i] -> nodes[i+1] (cyclically) has kind kinds[i]; info reports the search effort.
    """
    info = {"sccs": 0, "largest_scc": 0, "states_visited": 0, "budget": budget, "truncated": []}
    labels, comps, csr = graph.sccs()
    if not comps:
        return [], info
    s, d, t = graph.inside_edges(labels, comps, csr)
    del csr
    sizes = np.bincount(labels)[comps]
    info["sccs"] = int(len(comps))
    info["largest_scc"] = int(sizes.max())

    # local numbering of nodes inside nontrivial SCCs
    nodes = np.unique(np.concatenate([s, d]))
    loc_s = np.searchsorted(nodes, s)
    loc_d = np.searchsorted(nodes, d)
    n_loc = len(nodes)
    comp_of = labels[nodes]
    state = {"left": budget}
    found = []
    improvable = []          # (index in found, its start-edge candidates, search rules, class)
    found_classes = set(skip)
    search_graph = _Component(np.arange(n_loc), loc_s, loc_d, t.astype(np.int64))

    for layer, (suffix, extra, layer_start) in enumerate(LAYERS):
        if suffix and not np.any(t == layer_start):
            continue
        # suffixes of this layer and the ones before it: a class found there already rules out
        # every model its variant here would
        sfxs = [sfx for sfx, _, _ in LAYERS[:layer + 1]]
        for name, data_types, plain_start, min_rw, max_rw, nonadj, implied_by in CLASSES:
            full = name + suffix
            # e.g. G-nonadjacent / G2-item add nothing where G-single (resp. either) was found
            if any(c + sfx in found_classes for c in (name,) + implied_by for sfx in sfxs):
                continue
            if state["left"] <= 0:
                info["truncated"].append(full)
                continue
            allowed = set(data_types) | set(extra)
            start_type = plain_start if not suffix else layer_start
            amask = np.isin(t, list(allowed))
            if not amask.any():
                continue
            sub_labels, sub_comps = strong_components(loc_s[amask], loc_d[amask], n_loc)
            if not sub_comps:
                continue
            sub_ok = np.zeros(sub_labels.max() + 1, dtype=bool)
            sub_ok[sub_comps] = True
            cand = np.nonzero((t == start_type) & (sub_labels[loc_s] == sub_labels[loc_d])
                              & sub_ok[sub_labels[loc_s]])[0]
            if len(cand) == 0:
                continue
            # group candidates by top-level SCC; try a few per SCC, keep the shortest cycle
            cand_comp = comp_of[loc_s[cand]]
            order = np.argsort(cand_comp, kind="stable")
            cand, cand_comp = cand[order], cand_comp[order]
            bounds = np.nonzero(np.diff(cand_comp))[0] + 1
            groups = np.split(cand, bounds)
            n_found = 0
            for group in groups:
                if n_found >= MAX_CYCLES_PER_CLASS:
                    break
                best = None
                for e in group[:STARTS_PER_COMPONENT]:
                    if state["left"] <= 0:
                        break
                    path = _search(search_graph, int(loc_s[e]), int(loc_d[e]), int(t[e]),
                                   allowed, min_rw, max_rw, nonadj, state)
                    if path is not None and (best is None or len(path) < len(best)):
                        best = path
                if state["left"] <= 0 and best is None:
                    info["truncated"].append(full)
                    break
                if best is None:
                    continue
                cyc = _compress(best, nodes, n_txn)
                if cyc is None:
                    continue
                cyc["type"] = classify(cyc["kinds"])
                found.append(cyc)
                found_classes.add(cyc["type"])
                n_found += 1
                improvable.append((len(found) - 1, group, (allowed, min_rw, max_rw, nonadj), full))
    # second pass, with what is left of the budget (verdicts are settled): the shortest proof
    # per class, as Elle gives it: first any cycle of two txns, then a bounded BFS from every
    # other start edge of the component that only looks for cycles shorter than the best so far
    two = _TwoCycles(s, d, t, n_txn)
    for fi, group, rules, full in improvable:
        best = found[fi]
        short = two.find(best["type"], rules, full)
        if short is not None:
            found[fi] = dict(short, type=best["type"])
            continue
        for e in group[STARTS_PER_COMPONENT:]:
            if len(best["nodes"]) <= 2 or state["left"] <= 0:
                break
            path = _search(search_graph, int(loc_s[e]), int(loc_d[e]), int(t[e]), *rules, state,
                           limit=len(best["nodes"]) - 2)
            cyc = _compress(path, nodes, n_txn) if path is not None else None
            if cyc is not None and len(cyc["nodes"]) < len(best["nodes"]) \
                    and classify(cyc["kinds"]) == best["type"]:
                best = found[fi] = dict(cyc, type=best["type"])
    info["states_visited"] = budget - max(state["left"], 0)
    info["truncated"] = sorted(set(info["truncated"]))
    return found, info


def cycle_check_result(anomalies, model, stats, search, counts):
    """The result of a cycle-based check: `unknown` when nothing was committed, or when the search
    budget ran out before a class `model` forbids was searched; the search effort is reported
    whenever there was a component to search."""
    from checkers.api import build_result
    if stats["ok"] == 0:
        unknown = "no committed transactions to check"
    else:
        unknown = truncation_reason(search, model)
    extra = {"search": search} if search["sccs"] else {}
    return build_result(anomalies, model, stats, unknown_reason=unknown, counts=dict(counts), **extra)


def truncation_reason(info, model):
    """Why a verdict is unknown when the search budget ran out before a class `model` forbids
    was searched (None when every unsearched class is one the model allows anyway)."""
    from checkers.models import forbidden_by
    missed = [c for c in info.get("truncated", ()) if c in forbidden_by(model)]
    if not missed:
        return None
    return ("cycle search stopped at its budget (" + str(info["budget"]) + " states) before "
            + ", ".join(missed) + " could be searched")


def _search(g, u, v, t0, allowed, min_rw, max_rw, nonadj, state, limit=None):
    """Shortest path v -> u closing a cycle with start edge u -> v (type t0) under the class rules.

    Returns a list of (node, edge type into next node) pairs for the whole cycle starting at u,
    or None. States: (node, rw count capped, last edge was rw). With `limit`, only paths of at
    most that many txn steps are explored (barrier hops are free).
    """
    cap = max_rw if max_rw is not None else min_rw
    c0 = 1 if t0 == RW else 0
    if max_rw is not None and c0 > max_rw:
        return None
    start_rw = t0 == RW
    s0 = (v, min(c0, cap), start_rw)
    parent = {s0: None}
    dist = {s0: 0} if limit is not None else None
    dq = deque([s0])
    indptr, dst, typ = g.indptr, g.dst, g.typ
    left = state["left"]
    goal = None
    while dq:
        left -= 1
        if left <= 0:
            break
        st = dq.popleft()
        x, c, last_rw = st
        if x == u and st is not s0 and c >= min_rw and not (nonadj and last_rw and start_rw):
            goal = st
            break
        for k in range(indptr[x], indptr[x + 1]):
            et = typ[k]
            if et not in allowed:
                continue
            is_rw = et == RW
            if is_rw and nonadj and last_rw:
                continue
            nc = c + 1 if is_rw else c
            if max_rw is not None and nc > max_rw:
                continue
            ns = (dst[k], min(nc, cap), is_rw if et != RTB else last_rw)
            if ns in parent:
                continue
            if dist is not None:
                d = dist[st] + (et != RTB)
                if d > limit:
                    continue
                dist[ns] = d
            parent[ns] = (st, et)
            if et == RTB:
                dq.appendleft(ns)   # zero-cost hop along the barrier chain
            else:
                dq.append(ns)
    state["left"] = left
    if goal is None:
        return None
    steps = []
    st = goal
    while parent[st] is not None:
        prev, et = parent[st]
        steps.append((prev[0], et))
        st = prev
    steps.reverse()
    return [(u, t0)] + steps


_KIND = {WW: "ww", WR: "wr", RW: "rw", PROC: "process"}


def _compress(path, nodes, n_txn):
    """Turn a local path of (node, edge type) into txn nodes and kinds, merging barrier chains."""
    out_nodes, kinds = [], []
    i = 0
    glob = [int(nodes[x]) for x, _ in path]
    while i < len(path):
        x, et = glob[i], path[i][1]
        if x >= n_txn:
            i += 1
            continue
        out_nodes.append(x)
        if et == RT:
            kinds.append("realtime")
        else:
            kinds.append(_KIND[et])
        i += 1
    if len(out_nodes) < 2:
        return None
    return {"nodes": out_nodes, "kinds": kinds}


class _TwoCycles:
    """Cycles of exactly two txns, found directly on the edge arrays: a -> b by a txn edge, and
    b -> a by a txn edge or by real-time order (b completed before a was invoked)."""

    def __init__(self, src, dst, typ, n_txn):
        self.n = n_txn
        self.src, self.dst, self.typ = src, dst, typ
        self._pairs = None

    def _build(self):
        n, src, dst, typ = self.n, self.src, self.dst, self.typ
        direct = (src < n) & (dst < n) & (typ != RT) & (typ != RTB)
        keys = src[direct].astype(np.int64) * n + dst[direct]
        uniq, inv = np.unique(keys, return_inverse=True)
        mask = np.zeros(len(uniq), np.int64)
        np.bitwise_or.at(mask, inv, np.left_shift(1, typ[direct].astype(np.int64)))
        a, b = uniq // n, uniq % n
        rev = b * n + a
        pos = np.minimum(np.searchsorted(uniq, rev), max(len(uniq) - 1, 0))
        back = np.where(len(uniq) > 0, uniq[pos] == rev, False) if len(uniq) else np.zeros(0, bool)
        m2 = np.where(back, mask[pos] if len(uniq) else 0, 0)
        # real time, from the barrier edges: txn -> its barrier; barrier -> each txn invoked after it
        bar_of = np.full(n, np.iinfo(np.int64).max, np.int64)
        entry = np.full(n, -1, np.int64)
        rt = typ == RT
        bar_of[src[rt]] = dst[rt]
        rtb = (typ == RTB) & (dst < n)
        entry[dst[rtb]] = src[rtb]
        before = bar_of[b] <= entry[a]          # b completed before a was invoked
        m2 = m2 | np.where(before, 1 << RT, 0)
        self._pairs = (a, b, mask, m2)

    def find(self, kind, rules, full):
        """The first two-txn cycle of class `kind` under the search rules, or None."""
        allowed, min_rw, max_rw, nonadj = rules
        if nonadj:
            return None                      # two rw edges of a 2-cycle are always adjacent
        if self._pairs is None:
            self._build()
        a, b, m1, m2 = self._pairs
        if not len(a):
            return None
        kinds = [k for k in (WW, WR, RW, PROC, RT) if k in allowed]
        for k1 in kinds:
            if k1 == RT:
                continue                     # real time only closes the cycle (b -> a)
            for k2 in kinds:
                names = [_KIND.get(k1, "realtime"), _KIND.get(k2, "realtime")]
                if classify(names) != kind:
                    continue
                hit = np.nonzero(((m1 >> k1) & 1).astype(bool) & ((m2 >> k2) & 1).astype(bool))[0]
                if len(hit):
                    i = int(hit[0])
                    return {"nodes": [int(a[i]), int(b[i])], "kinds": names}
        return None
