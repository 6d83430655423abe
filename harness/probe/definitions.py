"""Every probe test as data: Hermitage's interleavings (ept/hermitage postgres.md, mysql.md; rewritten
here, not copied) and the three engine probes. Each judge reads the observations and says, in one
sentence, how the anomaly showed, or returns None when it did not.

Sessions are T1, T2 (and T3 for OTV). Placement (harness/probe/placement.py) puts T1 on the first node
of a pair and every other session on the second.
"""
from __future__ import annotations

from harness.probe.steps import ProbeTest, Ref, Step, Variant

HERMITAGE_ROWS = [(1, 10), (2, 20)]
ALL = ("all",)


def S(session, op, *args, label=None):  # noqa: N802 - reads like a script line
    return Step(session, op, tuple(args), label)


def _commit(*sessions):
    return tuple(S(s, "commit") for s in sessions)


def _serial(v, allowed, what):
    """The final state must be one a serial order of the committed transactions produces."""
    state = tuple(v.final)
    if state not in allowed:
        return f"{what}: the final state {v.show(state)} comes from no serial order of the transactions"
    return None


# -- G0: write cycles (dirty writes) ---------------------------------------------------------------
def _g0(v):
    allowed = {((1, 12), (2, 22)), ((1, 11), (2, 21)), tuple(HERMITAGE_ROWS)}
    if v.committed("T1") and v.committed("T2"):
        allowed = {((1, 12), (2, 22)), ((1, 11), (2, 21))}  # T1 then T2, or T2 then T1
    elif v.committed("T1"):
        allowed = {((1, 11), (2, 21))}
    elif v.committed("T2"):
        allowed = {((1, 12), (2, 22))}
    return _serial(v, allowed, "T1 and T2 both wrote rows 1 and 2")


G0 = ProbeTest("G0", "Write Cycles (dirty writes)", {"test": HERMITAGE_ROWS}, "test", (
    Variant("write-write", (S("T1", "update", 1, 11), S("T2", "update", 1, 12), S("T1", "update", 2, 21),
                            *_commit("T1"), S("T2", "update", 2, 22), *_commit("T2")), _g0),))


# -- G1a, G1b, G1c: dirty reads ------------------------------------------------------------------------
def _g1a(v):
    for label in ("r1", "r2"):
        if v.val(label) == 101:
            return f"T2 read row 1 = 101 ({label}), written by T1, which rolled back"
    return None


G1A = ProbeTest("G1a", "Aborted Reads", {"test": HERMITAGE_ROWS}, "test", (
    Variant("aborted-read", (S("T1", "update", 1, 101), S("T2", "read", 1, label="r1"), S("T1", "rollback"),
                             S("T2", "read", 1, label="r2"), *_commit("T2")), _g1a, read_only=True),))


def _g1b(v):
    for label in ("r1", "r2"):
        if v.val(label) == 101:
            return f"T2 read row 1 = 101 ({label}), T1's intermediate value (T1 committed 11)"
    return None


G1B = ProbeTest("G1b", "Intermediate Reads", {"test": HERMITAGE_ROWS}, "test", (
    Variant("intermediate-read", (S("T1", "update", 1, 101), S("T2", "read", 1, label="r1"),
                                  S("T1", "update", 1, 11), *_commit("T1"), S("T2", "read", 1, label="r2"),
                                  *_commit("T2")), _g1b, read_only=True),))


def _g1c(v):
    # a read that waited until the writer had committed saw committed data (a serial order)
    seen = []
    if v.val("t1") == 22 and not v.finished_after_commit("t1", "T2"):
        seen.append("T1 read row 2 = 22 from T2 before T2 committed")
    if v.val("t2") == 11 and not v.finished_after_commit("t2", "T1"):
        seen.append("T2 read row 1 = 11 from T1 before T1 committed")
    return " and ".join(seen) or None


G1C = ProbeTest("G1c", "Circular Information Flow", {"test": HERMITAGE_ROWS}, "test", (
    Variant("circular", (S("T1", "update", 1, 11), S("T2", "update", 2, 22), S("T1", "read", 2, label="t1"),
                         S("T2", "read", 1, label="t2"), *_commit("T1", "T2")), _g1c),))


# -- OTV: observed transaction vanishes -------------------------------------------------------------
WRITER_OF = {10: 0, 20: 0, 11: 1, 19: 1, 12: 2, 18: 2}  # which transaction wrote a value (0 = setup)


def _otv(v):
    newest = 0
    for label, row in (("a", 1), ("b", 2), ("c", 2), ("d", 1)):  # T3's reads, in the order they ran
        value = v.val(label)
        if value is None:
            continue
        writer = WRITER_OF.get(value)
        if writer == 2 and not v.finished_after_commit(label, "T2"):
            return f"T3 read row {row} = {value} ({label}) from T2 before T2 committed"
        if writer is not None and writer < newest:
            return (f"T3 had seen T{newest}'s writes, then read row {row} = {value} ({label}): "
                    f"T{newest} vanished")
        newest = max(newest, writer or 0)
    return None


