"""The report on the real list-append checker's output (not a planted result): a read skew."""
import json
import re

from checkers.api import check
from checkers.history import write_history
from harness.report import write_report


def read_skew_history():
    """T1 appends to x and y; T2 sees T1's x but not its y (G-single); others are noise."""
    ops = []

    def txn(process, t0, t1, value, done):
        ops.append({"type": "invoke", "process": process, "f": "txn", "value": value, "time": t0, "node": "n1"})
        ops.append({"type": "ok", "process": process, "f": "txn", "value": done, "time": t1,
                    "node": "n2" if process == 1 else "n1"})

    ms = 1_000_000
    txn(0, 1 * ms, 2 * ms, [["append", "x", 1], ["append", "y", 1]], [["append", "x", 1], ["append", "y", 1]])
    txn(1, 3 * ms, 4 * ms, [["r", "x", None], ["r", "y", None]], [["r", "x", [1]], ["r", "y", []]])
    txn(2, 5 * ms, 6 * ms, [["r", "x", None], ["r", "y", None]], [["r", "x", [1]], ["r", "y", [1]]])
    ops.sort(key=lambda o: o["time"])
    return [{"index": i, **o} for i, o in enumerate(ops)]


def test_report_shows_the_checkers_cycle_steps_and_ops(tmp_path):
    history = read_skew_history()
    result = check(history, "list-append", "serializable")
    assert result["valid"] is False and any(t.startswith("G-single") for t in result["anomaly_types"])
    run = tmp_path / "run"
    run.mkdir()
    write_history(run / "history.jsonl", history)
    (run / "results.json").write_text(json.dumps({**result, "db": "galera", "workload": "list-append",
                                                  "model": "serializable", "nemesis": [], "routing": "random"}))
    html = write_report(run).read_text()
    atype = next(t for t in result["anomaly_types"] if t.startswith("G-single"))
    cycle = result["anomalies"][atype][0]["cycle"]
    names = [f"T{op['index']}" for op in cycle]
    # the graph (graphviz's via checkers.render, or the report's own) names transactions as the
    # checker's explanation does, and links each to its row in the history excerpt
    graph = re.search(r'<svg class="cycle-graph".*?</svg>', html, re.S).group(0)
    for op, name in zip(cycle, names):
        assert re.search(rf">{name}(\s|<)", graph), name
        assert f'href="#a1-op-{op["index"]}"' in graph
        assert re.search(rf'<tr class="focus" id="a1-op-{op["index"]}">', html)
    # every step reads "Ta < Tb (kind): why", the kinds labelling the graph's edges
    steps = re.findall(r"<li>(T\d+ &lt; T\d+ \((\w+)\): .*?)</li>", html)
    assert len(steps) == len(cycle) and {k for _, k in steps} <= {"ww", "wr", "rw", "process", "realtime"}
    assert all(re.search(rf">{k}( [^<]*)?</text>", graph) for _, k in steps)
    assert "Not safe: on galera (random routing) with no faults, the history violates serializable" in html


def test_report_draws_the_cycle_itself_without_graphviz(tmp_path, monkeypatch):
    import checkers.render
    monkeypatch.setattr(checkers.render.shutil, "which", lambda name: None)  # no `dot` on this host
    history = read_skew_history()
    result = check(history, "list-append", "serializable")
    run = tmp_path / "run"
    run.mkdir()
    write_history(run / "history.jsonl", history)
    (run / "results.json").write_text(json.dumps(result))
    html = write_report(run).read_text()
    cycle = next(iter(result["anomalies"].values()))[0]["cycle"]
    graph = re.search(r'<svg class="cycle-graph".*?</svg>', html, re.S).group(0)
    assert not list((run / "explanations").glob("*.svg"))  # only DOT: the report drew this one
    for op in cycle:
        assert re.search(rf"T{op['index']}  p{op['process']} · n\d", graph)
        assert f'href="#a1-op-{op["index"]}"' in graph
