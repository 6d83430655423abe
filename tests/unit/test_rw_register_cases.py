"""rw_register_cases: each anomaly case on hand-built inputs, and each record's words."""
import itertools

from checkers import rw_register_cases as c
from checkers.graph import FAIL, INFO, OK
from checkers.rw_register_cases import INIT


class Ex:
    def name(self, t):
        return f"T{t}"

    def op(self, t):
        return {"index": t}


TYPES = [OK, FAIL, OK, INFO]
WRITER = {("x", 1): 0, ("x", 2): 1, ("x", 3): 2, ("x", 4): 2, ("x", 5): 3}
FINAL = {("x", 1): True, ("x", 2): True, ("x", 3): False, ("x", 4): True, ("x", 5): True}


def test_judge_read_finds_each_case_and_the_wr_writer():
    assert c.judge_read(9, "x", 1, WRITER, FINAL, TYPES) == (None, 0)
    assert c.judge_read(9, "x", 7, WRITER, FINAL, TYPES) == (c.GarbageRead(9, "x", 7), None)
    assert c.judge_read(9, "x", 2, WRITER, FINAL, TYPES) == (c.G1a(9, "x", 2, 1), None)
    assert c.judge_read(9, "x", 3, WRITER, FINAL, TYPES) == (c.G1b(9, "x", 3, 2), 2)
    assert c.judge_read(2, "x", 3, WRITER, FINAL, TYPES) == (None, None)     # its own write
    assert c.judge_read(9, "x", 5, WRITER, FINAL, TYPES) == (None, 3)        # info writer: an edge


def test_lost_updates_need_two_committed_writers_of_the_same_version():
    first = [(0, "x", INIT), (2, "x", INIT), (3, "x", INIT), (0, "y", 1), (2, "y", 2)]
    writes = {0: {"x": 1, "y": 5}, 2: {"x": 3, "y": 6}, 3: {"x": 5}}
    recs = c.lost_updates(first, writes, TYPES)
    assert recs == [c.LostUpdate("x", INIT, [0, 2])]     # T3 is info; y's reads differ
    assert recs[0].txns == [0, 2]
    assert recs[0].explain(Ex())["explanation"].startswith("T0, T2 all read key 'x' = nil (the same version)")


def test_cyclic_versions_per_key():
    recs = c.cyclic_versions({"x": {(INIT, 1), (1, 2), (2, 1)}, "y": {(INIT, 1), (1, 2)}})
    assert [r.key for r in recs] == ["x"]
    assert sorted(map(str, recs[0].path)) == ["1", "1", "2"]
    assert recs[0].txns == [] and recs[0].explain(Ex())["ops"] == []
    assert c.version_cycle({(1, 2)}) is None


def test_records_explain_with_their_key_and_ops():
    cases = [
        (c.G1a(1, "x", 2, 3), [1, 3], "T1 read key 'x' = 2, written by T3, which failed"),
        (c.G1b(1, "x", 2, 3), [1, 3], "but T3 overwrote that value"),
        (c.Internal(1, "x", 4, INIT, "w"), [1], "T1 wrote 4 to key 'x' and then read it as nil"),
        (c.Internal(1, "x", INIT, 4, "r"), [1], "T1 read key 'x' = nil and later, with no write of its own"),
        (c.GarbageRead(1, "x", 9), [1], "a value no transaction in the history wrote"),
        (c.FutureRead(1, "x", 9), [1], "a value it writes itself only later"),
    ]
    for rec, txns, words in cases:
        out = rec.explain(Ex())
        assert rec.txns == txns
        assert out["key"] == "x" and out["ops"] == [{"index": t} for t in txns]
        assert words in out["explanation"], (rec, out["explanation"])


def test_the_version_cycle_named_does_not_depend_on_the_order_facts_come_in():
    facts = [("a", "b"), ("b", "c"), ("c", "a"), ("b", "a"), ("c", "d"), ("d", "b")]
    named = {tuple(c.version_cycle(list(p))) for p in itertools.permutations(facts)}
    assert len(named) == 1