OTV = ProbeTest("OTV", "Observed Transaction Vanishes", {"test": HERMITAGE_ROWS}, "test", (
    Variant("vanish", (S("T1", "update", 1, 11), S("T1", "update", 2, 19), S("T2", "update", 1, 12),
                       *_commit("T1"), S("T3", "read", 1, label="a"), S("T2", "update", 2, 18),
                       S("T3", "read", 2, label="b"), *_commit("T2"), S("T3", "read", 2, label="c"),
                       S("T3", "read", 1, label="d"), *_commit("T3")), _otv, read_only=True),))


# -- PMP: predicate-many-preceders -------------------------------------------------------------------
def _pmp_read(v):
    if any(row[0] == 3 for row in v.rows("p2") or ()):
        return "T1's second predicate read returned row 3, inserted and committed by T2 after T1's first read"
    return None


def _pmp_write(v):
    if not v.committed("T2"):
        return None
    after = v.rows("after") or ()
    if v.count("del") is not None and any(value == 20 for _, value in after):
        return f"T2 deleted the rows with value 20 and then still saw {v.show(after)}"
    allowed = {((2, 30),), ((1, 20),)} if v.committed("T1") else {((1, 10),)}
    return _serial(v, allowed, "T1 added 10 to every row, T2 deleted value 20")


PMP = ProbeTest("PMP", "Predicate-Many-Preceders", {"test": HERMITAGE_ROWS}, "test", (
    Variant("read-predicate", (S("T1", "select", ("value=", 30), label="p1"), S("T2", "insert", 3, 30),
                               *_commit("T2"), S("T1", "select", ("value%", 3, 0), label="p2"),
                               *_commit("T1")), _pmp_read, read_only=True),
    Variant("write-predicate", (S("T1", "update_where", ALL, ("add", 10)),
                                S("T2", "select", ("value=", 20), label="before"),
                                S("T2", "delete_where", ("value=", 20), label="del"), *_commit("T1"),
                                S("T2", "select", ALL, label="after"), *_commit("T2")), _pmp_write),
))


# -- P4: lost update ----------------------------------------------------------------------------------
# Hermitage has both sessions write 11; T2 writes 12 here, because MariaDB reports changed rows (not
# matched ones) and a second write of an equal value would look like a refused update.
def _p4(v):
    if v.committed("T1") and v.committed("T2") and v.count("u1") == 1 and v.count("u2") == 1 \
            and v.val("r1") == 10 and v.val("r2") == 10:
        return ("T1 and T2 both read row 1 = 10, both updated it (11, 12) and both committed: "
                "T1's update is lost")
    return None


P4 = ProbeTest("P4", "Lost Update", {"test": HERMITAGE_ROWS}, "test", (
    Variant("lost-update", (S("T1", "read", 1, label="r1"), S("T2", "read", 1, label="r2"),
                            S("T1", "update", 1, 11, label="u1"), S("T2", "update", 1, 12, label="u2"),
                            *_commit("T1", "T2")), _p4),))


# -- G-single: read skew --------------------------------------------------------------------------------
def _gsingle_read(v):
    if v.val("a") == 10 and v.val("b") == 18:
        return "T1 read row 1 = 10 before T2 and row 2 = 18 after T2 (read skew)"
    return None


def _gsingle_write(v):
    if v.committed("T1") and v.val("a") == 10 and v.count("del") == 0:
        return ("T1 read row 1 = 10 before T2, then its DELETE ... WHERE value = 20 found nothing because "
                "it saw T2's 18 (read skew on a write predicate)")
    return None


G_SINGLE = ProbeTest("G-single", "Single Anti-dependency Cycles (read skew)", {"test": HERMITAGE_ROWS}, "test", (
    Variant("read-only", (S("T1", "read", 1, label="a"), S("T2", "read", 1), S("T2", "read", 2),
                          S("T2", "update", 1, 12), S("T2", "update", 2, 18), *_commit("T2"),
                          S("T1", "read", 2, label="b"), *_commit("T1")), _gsingle_read, read_only=True),
    Variant("write-predicate", (S("T1", "read", 1, label="a"), S("T2", "select", ALL),
                                S("T2", "update", 1, 12), S("T2", "update", 2, 18), *_commit("T2"),
                                S("T1", "delete_where", ("value=", 20), label="del"),
                                S("T1", "read", 2, label="b"), *_commit("T1")), _gsingle_write),
))


# -- G2-item, G2: write skew ---------------------------------------------------------------------------
def _g2item(v):
    both = [(1, 10), (2, 20)]
    if v.committed("T1") and v.committed("T2") and v.rows("t1") == both and v.rows("t2") == both:
        return "T1 and T2 both read rows 1 and 2, each updated the other's row, and both committed (write skew)"
    return None


