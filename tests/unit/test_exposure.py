"""Exposure counting on hand-made engine histories, and the verdicts that rest on it: an exposure is
counted once, none across a gap larger than the window, NOT-EXERCISED is never SAFE."""
from checkers import exposure
from harness.certify.certificate import evidence
from harness.certify.verdict import NOT_EXERCISED, SAFE, UNSAFE, cell_verdict, risks_of

MS = 1_000_000


def t(f, node, t0_ms, t1_ms, type_="ok", **value):
    return {"f": f, "type": type_, "node": node, "t0": t0_ms * MS, "t1": t1_ms * MS, "value": value,
            "done": {"error": value.pop("error", None)}}


def counts(txns, window_ms=10):
    return {k: v["count"] for k, v in exposure.count(txns, window_ms * MS).items()}


def test_resume_on_another_node_soon_after_the_save_is_one_exposure():
    h = [t("save", "n1", 0, 2, key=1, sid=5), t("resume", "n2", 4, 5, key=1),
         t("resume", "n2", 6, 7, key=1)]          # the second resume: the same save, still soon
    c = exposure.count(h, 10 * MS)["cross-node-resume"]
    assert c["count"] == 2 and c["gap_ms"]["max"] == 4.0


def test_no_exposure_across_a_gap_larger_than_the_window_or_on_the_same_node():
    h = [t("save", "n1", 0, 2, key=1, sid=5), t("resume", "n2", 50, 51, key=1),
         t("resume", "n1", 3, 4, key=1), t("resume", "n2", 3, 4, key=2)]
    assert counts(h)["cross-node-resume"] == 0
    assert counts(h, window_ms=100)["cross-node-resume"] == 1  # a longer measured lag: now it is soon


def test_concurrent_saves_of_one_instance_count_once_per_pair():
    h = [t("save", "n1", 0, 5, key=1, sid=5), t("save", "n1", 1, 6, "fail", key=1, sid=6,
                                                  error="optimistic lock: execution 3 is no longer at revision 2"),
         t("save", "n1", 10, 12, key=1, sid=7),   # after both: no overlap
         t("save", "n1", 1, 6, key=2, sid=8),     # another instance
         t("save", "n1", 2, 3, "fail", key=1, sid=9, error="no task: the instance waits for its jobs")]
    c = counts(h)
    assert c["concurrent-saves"] == 1 and c["cross-node-writes"] == 0


def test_cross_node_writes_locks_and_id_blocks():
    h = [t("save", "n1", 0, 2, key=1, sid=5), t("save", "n2", 5, 6, "fail", key=1, sid=6, error="1213: Deadlock"),
         t("deploy", "n1", 0, 30, engine=0), t("deploy", "n2", 1, 31, engine=1),
         t("deploy", "n2", 40, 41, engine=1),
         t("schedule-cleanup", "n2", 20, 21, engine=1),  # another lock than the deployment lock
         t("id-block", "n1", 0, 1, engine=0, id_blocks=[[1, 101, 1]]),
         t("id-block", "n2", 3, 4, engine=1, id_blocks=[[101, 201, 2]])]
    c = counts(h)
    assert c["cross-node-writes"] == 1 and c["concurrent-deploy"] == 1 and c["cross-node-locks"] == 1
    assert c["cross-node-ids"] == 1


def test_risks_follow_the_topology():
    one = [{"topology": [{"role": "single"}]}]
    galera = [{"topology": [{"role": "member"}] * 3}]
    standby = [{"topology": [{"role": "primary"}, {"role": "standby"}]}]
    names = lambda rs: {r.name for r in rs}
    assert names(risks_of("primary", one)) == {"concurrent-saves", "concurrent-acquire", "concurrent-deploy"}
    assert names(risks_of("primary", galera)) == names(risks_of("primary", one))
    assert "cross-node-ids" in names(risks_of("local", galera))
    assert "cross-node-ids" not in names(risks_of("local", galera, {"idgen": "uuid"}))
    s = names(risks_of("local", standby))
    assert "cross-node-resume" in s and "cross-node-writes" not in s  # one writer


def run(valid=True, **counts_):
    return {"valid": valid, "test": "t", "topology": [{"role": "single"}],
            "exposure": {"risks": {k: {"count": v} for k, v in counts_.items()}}}


def test_not_exercised_is_never_safe_and_safe_states_its_confidence():
    risks = risks_of("primary", [run()])
    thin = [run(**{"concurrent-saves": 80, "concurrent-acquire": 80, "concurrent-deploy": 3})]
    assert cell_verdict(thin, risks, 50) == NOT_EXERCISED
    why = evidence(NOT_EXERCISED, thin, risks, {"concurrent-saves": 80, "concurrent-acquire": 80,
                                                 "concurrent-deploy": 3}, 50)
    assert "concurrent-deploy" in why and "3 times of 50" in why and "deploy_every" in why
    rich = [run(**{"concurrent-saves": 80, "concurrent-acquire": 60, "concurrent-deploy": 100})] * 2
    assert cell_verdict(rich, risks, 50) == SAFE
    totals = {"concurrent-saves": 160, "concurrent-acquire": 120, "concurrent-deploy": 200}
    text = evidence(SAFE, rich, risks, totals, 50)
    assert "0 violations in 2 runs and at least 120 exposures" in text
    assert "less than 2.5 % of the time (rule of three)" in text  # 3 / 120
    assert cell_verdict(rich + [run(valid=False)], risks, 50) == UNSAFE


def test_rule_of_three():
    assert exposure.rule_of_three(300) == 0.01 and exposure.rule_of_three(0) is None


def test_lag_summary_quantiles_and_the_certificate_line():
    from harness.certify.certificate import lag_text
    from harness.lag_monitor import LagMonitor, quantile
    m = LagMonitor.__new__(LagMonitor)  # the summary is pure: no cluster needed
    m.samples = {"n1->n2": [0.5, 1.0, 1.5, 2000.0], "n2->n1": [0.2]}
    m.timeouts, m.series, m.interval, m.poll, m.give_up = {"n1->n2": 1}, [], 0.25, 0.002, 2.0
    s = m.summary()
    assert s["pairs"]["n1->n2"] == {"p50": 1.5, "p99": 2000.0, "max": 2000.0, "samples": 4, "timeouts": 1}
    assert s["max_ms"] == 2000.0 and quantile([], 0.5) is None
    assert lag_text([{"lag": s}, {"lag": None}]) == (
        "; replication lag p99 >= 2000 ms (worst run): 1 of 5 heartbeats not seen on another node "
        "within that bound (a replica far behind, or replication halted)")
    m.samples, m.timeouts = {"n1->n2": [0.5, 1.0, 3.0]}, {}
    assert lag_text([{"lag": m.summary()}]) == "; replication lag p99 3 ms (worst run)"
    assert lag_text([{}]) == ""
