"""List-append checker: every anomaly type on a small hand-made history, and a near twin without it."""
import pytest

from checkers import list_append as la
from checkers.history import HistoryError
from testing.histories import hist, seq

SS, SER, SI, RC = "strict-serializable", "serializable", "snapshot-isolation", "read-committed"


def check(ops, model=SS):
    return la.check(ops, model)


def assert_valid(ops, model=SS):
    r = check(ops, model)
    assert r["valid"] is True, (r["anomaly_types"], r["anomalies"])
    return r


def assert_found(ops, kind, model=SS):
    r = check(ops, model)
    assert kind in r["anomaly_types"], r["anomaly_types"]
    assert r["valid"] is False
    for inst in r["anomalies"][kind]:
        assert inst["explanation"]
    return r


def final_read(*keys):
    return ("ok", [["r", k, v] for k, v in keys])


# --- cycles --------------------------------------------------------------------------------

def test_g0_write_cycle():
    ops = hist(*seq(("ok", [["append", "x", 1], ["append", "y", 1]]),
                    ("ok", [["append", "x", 2], ["append", "y", 2]]),
                    final_read(("x", [1, 2]), ("y", [2, 1]))))
    r = assert_found(ops, "G0", "read-uncommitted")
    inst = r["anomalies"]["G0"][0]
    assert [s["type"] for s in inst["steps"]] == ["ww", "ww"]
    assert "contradiction" in inst["explanation"]


def test_g0_twin_consistent_orders_is_valid():
    assert_valid(hist(*seq(("ok", [["append", "x", 1], ["append", "y", 1]]),
                           ("ok", [["append", "x", 2], ["append", "y", 2]]),
                           final_read(("x", [1, 2]), ("y", [1, 2])))))


def concurrent(*txns, t0=0, t1=10):
    """Transactions all concurrent (same interval), on processes 0, 1, ..."""
    return [(i, t0, t1, typ, v) for i, (typ, v) in enumerate(txns)]


def test_g1c_circular_information_flow():
    ops = hist(*concurrent(("ok", [["append", "x", 1], ["r", "y", [1]]]),
                           ("ok", [["append", "y", 1], ["r", "x", [1]]])))
    r = assert_found(ops, "G1c", RC)
    assert {s["type"] for s in r["anomalies"]["G1c"][0]["steps"]} == {"wr"}


def test_g1c_twin_one_way_flow_is_valid():
    assert_valid(hist(*concurrent(("ok", [["append", "x", 1], ["r", "y", [1]]]),
                                  ("ok", [["append", "y", 1], ["r", "x", []]]))))


def test_g_single_read_skew():
    ops = hist(*concurrent(("ok", [["r", "x", []], ["r", "z", [1]]]),
                           ("ok", [["append", "x", 1], ["append", "z", 1]])))
    assert_found(ops, "G-single", SI)
    assert check(ops, RC)["valid"] is True     # read committed allows read skew


def test_g_single_twin_is_valid():
    assert_valid(hist(*concurrent(("ok", [["r", "x", []], ["r", "z", []]]),
                                  ("ok", [["append", "x", 1], ["append", "z", 1]]))))


def test_g_nonadjacent():
    ops = hist(*concurrent(("ok", [["r", "a", []], ["r", "d", [1]]]),
                           ("ok", [["append", "a", 1], ["append", "b", 1]]),
                           ("ok", [["r", "b", [1]], ["r", "c", []]]),
                           ("ok", [["append", "c", 1], ["append", "d", 1]])))
    r = assert_found(ops, "G-nonadjacent", SI)
    kinds = [s["type"] for s in r["anomalies"]["G-nonadjacent"][0]["steps"]]
    assert kinds.count("rw") == 2 and "G-single" not in r["anomaly_types"]
    assert check(ops, RC)["valid"] is True


def test_g_nonadjacent_twin_is_valid():
    assert_valid(hist(*concurrent(("ok", [["r", "a", []], ["r", "d", []]]),
                                  ("ok", [["append", "a", 1], ["append", "b", 1]]),
                                  ("ok", [["r", "b", [1]], ["r", "c", []]]),
                                  ("ok", [["append", "c", 1], ["append", "d", 1]]))))


def test_write_skew_is_g2_item_invalid_serializable_valid_si():
    ops = hist(*concurrent(("ok", [["r", "x", []], ["append", "y", 1]]),
                           ("ok", [["r", "y", []], ["append", "x", 1]])))
    r = assert_found(ops, "G2-item", SER)
    assert r["anomaly_types"] == ["G2-item"]
    assert check(ops, SI)["valid"] is True
    assert r["not"] == ["repeatable-read"]
    assert "serializable" in r["also_not"] and "snapshot-isolation" not in r["also_not"]


