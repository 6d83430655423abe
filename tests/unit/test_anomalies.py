"""The anomaly table (checkers/anomalies.py) and what is derived from it: each model's forbidden
set, the verdict, the cycle classes and classification, the report's words. The OLD_* values are the
declarations and results of the code before the table (models._DIRECT, register_anomaly calls,
save_resume.REGISTRATION, cycles.CLASSES / classify): the table must reproduce them exactly."""
import itertools

import pytest

from checkers import anomalies, cycles, models
from checkers.anomalies import ALL, Anomaly, Cycle
from checkers.graph import PROC, RT, RTB, RW, WR, WW

# the weakest models each anomaly ruled out before the table (verdict([a], ...)[1]), every name
# any model forbade once every checker had registered its own
OLD_WEAKEST = {
    'G-nonadjacent': ['repeatable-read', 'snapshot-isolation'],
    'G-nonadjacent-process': ['strong-session-snapshot-isolation'],
    'G-nonadjacent-realtime': ['strong-snapshot-isolation'],
    'G-single': ['repeatable-read', 'snapshot-isolation'],
    'G-single-process': ['strong-session-snapshot-isolation'],
    'G-single-realtime': ['strong-snapshot-isolation'],
    'G0': ['read-uncommitted'], 'G0-process': ['strong-session-read-uncommitted'],
    'G0-realtime': ['strong-read-uncommitted'],
    'G1a': ['read-committed'], 'G1b': ['read-committed'], 'G1c': ['read-committed'],
    'G1c-process': ['strong-session-read-committed'], 'G1c-realtime': ['strong-read-committed'],
    'G2-item': ['repeatable-read'], 'G2-item-process': ['strong-session-serializable'],
    'G2-item-realtime': ['strict-serializable'],
    'cyclic-versions': ['read-uncommitted'], 'dirty-update': ['read-committed'],
    'divergence': ['read-uncommitted'], 'double-execution': ['cursor-stability'],
    'double-win': ['cursor-stability'], 'duplicate-cleanup-job': ['serializable'],
    'duplicate-definition': ['serializable'], 'duplicate-elements': ['read-uncommitted'],
    'duplicate-id': ['cursor-stability'], 'duplicate-instance': ['serializable'],
    'exclusive-overlap': ['serializable'], 'future-read': ['read-uncommitted'],
    'garbage-read': ['read-uncommitted'], 'incompatible-order': ['read-uncommitted'],
    'internal': ['monotonic-atomic-view'], 'lost': ['read-uncommitted'], 'lost-save': ['read-uncommitted'],
    'lost-update': ['cursor-stability'], 'negative-balance': ['repeatable-read', 'snapshot-isolation'],
    'next-day-resume': ['read-uncommitted'], 'nonlinearizable': ['strict-serializable'],
    'replication-halted': ['read-uncommitted'], 'rev-nonlinearizable': ['strong-read-uncommitted'],
    'stale-resume': ['strong-read-uncommitted'], 'torn-state': ['monotonic-atomic-view'],
    'unexpected': ['read-uncommitted'], 'wrong-total': ['repeatable-read', 'snapshot-isolation'],
}
OLD_ENGINE = ("lost-save", "double-win", "stale-resume", "double-execution", "duplicate-instance",
              "torn-state", "divergence", "duplicate-id", "duplicate-definition", "exclusive-overlap",
              "duplicate-cleanup-job", "replication-halted", "next-day-resume", "rev-nonlinearizable")
DATA = (WW, WR, RW)
OLD_CLASSES = (
    ("G0", (WW,), WW, 0, 0, False), ("G1c", (WW, WR), WR, 0, 0, False), ("G-single", DATA, RW, 1, 1, False),
    ("G-nonadjacent", DATA, RW, 2, None, True), ("G2-item", DATA, RW, 1, None, False))
OLD_IMPLIED_BY = {"G-nonadjacent": ("G-single",), "G2-item": ("G-single", "G-nonadjacent")}


