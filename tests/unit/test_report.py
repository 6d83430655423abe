"""The run report: verdict first, anomalies with their evidence, plots, setup; robust to damaged runs."""
import json
import re
import time

import orjson
import pytest

from harness.errors import UsageError
from harness.report import write_report
from harness.report.data import ReportError
from harness.report.graphs import cycle_svg, edge_kind, steps_of
from harness.report.ops import excerpt_rows, fault_transition, nemesis_periods, pair_ops
from testing.synthetic import make_run_dir
from harness.report.timeline import timeline_svg
from harness.report.verdict import summary_line, verdict_sentence


def body_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
def invalid_report(tmp_path_factory):
    run = make_run_dir(tmp_path_factory.mktemp("inv") / "run", n_ops=3000, workload="save-resume")
    return run, write_report(run).read_text()


def test_invalid_report_puts_the_verdict_first_in_plain_words(invalid_report):
    run, html = invalid_report
    main = html.split("<main>", 1)[1]
    first = re.search(r'<p class="first" id="verdict-sentence">(.*?)</p>', main).group(1)
    # the first paragraph of the page is the verdict, naming the broken invariants and ruled-out models
    assert main.index("verdict-sentence") < main.index("What broke") < main.index("Anomalies")
    assert first.startswith("Not safe: on galera")
    assert "lost-save and stale-resume broke" in first
    assert "the history violates read-committed (the model checked) and every stronger model" in first
    assert 'class="verdict v-invalid"' in html
    assert ("Engine invariants:</b> broken: lost-save, stale-resume; held: double-win, double-execution, "
            "duplicate-instance, torn-state, divergence, duplicate-id, duplicate-definition, exclusive-overlap, "
            "duplicate-cleanup-job, replication-halted, next-day-resume, rev-nonlinearizable.") in html
    # and, for each isolation anomaly, what it could do to a process engine
    assert "What the database allowed could do to a process engine:</b> <b>G-single</b>: one read can see" in html


def test_each_anomaly_has_explanation_graph_and_history_rows(invalid_report):
    run, html = invalid_report
    results = json.loads((run / "results.json").read_text())
    for atype, instances in results["anomalies"].items():
        assert f'id="type-{atype}"' in html
        assert instances[0]["explanation"][:40].replace("'", "&#x27;") in html
        for op in instances[0].get("ops", []) + instances[0].get("cycle", []):
            idx = op["index"] if isinstance(op, dict) else op
            assert re.search(rf'<tr class="focus" id="a\d+-op-{idx}">', html), (atype, idx)
    assert html.count('<svg class="cycle-graph"') >= 1      # the G-single cycle
    assert html.count('<svg class="timeline"') == 3          # one per anomaly
    # engine findings say which isolation anomaly is behind them; allowed anomalies are context
    assert "The isolation anomaly behind it:</b> lost update (P4" in html
    assert 'id="context">Also seen, allowed by the checked model' in html and "<b>G2-item</b>" in html
    # the anomaly names its nodes and the fault active at the time
    assert re.search(r"lost-save #1</b> · nodes [^·]*n3", html)


def test_report_is_self_contained_and_scriptless(invalid_report):
    _, html = invalid_report
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(imgs) == 3 and all(s.startswith("data:image/png;base64,") for s in imgs)


def test_setup_section_has_the_rerun_command_and_versions(invalid_report):
    run, html = invalid_report
    results = json.loads((run / "results.json").read_text())
    assert f'id="rerun">{results["command"]}</pre>' in html
    assert "10.11.19-MariaDB" in html and "3 nodes: n1 10.77.0.11 member" in html


def test_plots_are_written_as_png(invalid_report):
    run, _ = invalid_report
    for name in ("latency-raw.png", "latency-quantiles.png", "rate.png"):
        assert (run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["verdict"] == "invalid" and "lost-save" in summary["anomaly_types"]


def test_valid_run_says_valid_and_shows_no_anomalies(tmp_path):
    run = make_run_dir(tmp_path / "run", n_ops=800, valid=True, nemesis=())
    html = write_report(run).read_text()
    text = body_text(html)
    assert "Valid: the list-append workload on galera (3 nodes, round-robin routing) with no faults" in text
    assert "evidence, not proof" in text
    assert 'class="verdict v-valid"' in html and "cycle-graph" not in html and "What broke" not in html


def test_crashed_run_without_results_reports_unknown_and_the_damage(tmp_path):
    run = make_run_dir(tmp_path / "run", n_ops=600)
    (run / "results.json").unlink()
    with open(run / "history.jsonl", "ab") as f:
        f.write(b'{"index": 600, "time": 12, "type": "inv')   # cut mid-line by a crash
    html = write_report(run).read_text()
    text = body_text(html)
    assert "Unknown: the list-append workload on galera" in text
    assert "did not finish checking" in text
    assert re.search(r"history.jsonl:\d+: not a JSON object, skipped", text)
    assert 'class="verdict v-unknown"' in html


def test_report_on_a_missing_dir_is_a_one_line_usage_error(tmp_path):
    with pytest.raises(UsageError) as e:
        write_report(tmp_path / "nope")
    assert isinstance(e.value, ReportError) and "\n" not in str(e.value) and "nope" in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="no results.json, test.json or history.jsonl"):
        write_report(tmp_path / "empty")


