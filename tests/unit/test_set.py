"""Set checker: lost, unexpected and recovered elements, and no false alarms."""
from checkers import set_check


def adds(outcomes):
    ops, i = [], 0
    for v, t in outcomes.items():
        ops += [{"index": i, "type": "invoke", "process": v % 3, "f": "add", "value": v},
                {"index": i + 1, "type": t, "process": v % 3, "f": "add", "value": v}]
        i += 2
    return ops


def final(ops, value, node="n1", mark=True):
    i = len(ops)
    extra = {"final": True} if mark else {}
    return ops + [{"index": i, "type": "invoke", "process": 7, "f": "read", "value": None, **extra},
                  {"index": i + 1, "type": "ok", "process": 7, "f": "read", "value": value, "node": node, **extra}]


def test_everything_acknowledged_is_present():
    h = final(adds({1: "ok", 2: "ok", 3: "fail", 4: "info"}), [1, 2])
    r = set_check.check(h)
    assert r["valid"] is True and r["anomaly_types"] == []
    assert r["stats"]["acknowledged"] == 2 and r["recovered_elements"] == []


def test_lost_insert_is_found_per_final_read():
    h = adds({1: "ok", 2: "ok", 3: "ok"})
    h = final(final(h, [1, 2, 3], node="n1"), [1, 3], node="n2")
    r = set_check.check(h, "read-uncommitted")
    assert r["valid"] is False and r["anomaly_types"] == ["lost"]
    inst = r["anomalies"]["lost"][0]
    assert inst["elements"] == [2] and "on n2" in inst["explanation"]
    assert [op["value"] for op in inst["ops"][1:]] == [2]
    assert r["lost_elements"] == [2]


def test_unexpected_and_recovered():
    h = final(adds({1: "ok", 2: "info", 3: "fail"}), [1, 2, 3, 99])
    r = set_check.check(h)
    assert r["anomaly_types"] == ["unexpected"]
    assert r["unexpected_elements"] == [3, 99] and r["recovered_elements"] == [2]
    assert "no client ever added: 99" in r["anomalies"]["unexpected"][0]["explanation"]


def test_unmarked_history_uses_the_last_read_and_no_read_is_unknown():
    h = final(final(adds({1: "ok"}), [], mark=False), [1], mark=False)
    assert set_check.check(h)["valid"] is True
    r = set_check.check(adds({1: "ok"}))
    assert r["valid"] == "unknown" and "final read" in r["unknown_reason"]
