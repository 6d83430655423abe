"""The consistency-model lattice and which anomalies each model forbids.

A model forbids the anomalies it proscribes directly plus everything any weaker model forbids.
Session variants (`strong-session-X`) also forbid the `-process` form of X's cycle anomalies
(cycles that need a process-order edge); strong variants (`strong-X`, `strict-serializable`)
forbid both `-process` and `-realtime` forms (process order is a special case of real-time order).

Public API (stable):
    MODELS                                  # every model name, weakest first
    canonical(model) -> str                 # resolves aliases, raises ValueError if unknown
    forbidden_by(model) -> frozenset         # anomaly types the model forbids
    ruled_out_by(anomaly) -> frozenset       # models the anomaly rules out
    verdict(anomaly_types, model) -> (valid, not_list, also_not_list)
    register_anomaly(name, weakest_models)   # for other checkers' own anomaly names
    register_anomaly(name, ALL)              # forbidden by every model (e.g. corrupt data, lost saves)
"""
from __future__ import annotations

ALL = "all"

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

# Cycle anomalies get -process / -realtime forms.
CYCLE_ANOMALIES = ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")

# Anomalies that corrupt the data itself: no isolation level permits them (garbage-read: a read
# shows a value no transaction wrote).
_EVERY_MODEL = ["duplicate-elements", "incompatible-order", "future-read", "cyclic-versions",
                "garbage-read"]

# What each base model proscribes directly (plus what weaker models forbid).
_DIRECT = {
    "read-uncommitted": ["G0"] + _EVERY_MODEL,
    "read-committed": ["G1a", "G1b", "G1c", "dirty-update"],
    # Elle's internal (a read that disagrees with the txn's own earlier read or appends) is
    # proscribed from read atomic up, as in Elle: read committed allows non-repeatable reads
    "monotonic-atomic-view": ["internal"],
    "cursor-stability": ["lost-update"],
    "repeatable-read": ["G-single", "G-nonadjacent", "G2-item"],
    "snapshot-isolation": ["G-single", "G-nonadjacent"],
    "serializable": ["G2-item"],
}
# session / strong variants of a base model: (variant prefix, base, suffixes)
_VARIANTS = {
    "strong-session-read-uncommitted": ("read-uncommitted", ("-process",)),
    "strong-session-read-committed": ("read-committed", ("-process",)),
    "strong-session-snapshot-isolation": ("snapshot-isolation", ("-process",)),
    "strong-session-serializable": ("serializable", ("-process",)),
    "strong-read-uncommitted": ("read-uncommitted", ("-process", "-realtime")),
    "strong-read-committed": ("read-committed", ("-process", "-realtime")),
    "strong-snapshot-isolation": ("snapshot-isolation", ("-process", "-realtime")),
    "strict-serializable": ("serializable", ("-process", "-realtime")),
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


def _compute_forbidden():
    forbidden = {}
    for m in MODELS:
        direct = set()
        for w in _down_closure(m):
            direct.update(_DIRECT.get(w, ()))
            if w in _VARIANTS:
                base, suffixes = _VARIANTS[w]
                base_forbids = set()
                for b in _down_closure(base):
                    base_forbids.update(_DIRECT.get(b, ()))
                for a in base_forbids:
                    if a in CYCLE_ANOMALIES:
                        direct.update(a + s for s in suffixes)
        forbidden[m] = direct
    return forbidden


_FORBIDDEN = _compute_forbidden()
_EXTRA = {}   # registered anomaly name -> set of models that rule it out


def canonical(model: str) -> str:
    """The lattice name of `model` (aliases resolved). ValueError names the known models."""
    m = ALIASES.get(model, model)
    if m not in _STRONGER:
        raise ValueError(f"unknown consistency model {model!r} (known: {', '.join(MODELS)})")
    return m


def register_anomaly(name: str, weakest_models) -> None:
    """Declare which models an anomaly name of your own rules out.

    `weakest_models`: the weakest models that forbid it (every stronger model forbids it too),
    or `ALL` ("all") when no model permits it (lost data, a wrong total, a lost save...).
    Re-registering the same name replaces the declaration. Built-in names cannot be redefined.
    """
    if any(name in f for f in _FORBIDDEN.values()):
        raise ValueError(f"anomaly {name!r} is built in")
    if weakest_models == ALL:
        weakest_models = ["read-uncommitted"]
    if isinstance(weakest_models, str):
        weakest_models = [weakest_models]
    _EXTRA[name] = frozenset(_up_closure([canonical(m) for m in weakest_models]))


def forbidden_by(model: str) -> frozenset:
    """Every anomaly type `model` forbids (built-in and registered)."""
    m = canonical(model)
    extra = {a for a, ms in _EXTRA.items() if m in ms}
    return frozenset(_FORBIDDEN[m] | extra)


def ruled_out_by(anomaly: str) -> frozenset:
    """Models that an anomaly of this type rules out. Unknown names rule out every model."""
    if anomaly in _EXTRA:
        return _EXTRA[anomaly]
    models = frozenset(m for m in MODELS if anomaly in _FORBIDDEN[m])
    return models if models else frozenset(MODELS)


def is_known(anomaly: str) -> bool:
    return anomaly in _EXTRA or any(anomaly in f for f in _FORBIDDEN.values())


def sort_models(models):
    return sorted(models, key=lambda m: (_RANK[m], m))


def verdict(anomaly_types, model: str = "strict-serializable"):
    """(valid, not, also_not) for a set of anomaly types checked against `model`.

    valid: no anomaly present is forbidden by `model` (anomalies it allows are still reported).
    not: the weakest models the anomalies rule out; also_not: every other ruled-out model.
    """
    m = canonical(model)
    ruled = set()
    for a in anomaly_types:
        ruled |= ruled_out_by(a)
    valid = m not in ruled
    # a model is "weakest ruled out" when none of its weaker neighbours is ruled out
    weakest = {r for r in ruled if not (_down_closure(r) - {r}) & ruled}
    return valid, sort_models(weakest), sort_models(ruled - weakest)