def test_many_anomalies_are_capped_and_counted(tmp_path):
    run = make_run_dir(tmp_path / "run", n_ops=600)
    res = json.loads((run / "results.json").read_text())
    one = res["anomalies"]["lost-update"][0]
    res["anomalies"]["lost-update"] = [one] * 500
    res["stats"]["anomaly_counts"] = {"lost-update": 2000, "G-single": 1}
    (run / "results.json").write_text(json.dumps(res))
    html = write_report(run).read_text()
    assert "lost-update: 2000 found, the first 10 shown" in body_text(html)
    assert html.count("<b>lost-update #") == 10


# --- history helpers -------------------------------------------------------------------------------

def ops_from(rows):
    return [{"index": i, **r} for i, r in enumerate(rows)]


def test_pairing_latency_and_pending_ops_count_as_info():
    ops = ops_from([
        {"time": 0, "type": "invoke", "process": 0, "f": "txn"},
        {"time": 10**6, "type": "invoke", "process": 1, "f": "txn"},
        {"time": 5 * 10**6, "type": "ok", "process": 0, "f": "txn"},
        {"time": 9 * 10**6, "type": "invoke", "process": 2, "f": "read"},   # never completes
        {"time": 2 * 10**7, "type": "fail", "process": 1, "f": "txn"},
    ])
    p = pair_ops(ops)
    assert list(p.type) == ["ok", "fail", "info"]
    assert list(p.latency_ms.round(3)) == [5.0, 19.0, 11.0]
    assert p.invoke_of == {2: 0, 4: 1} and p.completion_of == {0: 2, 1: 4}
    assert list(p.comp_index) == [2, 4, -1]


def test_nemesis_periods_from_start_stop_pairs_and_unhealed_faults():
    nem = lambda t, f, v=None, typ="info": {"time": int(t * 1e9), "type": typ, "process": "nemesis", "f": f, "value": v}  # noqa: E731
    ops = ops_from([
        nem(1, "start-partition-one", None, "invoke"), nem(1.1, "start-partition-one", {"isolated": "n3"}),
        nem(4, "stop-partition-one", None, "invoke"), nem(4.5, "stop-partition-one", "healed"),
        nem(5, "kill-start", ["n2"]), nem(6, "start-pause", ["n1"]),
        {"time": int(9e9), "type": "ok", "process": 0, "f": "txn"},
        nem(7, "heal"),  # a bare heal closes every open fault
        nem(8, "start-clock-skew", {"n1": 200}),
    ])
    periods, events = nemesis_periods(ops)
    got = [(p.fault, p.start, p.end, p.healed) for p in periods]
    assert got == [("partition-one", 1.0, 4.5, True), ("kill", 5.0, 7.0, True), ("pause", 6.0, 7.0, True),
                   ("clock-skew", 8.0, 9.0, False)]
    assert periods[0].value == {"isolated": "n3"}
    assert events == [] and fault_transition("crash-n1") is None
    # a fault that failed to start is no period, but an event with its error
    failed = ops_from([nem(1, "start-kill", None, "invoke"),
                       {**nem(1.2, "start-kill", {"fault": "kill"}), "error": "OSError: no such pid"}])
    periods, events = nemesis_periods(failed)
    assert periods == [] and events == [(1.2, "start-kill failed", "OSError: no such pid")]


def test_excerpt_shows_focus_ops_with_context_and_gaps():
    ops = ops_from([{"type": "ok"} for _ in range(100)])
    rows = excerpt_rows(ops, [10, 50], context=2)
    assert [r["index"] if r else None for r in rows] == [8, 9, 10, 11, 12, None, 48, 49, 50, 51, 52]
    many = excerpt_rows(ops, list(range(0, 100, 3)), context=2, limit=40)
    assert all(i in [r["index"] for r in many if r] for i in range(0, 100, 3))
    assert len([r for r in many if r]) <= 40


