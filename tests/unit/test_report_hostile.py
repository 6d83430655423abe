"""Hostile input on the pages: a run whose every field carries markup reaches the report and the
`harness serve` pages only as escaped text (no stored XSS through results.json, test.json or the
history), and the report writes nothing through a symlink planted in the run directory."""
import json
import re
import threading
import urllib.error
import urllib.request

import orjson
import pytest

from harness.report import write_report
from harness.report.data import ReportError
from harness.report.graphs import cycle_svg
from harness.report.linearizability import key_timeline_svg
from testing.synthetic import make_run_dir
from harness.serve_cmd import make_server

TIMEOUT = 20


def payload(field: str) -> str:
    """Markup that would run script if it reached the page unescaped, in text or in an attribute."""
    return f"<script>alert('{field}')</script>\"onmouseover=alert('{field}') x='"


def reached(field: str, page: str) -> bool:
    """Whether the field's payload is on the page as escaped text (a repr may add backslashes)."""
    return re.search(r"&lt;script&gt;alert\(\\?&#x27;" + re.escape(field) + r"\\?&#x27;\)", page) is not None


def unescaped(page: str) -> list[str]:
    """Every place where markup of a payload survived: a tag, or an attribute broken out of its quotes."""
    return re.findall(r"<script|\"onmouseover=|'onmouseover=|\sonmouseover=", page, re.I)


def hostile_run(run_dir, odd_instance=True):
    """A synthetic invalid run, then every field that reaches a page replaced by a payload naming it.
    odd_instance: one anomaly instance a bare string (checkers/render.py gives up on it, so every cycle
    is drawn by the report itself)."""
    run = make_run_dir(run_dir, n_ops=600, workload="list-append")
    results = json.loads((run / "results.json").read_text())
    spec = json.loads((run / "test.json").read_text())
    ops = [orjson.loads(line) for line in (run / "history.jsonl").read_bytes().splitlines()]
    node = payload("node")
    for op in ops:
        if op.get("node") is not None:
            op["node"] = node
        if op["process"] == "nemesis":
            op["f"] = op["f"].split("-", 1)[0] + "-" + payload("fault")
            op["value"] = payload("fault-value")
        elif op["type"] != "invoke":
            op["value"] = [["append", 1, payload("history-value")]] if op["f"] == "txn" else payload("history-value")
            if op.get("error"):
                op["error"] = payload("history-error")
    ops[1]["f"] = payload("op-f")
    g = results["anomalies"]["G-single"][0]
    a_ref, b_ref = g["cycle"][0]["index"], g["cycle"][1]["index"]
    for op in g["cycle"]:
        op["node"], op["f"], op["value"] = node, payload("cycle-f"), payload("cycle-value")
        op["process"] = payload("cycle-process")
    g["cycle"].append(dict(g["cycle"][0], index=payload("op-index")))  # the unescaped href of issue 19
    g["explanation"] = payload("explanation")
    for s in g["steps"]:
        s["explanation"], s["type"] = payload("step"), payload("edge")
    g["isolation"] = payload("isolation")
    bad_type = payload("anomaly-type")
    results["anomalies"][bad_type] = [{"ops": [a_ref, b_ref], "explanation": payload("explanation-2"),
                                       "cycle": [{"index": payload("op-index-2"), "value": 1},
                                                 {"index": b_ref, "value": 2}]}]
    results["anomaly_types"] = sorted(results["anomaly_types"] + [bad_type])
    if odd_instance:
        results["anomalies"]["lost-update"].append(payload("instance"))
    results.update({
        "db": payload("db"), "workload": payload("workload"), "routing": payload("routing"),
        "nemesis": [payload("nemesis")], "model": payload("model"), "not": [payload("not")],
        "also_not": [payload("also-not")], "errors": [payload("error")], "command": payload("command"),
        "started": payload("started"), "seed": payload("seed"), "isolation": payload("isolation-level"),
        "versions": {payload("version-key"): payload("version")},
        "topology": [{"name": payload("topology-node"), "ip": payload("ip"), "role": payload("role")}],
        "run": {"notes": [payload("note")], "throughput": payload("throughput"), "seconds": payload("seconds")},
        "nemesis_notes": [payload("nemesis-note")],
        "context": {"anomaly_types": [payload("context-type")], "note": payload("context-note"),
                    "anomalies": {payload("context-type"): [{"explanation": payload("context-explanation")}]}},
        "lag": {"note": payload("lag-note"), "pairs": {payload("lag-pair"): {"p50": payload("lag-p50")}}},
        "exposure": {"window_ms": payload("window"), "risks": {"stale-resume": {"count": payload("count")}}},
    })
    del results["backend"]  # shown from test.json then
    spec.update({"db": payload("spec-db"), "backend": payload("backend"), "concurrency": payload("concurrency")})
    (run / "results.json").write_text(json.dumps(results))
    (run / "test.json").write_text(json.dumps(spec))
    (run / "history.jsonl").write_bytes(b"".join(orjson.dumps(op) + b"\n" for op in ops))
    return run


# Fields that must show on the report page (escaped); a few go only to the serve listing.
ON_REPORT = ("db", "workload", "routing", "nemesis", "model", "not", "error", "command", "started", "seed",
             "version-key", "version", "topology-node", "note", "nemesis-note", "context-type", "context-note",
             "context-explanation", "explanation", "explanation-2", "step", "isolation", "anomaly-type",
             "instance", "node", "history-value", "history-error", "fault", "cycle-value", "backend")