def test_write_skew_twin_is_valid():
    assert_valid(hist(*concurrent(("ok", [["r", "x", []], ["append", "y", 1]]),
                                  ("ok", [["r", "y", [1]], ["append", "x", 1]]))))


def test_stale_read_realtime_invalid_strict_valid_serializable():
    ops = hist((0, 0, 10, "ok", [["append", "x", 1]]),
               (1, 20, 30, "ok", [["r", "x", []]]))
    r = assert_found(ops, "G-single-realtime", SS)
    assert check(ops, SER)["valid"] is True
    steps = r["anomalies"]["G-single-realtime"][0]["steps"]
    assert {s["type"] for s in steps} == {"rw", "realtime"}


def test_stale_read_twin_concurrent_is_valid():
    assert_valid(hist((0, 0, 10, "ok", [["append", "x", 1]]),
                      (1, 5, 30, "ok", [["r", "x", []]])))


def test_process_order_cycle():
    # same process, no times: only the process order orders them
    ops = hist((0, 0, 10, "ok", [["append", "x", 1]]),
               (0, 20, 30, "ok", [["r", "x", []]]), times=False)
    r = assert_found(ops, "G-single-process", SS)
    assert check(ops, SER)["valid"] is True
    assert check(ops, "strong-session-serializable")["valid"] is False
    assert r["not"] == ["strong-session-snapshot-isolation"]


def test_no_process_no_time_means_no_order():
    assert_valid(hist((0, 0, 10, "ok", [["append", "x", 1]]),
                      (0, 20, 30, "ok", [["r", "x", []]]), times=False, processes=False))


def test_serial_order_differs_from_invoke_order_is_valid():
    # T1 invoked first, but T2 (invoked later, concurrent) is serialized before it
    assert_valid(hist((0, 0, 50, "ok", [["r", "x", [2]], ["append", "x", 1]]),
                      (1, 10, 20, "ok", [["append", "x", 2]]),
                      (2, 60, 70, "ok", [["r", "x", [2, 1]]])))


# --- info / fail ---------------------------------------------------------------------------

def test_info_append_read_later_is_valid():
    assert_valid(hist((0, 0, 10, "info", [["append", "x", 1]]),
                      (1, 20, 30, "ok", [["r", "x", [1]]])))


def test_info_append_never_read_is_valid_even_after_its_completion():
    # the info op may have taken effect after it timed out, or never: no real-time edge from it
    assert_valid(hist((0, 0, 10, "info", [["append", "x", 1]]),
                      (1, 20, 30, "ok", [["r", "x", []]]),
                      (2, 40, 50, "ok", [["r", "x", [1]]])))


def test_info_reads_are_unknown():
    # the info txn's read is not known: no rw edge may come from it
    assert_valid(hist((0, 0, 10, "info", [["r", "x", None], ["append", "y", 1]]),
                      (1, 0, 10, "ok", [["append", "x", 1], ["r", "y", [1]]])))


def test_g1a_aborted_read():
    ops = hist(*seq(("fail", [["append", "x", 1]]), final_read(("x", [1]))))
    r = assert_found(ops, "G1a", RC)
    assert "failed" in r["anomalies"]["G1a"][0]["explanation"]


def test_g1a_twin_committed_is_valid():
    assert_valid(hist(*seq(("ok", [["append", "x", 1]]), final_read(("x", [1])))))


def test_failed_append_never_read_is_valid():
    assert_valid(hist(*seq(("fail", [["append", "x", 1]]), final_read(("x", [])))))


def test_g1b_intermediate_read():
    ops = hist(*concurrent(("ok", [["append", "x", 1], ["append", "x", 2]]),
                           ("ok", [["r", "x", [1]]])))
    r = assert_found(ops, "G1b", RC)
    # as Elle reports it: the read also anti-depends on the writer's later append, a G-single
    assert r["anomaly_types"] == ["G-single", "G1b"]


def test_g1b_twin_is_valid():
    assert_valid(hist(*concurrent(("ok", [["append", "x", 1], ["append", "x", 2]]),
                                  ("ok", [["r", "x", [1, 2]]]))))