def test_timeline_packs_successor_processes_into_one_lane_and_links_focus_ops():
    rows = []
    t = 0
    for proc in (3, 13):       # process 3 ended in info; its worker continues as 13
        for _ in range(3):
            rows.append({"time": t, "type": "invoke", "process": proc, "f": "txn", "value": []})
            rows.append({"time": t + 10**6, "type": "info" if proc == 3 else "ok", "process": proc, "f": "txn",
                         "value": [], "node": "n2"})
            t += 2 * 10**6
            if proc == 3:
                break
    rows.append({"time": 0, "type": "invoke", "process": 4, "f": "txn", "value": []})
    rows.append({"time": t, "type": "ok", "process": 4, "f": "txn", "value": []})
    ops = ops_from(sorted(rows, key=lambda r: r["time"]))
    pairs = pair_ops(ops)
    focus = [op["index"] for op in ops if op["process"] == 13 and op["type"] == "ok"][:1]
    svg = timeline_svg(pairs, [], focus, ops, "a1")
    assert "process 3, 13" in svg and "process 4" in svg
    assert svg.count("<text x=\"104\"") == 2  # two lanes, not three
    assert f'href="#a1-op-{focus[0]}"' in svg and "node n2" in svg


def test_cycle_graph_drops_elles_repeated_first_txn_and_labels_edges():
    a = {"index": 5, "process": 1, "node": "n1", "value": [["append", 1, 2]]}
    b = {"index": 9, "process": 2, "node": "n3", "value": [["r", 1, [2]]]}
    anomaly = {"cycle": [a, b, a], "steps": [{"type": "wr", "explanation": "T1 < T2 because ..."},
                                              "T2 < T1 (rw) because T1 read ..."]}
    svg = cycle_svg(anomaly, lambda i: None, "a7")
    assert svg.count("<rect") == 2 and "T5  p1 · n1" in svg and "T9  p2 · n3" in svg
    assert ">wr</text>" in svg and ">rw</text>" in svg and 'href="#a7-op-9"' in svg
    assert steps_of(anomaly) == ["T1 < T2 because ...", "T2 < T1 (rw) because T1 read ..."]
    assert edge_kind({"edge": ["ww", "rw"]}) == "ww+rw"
    # the list-append checker's step shape: from/to ops, type, explanation
    assert steps_of({"steps": [{"from": a, "to": b, "type": "wr", "explanation": "T9 read 2"}]}) == \
        ["T5 < T9 (wr): T9 read 2"]
    # bare indexes are looked up in the history
    svg2 = cycle_svg({"cycle": [5, 9]}, lambda i: {5: a, 9: b}[i], "a8")
    assert "#9" in svg2 and svg2.count("marker-end=") == 2


# --- words -----------------------------------------------------------------------------------------

def test_verdict_sentences():
    inv = {"valid": False, "anomaly_types": ["G-single", "lost-save"], "not": ["read-committed"],
           "stats": {"txns": 1234}}
    s = verdict_sentence(inv, db="galera", nodes=3, routing="sticky", nemesis=["partition"], workload="save-resume")
    assert s == ("Not safe: on galera (3 nodes, sticky routing) under partition faults, the process engine's "
                 "invariant lost-save broke; the history rules out read-committed and every stronger model; "
                 "found G-single in 1,234 transactions.")
    rr = {"valid": False, "anomaly_types": ["G-single"], "not": ["cursor-stability"],
          "also_not": ["repeatable-read", "serializable"]}
    assert verdict_sentence(rr, db="mariadb", nodes=1, model="repeatable-read") == (
        "Not safe: on mariadb (1 node) with no faults, the history violates repeatable-read (the model checked): "
        "it rules out cursor-stability and every stronger model; found G-single.")
    unk = {"valid": "unknown", "unknown_reason": "no committed transactions"}
    assert verdict_sentence(unk, db="postgres").endswith("gave no verdict: no committed transactions.")
    line = summary_line(inv, db="galera", workload="save-resume", nemesis=["partition"], report_path="r/index.html")
    assert line.startswith("INVALID galera/save-resume (partition) — G-single, lost-save — not read-committed")
    assert "\n" not in line and line.endswith("report r/index.html")


