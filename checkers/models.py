"""The consistency-model lattice, and which anomalies each model forbids (from checkers.anomalies).

A model forbids the anomalies it proscribes directly (the table's `rules_out`) plus everything any
weaker model forbids. Session variants (`strong-session-X`) also forbid the `-process` form of X's
cycle anomalies (cycles that need a process-order edge); strong variants (`strong-X`,
`strict-serializable`) forbid both `-process` and `-realtime` forms (process order is a special
case of real-time order). A broken engine invariant (the table's `engine`) makes a run invalid
under every model; `not` / `also_not` still name only the models it rules out.

Public API (stable):
    MODELS                                  # every model name, weakest first
    ALL                                     # rules_out of an anomaly no model permits
    canonical(model) -> str                 # resolves aliases, raises ValueError if unknown
    forbidden_by(model) -> frozenset         # anomaly types the model forbids
    ruled_out_by(anomaly) -> frozenset       # models the anomaly rules out (unknown: all)
    forbids(model, anomaly) -> bool          # whether finding it makes a run under `model` invalid
    verdict(anomaly_types, model) -> (valid, not_list, also_not_list)
"""
from __future__ import annotations

# ALL and CYCLE_ANOMALIES (the anomalies with -process / -realtime forms) are this module's API too
from checkers.anomalies import ALL, CYCLE_ANOMALIES, TABLE, VARIANTS, is_engine  # noqa: F401


# Hasse diagram: model -> directly stronger models
_STRONGER = {
    "read-uncommitted": ["read-committed", "strong-session-read-uncommitted"],
    "read-committed": ["cursor-stability", "monotonic-atomic-view", "strong-session-read-committed"],
    "monotonic-atomic-view": ["snapshot-isolation", "repeatable-read"],
    "cursor-stability": ["repeatable-read", "snapshot-isolation"],
    "repeatable-read": ["serializable"],
    "snapshot-isolation": ["serializable", "strong-session-snapshot-isolation"],
    "serializable": ["strong-session-serializable"],
    "strong-session-read-uncommitted": ["strong-session-read-committed", "strong-read-uncommitted"],
    "strong-session-read-committed": ["strong-session-snapshot-isolation", "strong-read-committed"],
    "strong-session-snapshot-isolation": ["strong-session-serializable", "strong-snapshot-isolation"],
    "strong-session-serializable": ["strict-serializable"],
    "strong-read-uncommitted": ["strong-read-committed"],
    "strong-read-committed": ["strong-snapshot-isolation"],
    "strong-snapshot-isolation": ["strict-serializable"],
    "strict-serializable": [],
}

ALIASES = {
    "strong-serializable": "strict-serializable",
    "linearizable": "strict-serializable",
    "si": "snapshot-isolation",
    "rc": "read-committed",
    "ru": "read-uncommitted",
    "rr": "repeatable-read",
}

# session / strong variants of a base model: variant -> (base, suffixes of the cycles it also forbids)
_SESSION = tuple(v.suffix for v in VARIANTS if v.edge == "process")
_STRONG = tuple(v.suffix for v in VARIANTS)
_VARIANTS = {
    "strong-session-read-uncommitted": ("read-uncommitted", _SESSION),
    "strong-session-read-committed": ("read-committed", _SESSION),
    "strong-session-snapshot-isolation": ("snapshot-isolation", _SESSION),
    "strong-session-serializable": ("serializable", _SESSION),
    "strong-read-uncommitted": ("read-uncommitted", _STRONG),
    "strong-read-committed": ("read-committed", _STRONG),
    "strong-snapshot-isolation": ("snapshot-isolation", _STRONG),
    "strict-serializable": ("serializable", _STRONG),
}

_WEAKER = {m: [] for m in _STRONGER}
for _m, _ups in _STRONGER.items():
    for _u in _ups:
        _WEAKER[_u].append(_m)