G2_ITEM = ProbeTest("G2-item", "Item Anti-dependency Cycles (write skew)", {"test": HERMITAGE_ROWS}, "test", (
    Variant("write-skew", (S("T1", "select", ("id in", (1, 2)), label="t1"),
                           S("T2", "select", ("id in", (1, 2)), label="t2"),
                           S("T1", "update", 1, 11), S("T2", "update", 2, 21), *_commit("T1", "T2")), _g2item),))


def _g2(v):
    if v.committed("T1") and v.committed("T2") and v.rows("t1") == [] and v.rows("t2") == []:
        return ("T1 and T2 both found no row with value % 3 = 0, each inserted one, and both committed "
                "(write skew on a predicate)")
    return None


G2 = ProbeTest("G2", "Anti-Dependency Cycles (write skew on a predicate)", {"test": HERMITAGE_ROWS}, "test", (
    Variant("predicate-skew", (S("T1", "select", ("value%", 3, 0), label="t1"),
                               S("T2", "select", ("value%", 3, 0), label="t2"),
                               S("T1", "insert", 3, 30), S("T2", "insert", 4, 42), *_commit("T1", "T2")), _g2),))


# -- engine probes ---------------------------------------------------------------------------------------
def _rev_cas(v):
    if v.committed("T1") and v.committed("T2") and v.count("u1") == 1 and v.count("u2") == 1 \
            and v.val("r1") == v.val("r2"):
        return (f"both sessions read REV_ {v.val('r1')} and both guarded updates (WHERE REV_ = {v.val('r1')}) "
                "changed the row and committed: no OptimisticLockingException, one save is lost")
    return None


REV_CAS = ProbeTest("rev-cas", "REV_-guarded update of one execution", {"execution": [("e1", 1, "start")]},
                    "execution", (
    Variant("optimistic-lock", (S("T1", "rev", "e1", label="r1"), S("T2", "rev", "e1", label="r2"),
                                S("T1", "cas", "e1", Ref("r1"), "saved-by-T1", label="u1"),
                                S("T2", "cas", "e1", Ref("r2"), "saved-by-T2", label="u2"),
                                *_commit("T1", "T2")), _rev_cas),), engine=True,
    about="UPDATE execution SET REV_ = REV_ + 1 ... WHERE ID_ = ? AND REV_ = ? from two sessions")


def _for_update(v):
    versions = [row[2] for row in v.final]
    dupes = sorted({x for x in versions if versions.count(x) > 1})
    if dupes:
        return (f"both sessions held the deployment lock at once and deployed version {dupes[0]}: "
                f"versions {sorted(versions)}")
    return None


FOR_UPDATE = ProbeTest("for-update", "deployment lock (SELECT ... FOR UPDATE)",
                       {"property": [("deployment.lock", "0")], "procdef": [("d0", "proc", 1)]}, "procdef", (
    # each session goes on as soon as it holds the lock; on one node T2's steps queue behind its lock
    Variant("deployment-lock", (S("T1", "lock", "deployment.lock"), S("T2", "lock", "deployment.lock"),
                                S("T1", "max_version", "proc", label="m1"),
                                S("T2", "max_version", "proc", label="m2"),
                                S("T1", "deploy", "d1", "proc", Ref("m1", 1)),
                                S("T2", "deploy", "d2", "proc", Ref("m2", 1)), *_commit("T1", "T2")), _for_update),),
    engine=True, about="both sessions lock the deployment.lock property row, then insert version max + 1")


def _unique_insert(v):
    if v.committed("T1") and v.committed("T2"):
        return "both sessions inserted variable x in scope s1 and both committed: the unique key did not hold"
    names = [(row[1], row[2]) for row in v.final]
    if len(names) != len(set(names)):
        return f"the unique key did not hold: {v.show(v.final)}"
    return None


UNIQUE_INSERT = ProbeTest("unique-insert", "unique variable name (ACT_UNIQ_VARIABLE)", {"variable": []},
                          "variable", (
    Variant("unique-key", (S("T1", "insert_var", "v1", "s1", "x"), S("T2", "insert_var", "v2", "s1", "x"),
                           *_commit("T1", "T2")), _unique_insert),),
    engine=True, about="two sessions insert the same (scope, name) variable")


TESTS = (G0, G1A, G1B, G1C, OTV, PMP, P4, G_SINGLE, G2_ITEM, G2, REV_CAS, FOR_UPDATE, UNIQUE_INSERT)
BY_NAME = {t.name: t for t in TESTS}
HERMITAGE_TESTS = tuple(t.name for t in TESTS if not t.engine)
ENGINE_TESTS = tuple(t.name for t in TESTS if t.engine)
