"""The Porcupine-style timeline of a non-linearizable key, alone and inside the run report."""
import json
import random
import re

import orjson

from checkers.linearizable import check_ops
from checkers.register_sim import simulate
from harness.report import write_report
from harness.report.linearizability import key_timeline_svg
from testing.synthetic import make_run_dir


def _stale_history(seed=5):
    for s in range(seed, seed + 50):
        h = simulate(120, random.Random(s), processes=4, keys=2, datatype="cas-register",
                     fault="stale-read", info_rate=0.1)
        if h.planted:
            return h
    raise AssertionError("no stale read planted")


def test_timeline_marks_the_failing_op_prefix_and_states():
    hist = _stale_history()
    r = check_ops(hist)
    (a,) = r["anomalies"]["nonlinearizable"]
    svg = key_timeline_svg(a, hist, "a1")
    bars = re.findall(r'<rect x="[\d.]+" y="\d+" width="[\d.]+" height="16" rx="3" fill="(#\w+)"', svg)
    assert bars.count("#d62728") == 1                        # exactly one op cannot be placed
    assert "#2ca02c" in bars                                  # the linearizable prefix
    assert f"#{a['blocked']['index']}: the red op must have taken effect by here" in svg
    states = ", ".join("nil" if s is None else str(s) for s in a["states"])
    assert f"could hold: {states}" in svg
    assert f"key {a['key']}" in svg
    processes = {op["process"] for op in hist if op["value"][0] == a["key"]}
    lanes = set(map(int, re.findall(r">process (\d+)</text>", svg)))
    assert lanes and lanes <= processes                       # only this key's processes


def test_timeline_needs_a_failing_op():
    assert key_timeline_svg({"key": 0, "explanation": "zones only"}, []) == ""


def test_report_of_a_cas_register_run_draws_the_key_timeline(tmp_path):
    run = make_run_dir(tmp_path / "run", n_ops=200, valid=True, nemesis=())
    hist = _stale_history()
    with open(run / "history.jsonl", "wb") as f:
        for op in hist:
            f.write(orjson.dumps(op) + b"\n")
    results = json.loads((run / "results.json").read_text())
    results.update(check_ops(hist), workload="cas-register")
    (run / "results.json").write_text(json.dumps(results, default=list))
    html = write_report(run).read_text()
    assert "nonlinearizable" in html and "linearizability timeline of one key" in html
    assert "cannot be placed" in html
