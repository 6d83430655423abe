"""Bank checker: finds wrong totals and negative balances, and nothing in a correct history."""
from checkers import bank


def hist(*reads, transfers=2):
    ops, i = [], 0
    for p in range(transfers):
        t = {"from": 0, "to": 1, "amount": 3}
        ops += [{"index": i, "type": "invoke", "process": p, "f": "transfer", "value": t},
                {"index": i + 1, "type": "ok", "process": p, "f": "transfer", "value": t}]
        i += 2
    for value in reads:
        ops += [{"index": i, "type": "invoke", "process": 9, "f": "read", "value": None},
                {"index": i + 1, "type": "ok", "process": 9, "f": "read", "value": value, "total": 100,
                 "node": "n2"}]
        i += 2
    return ops


GOOD = {"0": 20, "1": 30, "2": 50}


def test_correct_totals_are_valid():
    r = bank.check(hist(GOOD, {"0": 17, "1": 33, "2": 50}), "serializable", total=100, accounts=3)
    assert r["valid"] is True and r["anomaly_types"] == []
    assert r["stats"]["reads"] == 2 and r["stats"]["transfers"] == 2


def test_wrong_total_is_found_with_the_read_that_shows_it():
    r = bank.check(hist(GOOD, {"0": 20, "1": 33, "2": 50}), "serializable", total=100, accounts=3)
    assert r["valid"] is False and r["anomaly_types"] == ["wrong-total"]
    inst = r["anomalies"]["wrong-total"][0]
    assert inst["total"] == 103 and inst["ops"][0]["index"] == 7
    assert "add up to 103, not 100" in inst["explanation"] and "on n2" in inst["explanation"]
    assert "snapshot-isolation" in r["not"] and "repeatable-read" in r["not"]


def test_negative_balance_and_missing_account_are_found():
    r = bank.check(hist({"0": -5, "1": 55, "2": 50}, {"0": 50, "1": 50}), "strict-serializable",
                   total=100, accounts=3)
    assert r["anomaly_types"] == ["negative-balance", "wrong-total"]
    assert "account 0 = -5" in r["anomalies"]["negative-balance"][0]["explanation"]
    assert "accounts [2] are missing" in r["anomalies"]["wrong-total"][0]["explanation"]


def test_read_committed_permits_wrong_totals_but_still_reports_them():
    r = bank.check(hist({"0": 20, "1": 33, "2": 50}), "read-committed", total=100)
    assert r["valid"] is True and r["anomaly_types"] == ["wrong-total"]


def test_total_comes_from_the_history_or_is_inferred():
    ops = hist(GOOD, {"0": 1, "1": 1, "2": 1})
    assert bank.check(ops)["stats"]["expected_total"] == 100  # from the reads' "total" field
    for op in ops:
        op.pop("total", None)
    ops = hist(GOOD, GOOD, {"0": 1, "1": 1, "2": 1})
    for op in ops:
        op.pop("total", None)
    r = bank.check(ops)
    assert r["stats"]["expected_total"] == 100 and "inferred" in r["notes"][0]
    assert r["anomaly_types"] == ["wrong-total"]


def test_edn_style_integer_keys_and_no_reads():
    assert bank.check(hist({0: 50, 1: 50}), total=100)["valid"] is True
    r = bank.check(hist())
    assert r["valid"] == "unknown" and "no successful reads" in r["unknown_reason"]