def test_report_of_100k_line_history_is_fast_and_small(tmp_path):
    """The benchmark's target at a tenth of the size, with headroom for a busy shared machine."""
    run = make_run_dir(tmp_path / "run", n_ops=20_000, duration=120.0)
    t0 = time.perf_counter()
    out = write_report(run)
    assert time.perf_counter() - t0 < 8
    added = sum(p.stat().st_size for p in run.iterdir() if p.name not in ("history.jsonl", "results.json", "test.json"))
    assert added < 2_000_000
    # the page never embeds the whole history: far fewer rows than ops
    assert out.read_text().count("<tr") < 200 and orjson.loads((run / "summary.json").read_bytes())


def test_graphviz_nodes_become_links_without_breaking_the_svg():
    from harness.report.graphs import link_graphviz_nodes
    svg = ('<?xml version="1.0"?><!DOCTYPE svg><!-- by graphviz --><svg width="10pt"><g id="graph0" class="graph">'
           '<g id="node1" class="node"><title>T12</title><g id="a_node1"><a xlink:title="tip"><path/></a></g></g>'
           '<g id="node2" class="node"><title>T40</title><path/></g>'
           '<g id="edge1" class="edge"><title>T12&#45;&gt;T40</title><path/></g></g></svg>')
    out = link_graphviz_nodes(svg, "a3")
    assert out.startswith('<svg class="cycle-graph" width="10pt">') and "DOCTYPE" not in out
    assert '<a href="#a3-op-12" xlink:title="tip">' in out          # graphviz's tooltip anchor gets the link
    assert '<a href="#a3-op-40"><g id="a3-node2" class="node">' in out and out.count("<g") == out.count("</g>")
    # the edge stays inside the graph group, after both nodes
    assert out.index('id="a3-edge1"') > out.index("#a3-op-40") and out.endswith("</g></g></svg>")


def test_odd_anomaly_shapes_still_render(tmp_path):
    """Checkers are built in parallel: whatever shape an instance has, the page renders and says what it could."""
    run = make_run_dir(tmp_path / "run", n_ops=400)
    res = json.loads((run / "results.json").read_text())
    res["anomalies"] = {"G0": [{"cycle": ["T1", None, 3.5], "steps": [7, None], "explanation": ["not", "text"]}],
                        "internal": ["a bare string instance", {"ops": [{"no": "index"}, 10**9]}],
                        "G1c": [{"cycle": [{"index": 10**9}], "steps": [{"from": {}, "to": None}]}]}
    res["anomaly_types"] = ["G0", "G1c", "internal"]
    res["stats"] = {"txns": "many"}
    (run / "results.json").write_text(json.dumps(res))
    html = write_report(run).read_text()
    assert "a bare string instance" in html and "Not safe" in html
    assert html.count('class="anomaly"') == 4  # every instance, odd or not


def test_timeline_of_a_long_anomaly_keeps_the_ops_near_its_own():
    """A lost save at 1 s found by a final read at 60 s: the bars kept are those around the two ops."""
    rows = []
    for k in range(3000):      # 50 ops/s on 10 processes for 60 s
        t = int(k * 0.02e9)
        rows += [{"time": t, "type": "invoke", "process": k % 10, "f": "txn", "value": []},
                 {"time": t + 10**6, "type": "ok", "process": k % 10, "f": "txn", "value": []}]
    ops = ops_from(sorted(rows, key=lambda r: r["time"]))
    pairs = pair_ops(ops)
    focus = [101, 5901]       # completions at ~1 s and ~59 s
    svg = timeline_svg(pairs, [], focus, ops, "a1")
    idx = [int(i) for i in re.findall(r"<title>#(\d+) ", svg)]
    assert len(idx) <= 300 and 101 in idx and 5901 in idx
    near = [i for i in idx if abs(i - 101) < 400 or abs(i - 5901) < 400]
    assert len(near) == len(idx)


def test_an_anomaly_spread_over_time_gets_one_timeline_per_moment(tmp_path):
    run = make_run_dir(tmp_path / "run", n_ops=2000, workload="save-resume")
    res = json.loads((run / "results.json").read_text())
    ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    oks = [op for op in ops if op["type"] == "ok"]
    early, late = oks[10], oks[-10]
    assert late["time"] - early["time"] > 10e9
    res["anomalies"] = {"lost-save": [{"ops": [early["index"], late["index"]], "explanation": "gone"}]}
    res["anomaly_types"] = ["lost-save"]
    (run / "results.json").write_text(json.dumps(res))
    html = write_report(run).read_text()
    assert "Timelines of every process around its 2 moments" in html
    svgs = re.findall(r'<svg class="timeline".*?</svg>', html, re.S)
    assert len(svgs) == 2
    assert f'href="#a1-op-{early["index"]}"' in svgs[0] and f'href="#a1-op-{late["index"]}"' in svgs[1]