def test_dirty_update():
    ops = hist(*seq(("fail", [["append", "x", 1]]), ("ok", [["append", "x", 2]]),
                    final_read(("x", [1, 2]))))
    r = assert_found(ops, "dirty-update", RC)
    assert "G1a" in r["anomaly_types"]


def test_dirty_update_twin_is_valid():
    assert_valid(hist(*seq(("ok", [["append", "x", 1]]), ("ok", [["append", "x", 2]]),
                           final_read(("x", [1, 2])))))


# --- single-transaction and order anomalies ------------------------------------------------

def test_internal():
    assert_found(hist(*seq(("ok", [["append", "x", 1], ["r", "x", []]]))), "internal", "monotonic-atomic-view")


def test_internal_twin_is_valid():
    assert_valid(hist(*seq(("ok", [["append", "x", 1], ["r", "x", [1]]]))))


def test_internal_read_append_read_must_extend_own_view():
    # Elle's internal: the second read must be the first plus the txn's own append; read committed
    # allows such non-repeatable reads, read atomic and stronger do not
    ops = hist(*concurrent(("ok", [["r", "x", []], ["append", "x", 2], ["r", "x", [1, 2]]]),
                           ("ok", [["append", "x", 1]])))
    assert "internal" in check(ops, RC)["anomaly_types"]
    assert check(ops, RC)["valid"] is True
    assert check(ops, SI)["valid"] is False


def test_future_read():
    assert_found(hist(*seq(("ok", [["r", "x", [1]], ["append", "x", 1]]))), "future-read")


def test_future_read_twin_is_valid():
    assert_valid(hist(*seq(("ok", [["r", "x", []], ["append", "x", 1]]))))


def test_lost_update():
    ops = hist(*concurrent(("ok", [["r", "x", []], ["append", "x", 1]]),
                           ("ok", [["r", "x", []], ["append", "x", 2]])),
               (5, 20, 30, "ok", [["r", "x", [1, 2]]]))
    r = assert_found(ops, "lost-update", "cursor-stability")
    assert "G-single" in r["anomaly_types"]
    assert check(ops, RC)["valid"] is True


def test_lost_update_twin_is_valid():
    assert_valid(hist((0, 0, 10, "ok", [["r", "x", []], ["append", "x", 1]]),
                      (1, 20, 30, "ok", [["r", "x", [1]], ["append", "x", 2]]),
                      (5, 40, 50, "ok", [["r", "x", [1, 2]]])))


def test_duplicate_elements():
    r = assert_found(hist(*seq(("ok", [["append", "x", 1]]), final_read(("x", [1, 1])))),
                     "duplicate-elements", "read-uncommitted")
    assert "more than once" in r["anomalies"]["duplicate-elements"][0]["explanation"]


def test_duplicate_elements_twin_is_valid():
    assert_valid(hist(*seq(("ok", [["append", "x", 1]]), final_read(("x", [1])))))


def test_incompatible_order():
    ops = hist(*seq(("ok", [["append", "x", 1]]), ("ok", [["append", "x", 2]]),
                    final_read(("x", [1, 2])), final_read(("x", [2, 1]))))
    r = assert_found(ops, "incompatible-order", "read-uncommitted")
    assert r["not"] == ["read-uncommitted"]


def test_incompatible_order_twin_prefixes_are_valid():
    assert_valid(hist(*seq(("ok", [["append", "x", 1]]), final_read(("x", [1])),
                           ("ok", [["append", "x", 2]]), final_read(("x", [1, 2])))))


# --- result shape, subsets, stats ----------------------------------------------------------

def test_result_shape_and_stats():
    ops = hist(*seq(("ok", [["append", "x", 1]]), ("fail", [["append", "x", 2]]),
                    ("info", [["append", "x", 3]]), final_read(("x", [1]))))
    r = assert_valid(ops)
    assert set(r) >= {"valid", "anomaly_types", "anomalies", "not", "also_not", "stats"}
    assert r["anomaly_types"] == [] and r["not"] == [] and r["also_not"] == []
    st = r["stats"]
    assert (st["txns"], st["ok"], st["fail"], st["info"]) == (4, 2, 1, 1)
    assert st["seconds"] >= 0


def test_subset_of_a_history_is_checkable():
    ops = hist(*concurrent(("ok", [["r", "x", []], ["append", "y", 1]]),
                           ("ok", [["r", "y", []], ["append", "x", 1]]),
                           ("ok", [["append", "other", 1]])))
    subset = [op for op in ops if op["process"] in (0, 1)]
    assert check(subset)["anomaly_types"] == ["G2-item"]
    assert check([op for op in ops if op["process"] == 2])["valid"] is True


