"""rw-register checker: anomalies with near twins, and only sound inference by default."""
import pytest

from checkers import rw_register as rr
from checkers.history import HistoryError
from testing.histories import hist


def conc(*txns):
    return [(i, 0, 10, typ, v) for i, (typ, v) in enumerate(txns)]


def kinds(ops, model="strict-serializable", **opts):
    r = rr.check(ops, model, **opts)
    return r["valid"], r["anomaly_types"]


def test_write_skew_from_initial_reads():
    ops = hist(*conc(("ok", [["r", "x", None], ["w", "y", 1]]), ("ok", [["r", "y", None], ["w", "x", 1]])))
    assert kinds(ops, "serializable") == (False, ["G2-item"])
    assert kinds(ops, "snapshot-isolation")[0] is True


def test_write_skew_twin_is_valid():
    ops = hist(*conc(("ok", [["r", "x", None], ["w", "y", 1]]), ("ok", [["r", "y", 1], ["w", "x", 1]])))
    assert kinds(ops) == (True, [])


def test_g1c():
    ops = hist(*conc(("ok", [["w", "x", 1], ["r", "y", 1]]), ("ok", [["w", "y", 1], ["r", "x", 1]])))
    assert kinds(ops, "read-committed") == (False, ["G1c"])


def test_g1c_twin_is_valid():
    ops = hist(*conc(("ok", [["w", "x", 1], ["r", "y", 1]]), ("ok", [["w", "y", 1], ["r", "x", None]])))
    assert kinds(ops) == (True, [])


def test_g1a_and_twin():
    bad = hist((0, 0, 10, "fail", [["w", "x", 1]]), (1, 20, 30, "ok", [["r", "x", 1]]))
    assert "G1a" in kinds(bad, "read-committed")[1]
    good = hist((0, 0, 10, "ok", [["w", "x", 1]]), (1, 20, 30, "ok", [["r", "x", 1]]))
    assert kinds(good) == (True, [])


def test_g1b_and_twin():
    bad = hist(*conc(("ok", [["w", "x", 1], ["w", "x", 2]]), ("ok", [["r", "x", 1]])))
    assert "G1b" in kinds(bad, "read-committed")[1]
    good = hist(*conc(("ok", [["w", "x", 1], ["w", "x", 2]]), ("ok", [["r", "x", 2]])))
    assert kinds(good) == (True, [])


def test_internal_and_twin():
    assert "internal" in kinds(hist((0, 0, 10, "ok", [["w", "x", 1], ["r", "x", None]])))[1]
    assert kinds(hist((0, 0, 10, "ok", [["w", "x", 1], ["r", "x", 1]]))) == (True, [])


def test_future_read_and_twin():
    assert "future-read" in kinds(hist((0, 0, 10, "ok", [["r", "x", 1], ["w", "x", 1]])))[1]
    assert kinds(hist((0, 0, 10, "ok", [["r", "x", None], ["w", "x", 1]]))) == (True, [])


def test_lost_update_and_twin():
    bad = hist(*conc(("ok", [["r", "x", None], ["w", "x", 1]]), ("ok", [["r", "x", None], ["w", "x", 2]])))
    valid, types = kinds(bad, "cursor-stability")
    assert not valid and "lost-update" in types
    good = hist((0, 0, 10, "ok", [["r", "x", None], ["w", "x", 1]]),
                (1, 20, 30, "ok", [["r", "x", 1], ["w", "x", 2]]))
    assert kinds(good) == (True, [])


def test_stale_read_needs_no_assumption_when_it_reads_nil():
    ops = hist((0, 0, 10, "ok", [["w", "x", 1]]), (1, 20, 30, "ok", [["r", "x", None]]))
    assert kinds(ops) == (False, ["G-single-realtime"])
    assert kinds(ops, "serializable")[0] is True


def test_stale_non_nil_read_is_only_caught_with_an_order_assumption():
    ops = hist((0, 0, 10, "ok", [["w", "x", 1]]), (0, 20, 30, "ok", [["w", "x", 2]]),
               (1, 40, 50, "ok", [["r", "x", 1]]))
    assert kinds(ops) == (True, [])        # without an order on versions 1 and 2, nothing is provable
    # linearizable: 1 < 2 (write order) yet 2 < 1 (the read after the second write saw 1)
    assert kinds(ops, linearizable_keys=True) == (False, ["cyclic-versions"])
    # sequential per process: 1 < 2, so the reader anti-depends on the later write it missed
    assert kinds(ops, sequential_keys=True) == (False, ["G-single-realtime"])
    assert kinds(ops, "serializable", sequential_keys=True)[0] is True


def test_cyclic_versions_under_assumptions():
    # process 0 sees 1 then 2; process 1 sees 2 then 1: no single per-key order
    ops = hist((0, 0, 10, "ok", [["w", "x", 1]]), (1, 0, 10, "ok", [["w", "x", 2]]),
               (0, 20, 30, "ok", [["r", "x", 2]]), (1, 20, 30, "ok", [["r", "x", 1]]))
    assert kinds(ops) == (True, [])
    assert "cyclic-versions" in kinds(ops, sequential_keys=True)[1]


def test_info_write_read_later_is_valid():
    ops = hist((0, 0, 10, "info", [["w", "x", 1]]), (1, 20, 30, "ok", [["r", "x", 1]]))
    assert kinds(ops) == (True, [])
    ops = hist((0, 0, 10, "info", [["w", "x", 1]]), (1, 20, 30, "ok", [["r", "x", None]]))
    assert kinds(ops) == (True, [])


def test_bad_input():
    ops = hist((0, 0, 10, "ok", [["w", "x", 1]]), (1, 20, 30, "ok", [["w", "x", 1]]))
    with pytest.raises(HistoryError, match="more than once"):
        rr.check(ops)
    ops = hist((0, 0, 10, "ok", [["append", "x", 1]]))
    with pytest.raises(HistoryError, match="unknown micro-op"):
        rr.check(ops)
