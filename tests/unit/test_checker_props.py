"""Property tests: a simulated atomic store never yields anomalies; injected faults are caught."""
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from checkers import list_append as la
from checkers.api import check_file
from checkers.history import write_history
from testing import list_append_sim as sim
from testing.histories import to_edn

params = st.fixed_dictionaries({
    "n_txns": st.integers(1, 120),
    "seed": st.integers(0, 2 ** 31),
    "concurrency": st.integers(1, 6),
    "max_mops": st.integers(1, 4),
    "live_keys": st.integers(1, 6),
    "max_appends": st.integers(2, 12),
    "p_fail": st.sampled_from([0.0, 0.05, 0.2]),
    "p_info": st.sampled_from([0.0, 0.05, 0.2]),
})

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(params)
def test_atomic_store_histories_are_strict_serializable(p):
    ops, _ = sim.simulate(**p)
    r = la.check(ops, "strict-serializable")
    if r["stats"]["ok"] == 0:       # nothing committed (e.g. one info txn): nothing to judge
        assert r["valid"] == "unknown" and not r["anomaly_types"]
        return
    assert r["valid"] is True, (r["anomaly_types"], [i["explanation"] for v in r["anomalies"].values() for i in v][:2])


@SETTINGS
@given(params, st.sampled_from(sim.FAULTS))
def test_injected_faults_are_detected(p, fault):
    p = dict(p, n_txns=max(p["n_txns"], 20))
    ops, injected = sim.simulate(fault=fault, **p)
    assume(injected)
    r = la.check(ops, "strict-serializable")
    assert r["valid"] is False
    expected = {"drop": {"incompatible-order", "G-single-realtime", "G-single-process", "G-single",
                         "G-nonadjacent-realtime", "G2-item-realtime", "G2-item", "internal",
                         "G-nonadjacent", "G-nonadjacent-process", "G2-item-process", "G1c", "G0",
                         "G1c-realtime", "G1c-process", "G0-realtime", "G0-process", "G1b"},
                "failed-read": {"G1a"},
                "swap": {"incompatible-order", "internal"}}
    if fault in expected:
        assert set(r["anomaly_types"]) & expected[fault], r["anomaly_types"]


@settings(max_examples=15, deadline=None)
@given(params, st.sampled_from((None,) + sim.FAULTS))
def test_edn_and_jsonl_give_the_same_verdict(tmp_path_factory, p, fault):
    ops, _ = sim.simulate(fault=fault, **p)
    d = tmp_path_factory.mktemp("edn")
    write_history(d / "h.jsonl", ops)
    (d / "h.edn").write_text(to_edn(ops))
    a = check_file(str(d / "h.jsonl"), "list-append")
    b = check_file(str(d / "h.edn"), "list-append")
    assert a["valid"] == b["valid"]
    assert a["anomaly_types"] == b["anomaly_types"]
    assert a["stats"]["txns"] == b["stats"]["txns"]