@pytest.mark.parametrize("graphviz", [True, False], ids=["graphviz", "fallback-drawing"])
def test_no_payload_reaches_the_report_unescaped(tmp_path, monkeypatch, graphviz):
    if not graphviz:  # no `dot` on PATH: the report draws the cycles itself (graphs.cycle_svg)
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    run = hostile_run(tmp_path / "run", odd_instance=not graphviz)
    page = write_report(run).read_text()
    assert unescaped(page) == []
    # graphviz shows a cycle op's value cut short, and a bare-string instance stops its renderer
    missing = [f for f in ON_REPORT if not reached(f, page) and not (graphviz and f in ("instance", "cycle-value"))]
    assert missing == []
    if graphviz:  # the checker's graphviz drawings were inlined
        assert (run / "explanations" / "g-single-1.svg").is_file() and "<g id=" in page
    else:
        assert page.count('class="cycle-graph"') >= 2  # both cycles drawn here, the hostile index in an href
    for svg in (run / "explanations").glob("*.svg"):
        assert unescaped(svg.read_text()) == [], svg.name


def test_fallback_cycle_drawing_escapes_the_op_index_in_its_link():
    anomaly = {"cycle": [{"index": 'x"onmouseover="alert(1)', "value": 1}, {"index": 2, "value": 2}],
               "steps": [{"type": "wr"}, {"type": "rw"}]}
    svg = cycle_svg(anomaly, lambda i: None, "a1")
    assert 'href="#a1-op-x&quot;onmouseover=&quot;alert(1)"' in svg
    assert '"onmouseover=' not in svg


def test_linearizability_timeline_escapes_a_history_index_in_its_link():
    hostile = payload("history-index")
    ops = [{"index": 0, "process": 1, "type": "invoke", "f": "write", "value": [0, 1]},
           {"index": 1, "process": 2, "type": "invoke", "f": "read", "value": [0, None]},
           {"index": 2, "process": 1, "type": "ok", "f": "write", "value": [0, 1]},
           {"index": hostile, "process": 2, "type": "info", "f": "read", "value": [0, None]},
           {"index": 4, "process": 3, "type": "invoke", "f": "read", "value": [0, None]},
           {"index": 5, "process": 3, "type": "ok", "f": "read", "value": [0, 7]}]
    svg = key_timeline_svg({"key": 0, "blocked": {"index": 5}, "linearized": [0]}, ops, "a1")
    assert "<svg" in svg and reached("history-index", svg)
    assert unescaped(svg) == []


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_no_payload_reaches_the_serve_pages_unescaped(tmp_path):
    store = tmp_path / "store"
    test_name = payload("test-dir").replace("/", "_")
    hostile_run(store / test_name / "20261126T090000")
    server = make_server(store, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        status, index = get(base + "/")
        assert status == 200
        assert unescaped(index) == []
        for f in ("db", "workload", "routing", "nemesis", "anomaly-type", "test-dir"):
            assert reached(f, index), f
        link = re.search(r'<a href="(/run/[^"]+)">report</a>', index).group(1)
        assert "<" not in link and '"' not in link
        status, report = get(base + link)
        assert status == 200 and unescaped(report) == [] and reached("explanation", report)
        status, missing = get(base + "/run/" + urllib.request.quote(payload("path")) + "/x/")
        assert status == 404 and unescaped(missing) == [] and reached("path", missing)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


def test_report_refuses_a_symlinked_explanations_dir(tmp_path):
    run = make_run_dir(tmp_path / "run", n_ops=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / "explanations").symlink_to(elsewhere)
    with pytest.raises(ReportError) as e:
        write_report(run)
    assert "symlink" in str(e.value) and "\n" not in str(e.value)
    assert list(elsewhere.iterdir()) == []
    assert not (run / "index.html").exists()


def test_report_writes_no_file_through_a_planted_symlink(tmp_path):
    run = make_run_dir(tmp_path / "run", n_ops=300)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (run / "explanations").mkdir()
    planted = [run / "index.html", run / "summary.json", run / "rate.png", run / "latency-raw.png",
               run / "explanations" / "g-single.txt", run / "explanations" / "g-single-1.dot",
               run / "explanations" / "lost-update.txt"]
    for p in planted:
        p.symlink_to(victim)
    write_report(run)
    assert victim.read_text() == "keep me"
    for p in planted:
        assert p.is_file() and not p.is_symlink(), p.name
    assert "<h1>" in (run / "index.html").read_text()
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_a_graph_planted_in_explanations_is_not_inlined(tmp_path, monkeypatch):
    """Without graphviz the checker writes no SVG; an old or planted one must not be taken for its."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    run = make_run_dir(tmp_path / "run", n_ops=300)
    (run / "explanations").mkdir()
    (run / "explanations" / "g-single-1.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    page = write_report(run).read_text()
    assert unescaped(page) == [] and 'class="cycle-graph"' in page


@pytest.mark.parametrize("field, bad", [("anomaly_types", [1, "G-single"]), ("anomaly_types", {"a": 1}),
                                        ("not", [[1]]), ("also_not", "serializable")])
def test_a_list_of_names_that_is_not_one_is_dropped_with_a_problem(tmp_path, field, bad):
    run = make_run_dir(tmp_path / "run", n_ops=300)
    results = json.loads((run / "results.json").read_text())
    results[field] = bad
    (run / "results.json").write_text(json.dumps(results))
    page = write_report(run).read_text()      # was: TypeError in meaning() / an unhashable lookup
    assert f"{field}&#x27; is not a list of names" in page or f"{field}' is not a list of names" in page