def old_classify(kinds):
    n = len(kinds)
    rws = [k == "rw" for k in kinds]
    n_rw = sum(rws)
    if n_rw == 0:
        base = "G0" if all(k in ("ww", "process", "realtime") for k in kinds) else "G1c"
    elif n_rw == 1:
        base = "G-single"
    elif any(rws[i] and rws[(i + 1) % n] for i in range(n)):
        base = "G2-item"
    else:
        base = "G-nonadjacent"
    if "realtime" in kinds:
        return base + "-realtime"
    if "process" in kinds:
        return base + "-process"
    return base


def test_every_model_forbids_what_it_forbade_before_the_table():
    for m in models.MODELS:
        old = {a for a, weakest in OLD_WEAKEST.items() if m in models._up_closure(weakest)}
        assert models.forbidden_by(m) == old, m
    for a, weakest in OLD_WEAKEST.items():
        assert models.ruled_out_by(a) == frozenset(models._up_closure(weakest)), a
        assert models.verdict([a], "strict-serializable")[1] == weakest, a


def test_engine_invariants_are_invalid_under_every_model_with_the_old_not():
    """Before: check() forced valid=False for any engine finding; not / also_not came from
    verdict(). Now verdict() alone says so, from the table's engine flag."""
    assert anomalies.ENGINE_ANOMALIES == OLD_ENGINE
    for a in OLD_ENGINE:
        ruled = models._up_closure(OLD_WEAKEST[a])
        for m in models.MODELS:
            valid, not_, also = models.verdict([a], m)
            assert valid is False and models.forbids(m, a), (a, m)
            assert not_ == OLD_WEAKEST[a] and set(also) == ruled - set(not_), (a, m)
    # not an engine invariant: the model decides
    assert models.verdict(["lost-update"], "read-committed")[0] is True
    assert not models.forbids("read-committed", "lost-update")


def test_cycle_classes_and_layers_are_the_old_ones():
    assert tuple(c[:6] for c in cycles.CLASSES) == OLD_CLASSES
    assert {c[0]: c[6] for c in cycles.CLASSES if c[6]} == OLD_IMPLIED_BY
    assert tuple(l[:2] for l in cycles.LAYERS) == (("", ()), ("-process", (PROC,)), ("-realtime", (PROC, RT, RTB)))
    assert [l[2] for l in cycles.LAYERS[1:]] == [PROC, RT]
    assert models.CYCLE_ANOMALIES == ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")


def test_classify_agrees_with_the_old_rules_on_every_short_cycle():
    kinds = ("ww", "wr", "rw", "process", "realtime")
    n = 0
    for length in range(1, 6):
        for cyc in itertools.product(kinds, repeat=length):
            assert anomalies.classify(list(cyc)) == old_classify(cyc), cyc
            n += 1
    assert n == 3905


def test_table_is_consistent():
    names = [a.name for a in anomalies.TABLE]
    assert len(names) == len(set(names))
    for a in anomalies.TABLE:
        if a.rules_out not in (None, ALL):
            assert isinstance(a.rules_out, tuple) and all(models.canonical(m) == m for m in a.rules_out), a.name
        for c in a.implied_by:      # an implying class is searched first
            assert anomalies.BY_NAME[c].cycle is not None and names.index(c) < names.index(a.name)
        if a.engine:
            assert a.meaning and a.behind and a.evidence and a.rules_out is not None, a.name
        if a.cycle is not None:
            assert a.cycle.start in a.cycle.edges and set(a.cycle.edges) <= set(anomalies.DATA_EDGES)
    # every name a checker reports is judged (words-only entries are not)
    assert {a.name for a in anomalies.TABLE if a.rules_out is not None} == \
        {a for a in OLD_WEAKEST if not any(a.endswith(v.suffix) for v in anomalies.VARIANTS)}