def test_history_without_times_still_reports(tmp_path):
    """DESIGN allows histories without `time` (e.g. some Jepsen files): no timelines, plots by position."""
    run = make_run_dir(tmp_path / "run", n_ops=600)
    lines = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    (run / "history.jsonl").write_text("".join(json.dumps({k: v for k, v in op.items() if k != "time"}) + "\n"
                                               for op in lines))
    html = write_report(run).read_text()
    assert "Not safe" in html and '<svg class="timeline"' not in html
    assert html.count('<img class="plot"') == 1 and (run / "latency-raw.png").exists()
    assert re.search(r'<tr class="focus" id="a1-op-\d+"><td>\d+</td><td></td>', html)  # no time column value


def test_report_says_what_the_run_exercised_and_the_lag(tmp_path):
    """The exposure table (risks of this topology counted, the others marked) and the lag table."""
    import json

    from harness.report import write_report
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.jsonl").write_text('{"index":0,"time":0,"type":"invoke","process":0,"f":"resume","value":{"key":1}}\n'
                                       '{"index":1,"time":5,"type":"ok","process":0,"f":"resume","value":{"key":1,"state":null}}\n')
    (run / "test.json").write_text(json.dumps({"db": "postgres-standby", "workload": "save-resume", "routing": "local",
                                               "network": "lan"}))
    results = {"valid": True, "anomaly_types": [], "anomalies": {}, "routing": "local", "workload": "save-resume",
               "topology": [{"name": "n1", "role": "primary"}, {"name": "n2", "role": "standby"}],
               "exposure": {"window_ms": 12.5, "risks": {
                   "cross-node-resume": {"count": 7, "gap_ms": {"p50": 1.5, "p90": 3.0, "max": 4.0}},
                   "cross-node-writes": {"count": 0, "gap_ms": {}}}},
               "lag": {"pairs": {"n1->n2": {"p50": 1.2, "p99": 9.5, "max": 12.0, "samples": 40, "timeouts": 0}},
                       "p99_ms": 9.5, "series": [[0.1, "n1->n2", 1.2], [0.4, "n1->n2", 9.5]], "note": "heartbeats"},
               "run": {"network": {"network": "lan", "one_way_delay_ms": 0.25, "jitter_ms": 0.05, "method": "nfqueue"}}}
    (run / "results.json").write_text(json.dumps(results))
    html = (write_report(run)).read_text()
    assert 'id="exercised"' in html and "within 12.5 ms" in html
    assert "<td>7</td><td>p50 1.5, p90 3.0, max 4.0</td><td>stale-resume, next-day-resume</td>" in html
    assert "0 (not a risk of this topology)" in html  # a standby takes no writes
    assert "<td>n1-&gt;n2</td><td>1.2</td><td>9.5</td><td>12.0</td>" in html
    assert "lan: 0.25 ms one way" in html and (run / "lag.png").is_file()


def test_setup_section_shows_the_server_options_and_what_every_node_read_back(tmp_path):
    run = make_run_dir(tmp_path / "run", n_ops=500, workload="list-append")
    results = json.loads((run / "results.json").read_text())
    results["server_options"] = ["innodb_flush_log_at_trx_commit=0", "n2:max_connections=<b>7</b>"]
    results["settings"] = {"n1": {"innodb_flush_log_at_trx_commit": "0"}, "n2": {"error": "down"}}
    (run / "results.json").write_text(json.dumps(results))
    html = write_report(run).read_text()
    assert "server options given</th><td>innodb_flush_log_at_trx_commit=0, n2:max_connections=&lt;b&gt;7" in html
    assert "server settings read back: n1</th><td>innodb_flush_log_at_trx_commit=0</td>" in html
    assert "server settings read back: n2</th><td>error=down</td>" in html


def test_setup_section_links_the_logs_copied_from_the_hosts(tmp_path):
    run = make_run_dir(tmp_path / "run", n_ops=300, workload="list-append")
    (run / "nodes" / "n1").mkdir(parents=True)
    (run / "nodes" / "n1" / "server.log").write_text("ready\n")
    (run / "nodes" / "clocks.json").write_text("{}")
    html = write_report(run).read_text()
    assert '<a href="nodes/n1/server.log">' in html and '<a href="nodes/clocks.json">' in html
