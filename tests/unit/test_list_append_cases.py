"""list_append_cases: each anomaly case on a hand-built indexed history, and each record's words."""
import numpy as np

from checkers import list_append_cases as c
from checkers.graph import FAIL, INFO, OK


class Ex:
    """A stand-in for the checker's TxnExplainer."""
    def __init__(self, keys=("x",), orders=None, mops=None):
        self.kids = {k: i for i, k in enumerate(keys)}
        self.orders = orders or {}
        self._mops = mops or {}

    def name(self, t):
        return f"T{t}"

    def op(self, t):
        return {"index": t}

    def mops(self, t):
        return self._mops.get(t, [])

    def order(self, kid):
        return self.orders.get(kid, [])


def index(orders, writers, types):
    """The flat arrays for keys with version orders `orders` (lists) and per-element writers."""
    key_len = np.array([len(o) for o in orders], dtype=np.int64)
    key_off = np.concatenate([[0], np.cumsum(key_len)]).astype(np.int64)
    fw = np.array([w for ws in writers for w in ws], dtype=np.int32)
    known = fw >= 0
    fw_type = np.where(known, np.asarray(types)[np.where(known, fw, 0)], -1)
    flat_key = np.repeat(np.arange(len(orders)), key_len)
    return fw, fw_type, key_off, key_len, flat_key


def reads(rows):
    """(tid, kid, len) rows -> r_txn, r_kid, r_len arrays."""
    a = np.array(rows, dtype=np.int32).reshape(-1, 3)
    return a[:, 0], a[:, 1], a[:, 2]


def test_first_flagged_is_per_key_and_none_when_nothing_is():
    fw, fw_type, key_off, key_len, flat_key = index([[1, 2, 3], [7, 8]], [[0, 1, 2], [1, 0]],
                                                    [OK, FAIL, FAIL])
    fkey, first = c.first_flagged(fw_type == FAIL, flat_key, key_off, 2)
    assert fkey.tolist() == [0, 0, 1]
    assert first.tolist() == [1, 0]
    assert c.first_flagged(np.zeros(5, bool), flat_key, key_off, 2) is None


def test_g1a_reads_only_those_that_reach_the_failed_append():
    order = {0: [1, 2, 3]}
    fw, fw_type, key_off, _, flat_key = index([[1, 2, 3]], [[0, 1, 0]], [OK, FAIL, OK, OK, OK])
    _, first = c.first_flagged(fw_type == FAIL, flat_key, key_off, 1)
    r_txn, r_kid, r_len = reads([(2, 0, 1), (3, 0, 2), (4, 0, 3)])
    good = np.ones(3, bool)
    n, recs = c.g1a_reads(first, fw, key_off, good, r_txn, r_kid, r_len, order.get, ["x"], keep=1)
    assert n == 2                       # T3 and T4 show 2; T2 shows only [1]
    assert recs == [c.G1a(3, "x", [1, 2], 1, 2)]
    assert recs[0].txns == [3, 1]
    good[1] = False                     # a read judged elsewhere is left out
    n, recs = c.g1a_reads(first, fw, key_off, good, r_txn, r_kid, r_len, order.get, ["x"], keep=5)
    assert [r.reader for r in recs] == [4]


def test_garbage_reads_name_the_unknown_element():
    fw, fw_type, key_off, _, flat_key = index([[1, 9]], [[0, -1]], [OK, OK])
    _, first = c.first_flagged(fw < 0, flat_key, key_off, 1)
    r_txn, r_kid, r_len = reads([(1, 0, 2)])
    n, recs = c.garbage_reads(first, key_off, np.ones(1, bool), r_txn, r_kid, r_len,
                              {0: [1, 9]}.get, ["k"], keep=10)
    assert (n, recs) == (1, [c.GarbageRead(1, "k", [1, 9], 9)])
    assert recs[0].txns == [1]
    assert "includes 9, a value no transaction" in recs[0].explain(Ex(("k",)))["explanation"]


def test_dirty_update_is_the_first_non_failed_append_after_a_failed_one():
    # key 0: T0 ok, T1 failed, T2 failed, T3 info, T4 ok; key 1: failed last (nothing after it)
    fw, fw_type, key_off, _, flat_key = index([[1, 2, 3, 4, 5], [6, 7]], [[0, 1, 2, 3, 4], [0, 1]],
                                              [OK, FAIL, FAIL, INFO, OK])
    fkey, first = c.first_flagged(fw_type == FAIL, flat_key, key_off, 2)
    recs = c.dirty_updates(fkey, first, fw, fw_type, key_off, ["a", "b"])
    assert recs == [c.DirtyUpdate("a", 1, 1, 3, 3)]
    ex = Ex(("a", "b"), orders={0: [1, 2, 3, 4, 5]})
    out = recs[0].explain(ex)
    assert out["key"] == "a" and out["ops"] == [{"index": 1}, {"index": 3}]
    assert out["explanation"].startswith("Key 'a' was read as [1, 2, 3, 4]: 2 there was appended by T1")