def test_a_new_anomaly_is_one_table_entry():
    """What register_anomaly did at run time is now a table entry: the derivation takes any table."""
    table = anomalies.TABLE + (
        Anomaly("test-wrong-total", ALL),
        Anomaly("test-stale-resume", ("strong-session-read-committed",)),
        Anomaly("test-cycle", ("serializable",), cycle=Cycle(("ww", "rw"), "rw", 1, None)),
    )
    forbidden = models._compute_forbidden(table)
    ruled = models._ruled_out(forbidden)
    assert ruled["test-wrong-total"] == frozenset(models.MODELS)
    assert "serializable" not in ruled["test-stale-resume"] and "strict-serializable" in ruled["test-stale-resume"]
    assert min(ruled["test-cycle-process"], key=models.MODELS.index) == "strong-session-serializable"
    assert "test-cycle-realtime" in forbidden["strict-serializable"]
    assert "test-cycle-realtime" not in forbidden["strong-session-serializable"]
    for m in models.MODELS:     # the built-in names are unaffected
        assert forbidden[m] - {"test-wrong-total", "test-stale-resume", "test-cycle", "test-cycle-process",
                               "test-cycle-realtime"} == models.forbidden_by(m)


def test_words_only_entries_are_judged_as_unknown_names():
    for name in ("G2", "stale-read"):
        assert anomalies.BY_NAME[name].rules_out is None and anomalies.meaning(name)
        assert models.ruled_out_by(name) == frozenset(models.MODELS) and not models.is_known(name)


@pytest.mark.parametrize("name, meaning, impact", [
    ("G-single-realtime",
     "read skew: a transaction saw part of another's writes but missed the rest (the cycle needs real "
     "time: a stale read across sessions or nodes)",
     "one read can see part of a save and miss the rest (execution from one step, variables from another); "
     "at READ COMMITTED the engine relies on its REV_ check at write time to catch this; across nodes: a "
     "user who saved on one node can resume on another and see the old step"),
    ("G0-process", "write cycle: two transactions overwrote each other's writes in an order no serial run "
     "allows (the cycle needs one client's own order: it did not see its own past)",
     "two saves' row updates can interleave: an instance can keep the execution of one save and the "
     "variables of another, for good; one session did not see its own earlier save"),
    ("torn-state", "one read saw execution, variables, task and history out of step with each other",
     "one read saw execution, variables, task and history out of step with each other"),
    ("garbage-read", "a read showed a value no transaction wrote",
     "the engine can act on state no save ever wrote: the database returned data from nowhere"),
    ("lost-save-realtime", "", "across nodes: a user who saved on one node can resume on another and see the old step"),
    ("no-such-thing", "", ""),
])
def test_report_words(name, meaning, impact):
    assert anomalies.meaning(name) == meaning and anomalies.impact(name) == impact


def test_every_anomaly_a_checker_reports_has_words_for_the_reader():
    for a in anomalies.TABLE:
        if a.rules_out is not None:
            assert anomalies.meaning(a.name) and anomalies.impact(a.name), a.name


def test_every_name_a_checker_records_is_in_the_table():
    """A name missing from the table would be judged as unknown (ruling out every model)."""
    import re
    from pathlib import Path
    names = set()
    for path in Path(anomalies.__file__).parent.glob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r'(?:_record|_finding)\(\s*"([^"]+)"', text))
        names |= set(re.findall(r'counts\["([^"]+)"\]', text))
    from checkers import list_append_cases, rw_register_cases  # noqa: F401 (their record types)
    from checkers.findings import Finding
    names |= {cls.kind for cls in Finding.__subclasses__()}   # findings that are typed records
    assert len(names) > 20 and {"G1a", "torn-state", "rev-nonlinearizable"} <= names
    from checkers import linearizable
    names |= {"wrong-total", "negative-balance", "lost", "unexpected", linearizable.ANOMALY}  # bank, set
    assert names <= {a.name for a in anomalies.TABLE if a.rules_out is not None}