def _topo_order():
    order, seen = [], set()

    def visit(m):
        if m in seen:
            return
        seen.add(m)
        for w in _WEAKER[m]:
            visit(w)
        order.append(m)
    for m in _STRONGER:
        visit(m)
    return order


MODELS = tuple(_topo_order())          # weakest first
_RANK = {m: i for i, m in enumerate(MODELS)}


def _closure(models, edges):
    out, todo = set(), list(models)
    while todo:
        m = todo.pop()
        if m not in out:
            out.add(m)
            todo.extend(edges[m])
    return out


def _up_closure(models):
    """The models and every stronger one."""
    return _closure(models, _STRONGER)


def _down_closure(model):
    """The model and every weaker one."""
    return _closure([model], _WEAKER)


def canonical(model: str) -> str:
    """The lattice name of `model` (aliases resolved). ValueError names the known models."""
    m = ALIASES.get(model, model)
    if m not in _STRONGER:
        raise ValueError(f"unknown consistency model {model!r} (known: {', '.join(MODELS)})")
    return m


def _direct(table):
    """model -> the anomaly names `table` says it proscribes directly (ALL: the weakest model).
    Words-only entries (rules_out None) are left out: they are judged as unknown names."""
    direct = {m: set() for m in MODELS}
    for a in table:
        if a.rules_out is not None:
            for m in ("read-uncommitted",) if a.rules_out == ALL else a.rules_out:
                direct[canonical(m)].add(a.name)
    return direct


def _compute_forbidden(table):
    """model -> every anomaly name it forbids, variants of the cycle anomalies included."""
    direct = _direct(table)
    cycles = {a.name for a in table if a.has_variants}
    forbidden = {}
    for m in MODELS:
        found = set()
        for w in _down_closure(m):
            found.update(direct[w])
            if w in _VARIANTS:
                base, suffixes = _VARIANTS[w]
                for b in _down_closure(base):
                    found.update(a + s for a in direct[b] & cycles for s in suffixes)
        forbidden[m] = frozenset(found)
    return forbidden


def _ruled_out(forbidden):
    """anomaly name -> the models that forbid it."""
    out = {}
    for m, names in forbidden.items():
        for a in names:
            out.setdefault(a, set()).add(m)
    return {a: frozenset(ms) for a, ms in out.items()}


_FORBIDDEN = _compute_forbidden(TABLE)
_RULED_OUT = _ruled_out(_FORBIDDEN)


def forbidden_by(model: str) -> frozenset:
    """Every anomaly type `model` forbids."""
    return _FORBIDDEN[canonical(model)]


def ruled_out_by(anomaly: str) -> frozenset:
    """Models that an anomaly of this type rules out. Unknown names rule out every model."""
    return _RULED_OUT.get(anomaly) or frozenset(MODELS)


def is_known(anomaly: str) -> bool:
    return anomaly in _RULED_OUT


def forbids(model: str, anomaly: str) -> bool:
    """Whether finding `anomaly` makes a run checked against `model` invalid: the model forbids it,
    or it is a broken engine invariant (invalid under every model)."""
    return canonical(model) in ruled_out_by(anomaly) or is_engine(anomaly)


def sort_models(models):
    return sorted(models, key=lambda m: (_RANK[m], m))


def verdict(anomaly_types, model: str = "strict-serializable"):
    """(valid, not, also_not) for a set of anomaly types checked against `model`.

    valid: no anomaly present is forbidden by `model` (anomalies it allows are still reported) and
    no engine invariant is broken. not: the weakest models the anomalies rule out; also_not: every
    other ruled-out model.
    """
    m = canonical(model)
    valid = not any(forbids(m, a) for a in anomaly_types)
    ruled = set()
    for a in anomaly_types:
        ruled |= ruled_out_by(a)
    # a model is "weakest ruled out" when none of its weaker neighbours is ruled out
    weakest = {r for r in ruled if not (_down_closure(r) - {r}) & ruled}
    return valid, sort_models(weakest), sort_models(ruled - weakest)