def test_g1b_reads_end_on_an_intermediate_append_of_another_committed_txn():
    # T0 appended 1 then 2 (1 is intermediate); T1 reads [1], T0 itself reads [1], T2 reads [1, 2]
    fw, fw_type, key_off, _, _ = index([[1, 2]], [[0, 0]], [OK, OK, OK])
    r_txn, r_kid, r_len = reads([(1, 0, 1), (0, 0, 1), (2, 0, 2)])
    r_off = key_off[r_kid]
    n, recs = c.g1b_reads([0], fw, fw_type, np.ones(3, bool), r_txn, r_kid, r_len, r_off,
                          {0: [1, 2]}.get, ["x"], keep=10)
    assert (n, recs) == (1, [c.G1b(1, "x", [1], 0)])
    ex = Ex(mops={0: [["append", "x", 1], ["append", "x", 2]]})
    assert "T0 appended [1, 2] to that key, so 1 was an intermediate state" in recs[0].explain(ex)["explanation"]


def test_lost_updates_group_by_version_read():
    longest = [[1, 2, 3]]
    rmw = [(0, 2, 5, 0), (0, 2, 6, 1), (0, 1, 7, 2)]       # T5, T6 read [1, 2]; T7 read [1]
    recs = c.lost_updates(rmw, set(), None, longest, ["x"])
    assert recs == [c.LostUpdate("x", [1, 2], [5, 6])]
    assert recs[0].txns == [5, 6]
    # a key whose reads disagree: grouped by what each read showed
    shown = {0: [1, 9], 1: [1, 2], 2: [1, 9]}
    recs = c.lost_updates([(0, 2, 5, 0), (0, 2, 6, 1), (0, 2, 7, 2)], {0}, lambda row, kid, n: shown[row],
                          longest, ["x"])
    assert recs == [c.LostUpdate("x", [1, 9], [5, 7])]
    text = recs[0].explain(Ex())["explanation"]
    assert text.startswith("T5, T7 all first read key 'x' = [1, 9] (the same version)")


def test_duplicate_elements_lists_each_repeat():
    r = c.duplicate_elements("x", 4, [1, 2, 1, 3, 2, 1])
    assert r == c.DuplicateElements("x", 4, [1, 2, 1, 3, 2, 1], [1, 2, 1])
    assert r.txns == [4]
    assert "contains 1, 2, 1 more than once" in r.explain(Ex())["explanation"]


def test_records_explain_with_their_key_and_ops():
    ex = Ex()
    cases = [
        (c.Internal(1, "x", [5], None, [3]), [1], "T1 appended [3] to key 'x' and then read it as [5]"),
        (c.Internal(1, "x", [5], [1], [3]), [1], "not [1, 3]: a transaction must see its own earlier state"),
        (c.Internal(1, "x", [5], [1], []), [1], "with no append of its own in between"),
        (c.FutureRead(2, "x", [1, 7], 7), [2], "which already contains 7, a value T2 itself appends"),
        (c.IncompatibleOrder("x", 1, [1, 2], 3, [2, 1]), [1, 3], "neither is a prefix of the other"),
        (c.G1a(1, "x", [4, 5], 2, 5), [1, 2], "appended by T2, a transaction that failed"),
    ]
    for rec, txns, words in cases:
        out = rec.explain(ex)
        assert rec.txns == txns
        assert out["key"] == "x" and out["ops"] == [{"index": t} for t in txns]
        assert words in out["explanation"], (rec, out["explanation"])
    assert {type(r).kind for r, _, _ in cases} == {"internal", "future-read", "incompatible-order", "G1a"}
    assert not c.Internal.cites_order and c.G1a.cites_order


def test_reads_judged_on_their_value():
    writers, types = {1: 0, 2: 1, 3: 0, 4: 2}, [OK, FAIL, OK]
    assert c.aborted_or_garbage(5, "x", [1, 2, 9], writers, types) == c.G1a(5, "x", [1, 2, 9], 1, 2)
    assert c.aborted_or_garbage(5, "x", [1, 9, 2], writers, types) == c.GarbageRead(5, "x", [1, 9, 2], 9)
    assert c.aborted_or_garbage(5, "x", [1, 3], writers, types) is None
    # [1, 3] ends on 3, which T0 extended with a later append (intermediate); T0's own read is fine
    assert c.intermediate_read(5, "x", [1, 3], writers, types, {3}) == c.G1b(5, "x", [1, 3], 0)
    assert c.intermediate_read(0, "x", [1, 3], writers, types, {3}) is None
    assert c.intermediate_read(5, "x", [1, 3], writers, types, set()) is None
    assert c.intermediate_read(5, "x", [], writers, types, {3}) is None
