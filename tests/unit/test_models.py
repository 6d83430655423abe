"""The consistency-model lattice and verdicts."""
import pytest

from checkers import models
from checkers.api import build_result


def test_default_strict_serializable_forbids_every_cycle_variant():
    f = models.forbidden_by("strict-serializable")
    for a in models.CYCLE_ANOMALIES:
        assert {a, a + "-process", a + "-realtime"} <= f


def test_stronger_models_forbid_more():
    for m in models.MODELS:
        for up in models._STRONGER[m]:
            assert models.forbidden_by(m) <= models.forbidden_by(up), (m, up)


@pytest.mark.parametrize("anomaly, model, valid", [
    ("G2-item", "snapshot-isolation", True),
    ("G2-item", "serializable", False),
    ("G2-item", "repeatable-read", False),
    ("G-single", "snapshot-isolation", False),
    ("G-single", "read-committed", True),
    ("G-single-realtime", "serializable", True),
    ("G-single-realtime", "strict-serializable", False),
    ("G-single-process", "strong-session-serializable", False),
    ("G-single-process", "strong-session-read-committed", True),
    ("G1c-process", "strong-session-read-committed", False),
    ("G1a", "read-uncommitted", True),
    ("G1a", "read-committed", False),
    ("G0", "read-uncommitted", False),
    ("lost-update", "read-committed", True),
    ("lost-update", "cursor-stability", False),
    ("lost-update", "snapshot-isolation", False),
    ("internal", "read-committed", True),          # Elle: read committed allows non-repeatable reads
    ("internal", "monotonic-atomic-view", False),
    ("internal", "snapshot-isolation", False),
    ("garbage-read", "read-uncommitted", False),
    ("incompatible-order", "read-uncommitted", False),
])
def test_verdicts(anomaly, model, valid):
    assert models.verdict([anomaly], model)[0] is valid


def test_not_and_also_not():
    valid, not_, also = models.verdict(["G-single"], "strict-serializable")
    assert not valid
    assert not_ == ["repeatable-read", "snapshot-isolation"]   # incomparable, both weakest
    assert "serializable" in also and "strict-serializable" in also
    assert "read-committed" not in also and "cursor-stability" not in also
    assert models.verdict([], "serializable") == (True, [], [])


def test_aliases_and_unknown_models():
    assert models.canonical("strong-serializable") == "strict-serializable"
    with pytest.raises(ValueError, match="unknown consistency model"):
        models.canonical("eventual")


def test_checkers_own_anomalies_come_from_the_table():
    # what bank, set and the engine checker used to register at import is declared in
    # checkers/anomalies.py: judged the same without importing those checkers
    assert models.verdict(["lost"], "read-uncommitted")[0] is False
    assert models.verdict(["lost"], "strict-serializable")[1] == ["read-uncommitted"]
    assert models.verdict(["wrong-total"], "read-committed")[0] is True
    assert models.verdict(["wrong-total"], "snapshot-isolation")[0] is False
    assert models.verdict(["nonlinearizable"], "serializable")[0] is True
    assert models.verdict(["nonlinearizable"], "strict-serializable")[0] is False
    assert not hasattr(models, "register_anomaly")


def test_unregistered_anomaly_rules_out_everything():
    assert models.verdict(["something-new"], "read-uncommitted")[0] is False


def test_build_result_shape_caps_and_unknown():
    r = build_result({"G1a": [{"explanation": str(i)} for i in range(50)], "G0": []},
                     "serializable", {"ok": 3}, counts={"G1a": 70})
    assert r["valid"] is False and r["anomaly_types"] == ["G1a"]
    assert len(r["anomalies"]["G1a"]) == 20 and r["stats"]["anomaly_counts"] == {"G1a": 70}
    assert r["stats"]["txns"] == 0 and r["stats"]["fail"] == 0
    r = build_result({}, "serializable", {}, unknown_reason="nothing to check")
    assert r["valid"] == "unknown" and r["unknown_reason"] == "nothing to check"
    r = build_result({"G1a": [{"explanation": "x"}]}, "serializable", {}, unknown_reason="partial")
    assert r["valid"] is False