def test_nemesis_and_other_ops_are_ignored():
    ops = hist(*seq(("ok", [["append", "x", 1]]), final_read(("x", [1]))))
    ops.insert(1, {"index": 99, "time": 1, "type": "info", "process": "nemesis", "f": "partition",
                   "value": ["n1"]})
    assert_valid(ops)


def test_empty_history_is_unknown():
    r = check([])
    assert r["valid"] == "unknown" and r["unknown_reason"]


def test_unpaired_invoke_at_end_counts_as_info():
    ops = hist(*seq(("ok", [["append", "x", 1]])))
    ops.append({"index": 2, "time": 100, "type": "invoke", "process": 7, "f": "txn",
                "value": [["append", "x", 2]]})
    ops.append({"index": 3, "time": 200, "type": "invoke", "process": 8, "f": "txn",
                "value": [["r", "x", None]]})
    ops.append({"index": 4, "time": 300, "type": "ok", "process": 8, "f": "txn",
                "value": [["r", "x", [1, 2]]]})
    r = assert_valid(ops)
    assert r["stats"]["info"] == 1


@pytest.mark.parametrize("bad, message", [
    ([["put", "x", 1]], "unknown micro-op"),
    ([["append", "x"]], "unknown micro-op"),
    ("nope", "must be a list of micro-ops"),
    ([["r", "x", 5]], "must be a list or null"),
])
def test_bad_micro_ops_raise_history_error(bad, message):
    ops = [{"index": 0, "type": "invoke", "process": 0, "f": "txn", "value": bad},
           {"index": 1, "type": "ok", "process": 0, "f": "txn", "value": bad}]
    with pytest.raises(HistoryError, match=message):
        check(ops)


def test_duplicate_append_is_bad_input():
    ops = hist(*seq(("ok", [["append", "x", 1]]), ("ok", [["append", "x", 1]])))
    with pytest.raises(HistoryError) as e:
        check(ops)
    assert "more than once" in str(e.value) and ":4:" in str(e.value)


def test_completion_before_invoke_is_bad_input():
    ops = [{"index": 0, "time": 50, "type": "invoke", "process": 0, "f": "txn", "value": [["append", "x", 1]]},
           {"index": 1, "time": 10, "type": "ok", "process": 0, "f": "txn", "value": [["append", "x", 1]]}]
    with pytest.raises(HistoryError, match="earlier time"):
        check(ops)


def test_cycle_search_budget_is_reported_not_hung():
    ops = hist(*concurrent(("ok", [["r", "x", []], ["append", "y", 1]]),
                           ("ok", [["r", "y", []], ["append", "x", 1]])))
    r = la.check(ops, SS, budget=1)
    assert r["valid"] == "unknown"
    assert r["search"]["truncated"]


@pytest.mark.parametrize("mops", [
    [["append", "x", [1]]],
    [["r", "x", [[1]]]],
    [["append", ["k"], 1]],
])
def test_unhashable_values_are_bad_input(mops):
    ops = hist(*seq(("ok", mops), ("ok", mops)))
    with pytest.raises(HistoryError, match=":2: "):
        check(ops)


def test_budget_only_matters_for_classes_the_model_forbids():
    ops = hist(*concurrent(("ok", [["r", "x", []], ["append", "y", 1]]),
                           ("ok", [["r", "y", []], ["append", "x", 1]])))
    # read-committed allows every class the exhausted search skipped: still a verdict
    assert la.check(ops, RC, budget=1)["valid"] is True


# --- times that are not whole integers -----------------------------------------------------

def test_float_times_are_truncated_and_still_order_transactions():
    # a stale read after a completed append, with fractional times: real-time order must hold
    ops = hist((1, 0.5, 5.25, "ok", [["append", "x", 1]]),
               (2, 10.5, 15.75, "ok", [["r", "x", []]]))
    r = check(ops)
    assert r["valid"] is False and any(t.endswith("-realtime") for t in r["anomaly_types"])
    assert_valid(hist((1, 0.5, 5.25, "ok", [["append", "x", 1]]),
                      (2, 10.5, 15.75, "ok", [["r", "x", [1]]])))


def test_a_time_that_is_not_a_number_is_a_one_line_error():
    ops = hist(*seq(("ok", [["append", "x", 1]])))
    ops[1]["time"] = "soon"
    with pytest.raises(HistoryError, match="field 'time' must be a number"):
        check(ops)
