"""The report page: verdict first, then what broke (each anomaly with its graph, timeline and the
history rows behind it), then the performance graphs, then the setup to rerun it.

One self-contained file: CSS inline, images as data URIs, SVG inline, no script, no network.
"""
from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

from harness.report.data import ENGINE_INVARIANTS, Run, engine_impact, meaning
from harness.report.graphs import cycle_svg, link_graphviz_nodes, steps_of
from harness.report.ops import Pairs, Period, anomaly_ops, excerpt_rows, op_time, with_invokes
from harness.report.stream import as_history, op_at
from harness.report.timeline import timeline_svg
from harness.report.verdict import verdict_sentence, verdict_word

MAX_VALUE_CHARS = 220

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;margin:0;background:#fafafa}
main{max-width:1060px;margin:0 auto;padding:18px 22px 60px}
h1{font-size:20px;margin:6px 0 10px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.verdict{padding:14px 18px;border-radius:8px;margin:8px 0 14px;border-left:8px solid}
.verdict p{margin:4px 0}.verdict .first{font-size:18px;font-weight:600}
.v-invalid{background:#fdecea;border-color:#c62828}.v-valid{background:#e8f5e9;border-color:#2e7d32}
.v-unknown{background:#fff8e1;border-color:#f9a825}
table{border-collapse:collapse;margin:6px 0 10px;background:#fff}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top;font-size:13px}
th{background:#f0f0f0}
table.hist td{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:nowrap}
table.hist td.val{white-space:normal;word-break:break-all;max-width:520px}
tr.focus td{background:#fff3c4;font-weight:600}tr.gap td{color:#888;text-align:center;background:#f7f7f7}
tr.nemesis td{color:#6a1b9a}
.t-ok{color:#2e7d32}.t-fail{color:#c62828}.t-info{color:#e65100}
.anomaly{background:#fff;border:1px solid #e0e0e0;border-radius:8px;padding:10px 14px;margin:12px 0}
.explanation{white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;
 background:#f6f6f6;padding:8px;border-radius:4px}
.graph{overflow-x:auto}.graph svg{max-width:100%;height:auto}
pre.cmd{background:#263238;color:#eceff1;padding:10px;border-radius:6px;white-space:pre-wrap;word-break:break-all}
img.plot{max-width:100%;border:1px solid #e0e0e0;background:#fff}
nav a{margin-right:12px}.muted{color:#666}.warn{color:#8d6e00}
ol.steps li{margin:3px 0}.anomaly>details>summary{cursor:pointer;padding:4px 0}
"""


def _e(x) -> str:
    return escape(str(x), quote=True)


def _short(value, limit=MAX_VALUE_CHARS) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _engine_first(types: list[str]) -> list[str]:
    """Engine invariants first (what a process engine would suffer), then isolation anomalies."""
    return [t for t in types if t in ENGINE_INVARIANTS] + [t for t in types if t not in ENGINE_INVARIANTS]


def _plain(value) -> str:
    """A setting as a person writes it: lists joined by commas, node records as 'n1 10.77.0.11 primary'."""
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value):
            return f"{len(value)} nodes: " + "; ".join(
                " ".join(str(v[k]) for k in ("name", "ip", "role", "host") if v.get(k)) or _short(v, 80)
                for v in value)
        if all(not isinstance(v, (dict, list)) for v in value):
            return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_short(v, 80)}" for k, v in value.items())
    return _short(value, 400)


def _img(path: Path | None, alt: str) -> str:
    if not path or not Path(path).exists():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img class="plot" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


class Page:
    """Builds the page for one run. `graphs` maps (anomaly type, n) -> SVG from the checker's renderer;
    `events` are one-off nemesis ops as (time s, what, value)."""

    def __init__(self, run: Run, pairs: Pairs, periods: list[Period], events: list, plots: dict, graphs: dict,
                 shown: dict, key_rows: list | None = None):
        self.run, self.pairs, self.periods, self.events = run, pairs, periods, events
        self.plots, self.graphs, self.shown = plots, graphs, shown   # shown: results trimmed to what is drawn
        self.ops = as_history(run.ops)   # read op by op: only the ops the page shows
        self.key_rows = key_rows         # per shown nonlinearizable instance, its key's rows (KeyRows)
        self.n_anchor = 0

    def count(self, atype: str) -> int:
        """How many instances were found (checkers cap the list they return, not the count)."""
        counts = (self.run.results.get("stats") or {}).get("anomaly_counts") or {}
        listed = (self.run.results.get("anomalies") or {}).get(atype) or []
        return max(int(counts.get(atype) or 0), len(listed)) if isinstance(listed, list) else int(counts.get(atype) or 0)

    # --- helpers over the history ---------------------------------------------------------
    def op(self, index: int) -> dict | None:
        return op_at(self.ops, index)

    def context(self, focus: list[int]) -> dict:
        """Nodes, processes, time span and faults active around a set of ops."""
        nodes, procs, times = set(), set(), []
        for i in focus:
            op = self.op(i)
            if not op:
                continue
            if op.get("node") is not None:
                nodes.add(str(op["node"]))
            if op.get("process") not in (None, "nemesis"):
                procs.add(op["process"])
            t = op_time(op)
            if t is not None:
                times.append(t)
        span = (min(times), max(times)) if times else None
        faults = [p for p in self.periods if span and p.overlaps(*span)]
        return {"nodes": sorted(nodes), "processes": sorted(procs, key=str), "span": span, "faults": faults}

    def moments(self, indexes: list[int], gap_s: float = 2.0, most: int = 3) -> list[list[int]]:
        """The ops split where more than gap_s seconds pass between them (e.g. a save at 1 s and the
        final read at 60 s that misses it): one timeline each, so neither shrinks to a sliver. An op
        counts from its invoke to its completion, so one slow op is never split."""
        spans = []
        for i in indexes:
            if i in self.pairs.completion_of:       # an invoke: its completion carries the span
                continue
            op = self.op(i)
            t1 = op_time(op) if op else None
            if t1 is None:
                continue
            inv = self.op(self.pairs.invoke_of[i]) if i in self.pairs.invoke_of else None
            t0 = op_time(inv) if inv and op_time(inv) is not None else t1
            spans.append((t0, t1, i))
        spans.sort()
        groups: list[list[int]] = []
        end = None
        for t0, t1, i in spans:
            if end is None or t0 - end > gap_s:
                groups.append([])
            groups[-1].append(i)
            end = t1 if end is None else max(end, t1)
        if len(groups) > most:  # keep the first moments and fold the rest into the last one
            groups = groups[: most - 1] + [sum(groups[most - 1:], [])]
        return [with_invokes(g, self.pairs) for g in groups] or [list(indexes)]

    # --- sections --------------------------------------------------------------------------
    def verdict(self) -> str:
        run, res = self.run, self.run.results
        word = verdict_word(res)
        nodes = run.meta("nodes") or (len(run.meta("topology")) if isinstance(run.meta("topology"), list) else None)
        sentence = verdict_sentence(res, db=run.db, nodes=nodes, routing=run.meta("routing"),
                                    nemesis=run.nemesis, workload=run.workload, model=run.model or None)
        lines = [f'<p class="first" id="verdict-sentence">{_e(sentence)}</p>']
        broken = [t for t in res.get("anomaly_types") or [] if t in ENGINE_INVARIANTS]
        if broken:
            lines.append("<p><b>What it would do to a process engine:</b> "
                         + "; ".join(f"<b>{_e(t)}</b>: {_e(ENGINE_INVARIANTS[t])}" for t in broken) + ".</p>")
        if run.workload == "save-resume" or broken:
            held = [t for t in ENGINE_INVARIANTS if t not in broken]
            lines.append("<p><b>Engine invariants:</b> "
                         + (f"broken: {_e(', '.join(broken))}; " if broken else "")
                         + (f"held: {_e(', '.join(held))}" if held else "none held")
                         + (" (as far as the checker could judge: the verdict is unknown)" if word == "unknown" else "")
                         + ".</p>")
        others = [t for t in res.get("anomaly_types") or [] if t not in ENGINE_INVARIANTS and engine_impact(t)]
        if word == "invalid" and others:
            lines.append("<p><b>What the database allowed could do to a process engine:</b> "
                         + "; ".join(f"<b>{_e(t)}</b>: {_e(engine_impact(t))}" for t in others[:4])
                         + ("; …" if len(others) > 4 else "") + ".</p>")
        if res.get("not"):
            lines.append(f"<p><b>Consistency models ruled out:</b> {_e(', '.join(res['not']))}"
                         + (f" (and therefore also {_e(', '.join(res['also_not']))})" if res.get("also_not") else "")
                         + ".</p>")
        model = run.model or run.meta("isolation")
        if model:
            lines.append(f'<p class="muted">Checked against: {_e(model)}.</p>')
        errors = [e for e in res.get("errors") or [] if e]
        if errors:
            lines.append('<p class="warn"><b>The run itself had problems</b> (weigh the verdict with them): '
                         + "; ".join(_e(_short(e, 300)) for e in errors[:8]) + "</p>")
        stats = res.get("stats") or {}
        facts = res.get("run") if isinstance(res.get("run"), dict) else {}
        shown = [f"{label} {stats[k]:,}" if isinstance(stats[k], int) else f"{label} {stats[k]}"
                 for k, label in (("txns", "operations"), ("ok", "ok"), ("fail", "fail"), ("info", "info"))
                 if k in stats]
        if facts.get("seconds") is not None:
            shown.append(f"run {facts['seconds']} s")
        if facts.get("throughput") is not None:
            shown.append(f"{facts['throughput']} ops/s")
        if shown:
            lines.append(f'<p class="muted">{_e(", ".join(shown))}</p>')
        return f'<section class="verdict v-{word}" id="verdict">' + "\n".join(lines) + "</section>"

    def what_broke(self) -> str:
        anomalies = self.run.results.get("anomalies") or {}
        types = _engine_first(list(self.run.results.get("anomaly_types") or anomalies.keys()))
        if not types:
            return ""
        rows = []
        for t in types:
            inst = anomalies.get(t) or []
            focus = [i for a in inst[:200] if isinstance(a, dict) for i in anomaly_ops(a)]
            ctx = self.context(with_invokes(focus, self.pairs))
            faults = sorted({p.fault for p in ctx["faults"]})
            link = f'<a href="#type-{_e(t)}">{_e(t)}</a>' if inst else _e(t)
            impact = "(the engine invariant itself)" if t in ENGINE_INVARIANTS else engine_impact(t)
            rows.append(f"<tr><td>{link}</td><td>{self.count(t) or '–'}</td><td>{_e(meaning(t))}</td>"
                        f"<td>{_e(impact)}</td>"
                        f"<td>{_e(', '.join(ctx['nodes']) or '–')}</td><td>{_e(', '.join(faults) or 'none')}</td></tr>")
        return ('<h2 id="broke">What broke</h2><table><tr><th>anomaly</th><th>found</th><th>what it means</th>'
                '<th>what it could do to a process engine</th><th>nodes involved</th>'
                '<th>faults active meanwhile</th></tr>' + "".join(rows) + "</table>")

    def anomalies(self) -> str:
        anomalies = self.shown.get("anomalies") or {}
        if not anomalies:
            return ""
        parts = ['<h2 id="anomalies">Anomalies, with the evidence</h2>']
        order = [t for t in self.run.results.get("anomaly_types") or [] if t in anomalies]
        for atype in _engine_first(order + [t for t in anomalies if t not in order]):
            instances = anomalies[atype]
            total = self.count(atype)
            parts.append(f'<h3 id="type-{_e(atype)}">{_e(atype)}: {total} found'
                         + (f", the first {len(instances)} shown" if total > len(instances) else "") + "</h3>")
            if meaning(atype):
                parts.append(f'<p class="muted">{_e(meaning(atype))}.</p>')
            for n, a in enumerate(instances):
                if not isinstance(a, dict):
                    parts.append(f'<div class="anomaly"><pre class="explanation">{_e(_short(a, 2000))}</pre></div>')
                    continue
                try:
                    parts.append(self.anomaly(atype, n, a))
                except Exception as e:  # noqa: BLE001 - one odd instance must not cost the page
                    self.run.problems.append(f"{atype} #{n + 1}: could not be drawn ({type(e).__name__}: {e})")
                    parts.append(f'<div class="anomaly"><p><b>{_e(atype)} #{n + 1}</b></p><div class="explanation">'
                                 f'{_e(_short(a.get("explanation") or a, 4000))}</div></div>')
        return "\n".join(parts)

    def anomaly(self, atype: str, n: int, a: dict) -> str:
        self.n_anchor += 1
        anchor = f"a{self.n_anchor}"
        focus = anomaly_ops(a)
        related = with_invokes(focus, self.pairs)
        ctx = self.context(related)
        head = [f"<b>{_e(atype)} #{n + 1}</b>"]
        if ctx["nodes"]:
            head.append(f"nodes {_e(', '.join(ctx['nodes']))}")
        if ctx["processes"]:
            head.append(f"processes {_e(', '.join(map(str, ctx['processes'])))}")
        if ctx["span"]:
            head.append(f"{ctx['span'][0]:.3f}–{ctx['span'][1]:.3f} s")
        if ctx["faults"]:
            head.append("during " + _e(", ".join(
                f"{p.fault} ({_short(p.value, 60)})" if p.value is not None else p.fault for p in ctx["faults"])))
        # the first instance of each type is open; the others fold to their one-line summary
        summary = " · ".join(head)
        out = [f'<div class="anomaly" id="{anchor}">'
               + (f"<p>{summary}</p>" if n == 0 else f"<details><summary>{summary}</summary>")]
        if a.get("explanation"):
            out.append(f'<div class="explanation">{_e(a["explanation"])}</div>')
        if isinstance(a.get("isolation"), str):
            out.append(f'<p><b>The isolation anomaly behind it:</b> {_e(a["isolation"])}.</p>')
        graph = self.graphs.get((atype, n))
        graph = link_graphviz_nodes(graph, anchor) if graph else (cycle_svg(a, self.op, anchor) if a.get("cycle") else "")
        if graph:
            out.append(f'<div class="graph">{graph}</div>')
        if atype == "nonlinearizable":  # Porcupine-style: the key's ops per process, the failing point
            from harness.report.linearizability import key_timeline_svg
            rows = self.key_rows[n] if self.key_rows is not None and n < len(self.key_rows) else None
            svg = key_timeline_svg(a, self.ops, anchor, rows=rows)
            if svg:
                out.append(f'<div class="graph">{svg}</div>')
        steps = steps_of(a)
        if steps:
            out.append('<ol class="steps">' + "".join(f"<li>{_e(s)}</li>" for s in steps) + "</ol>")
        lines = [timeline_svg(self.pairs, self.periods, group, self.ops, anchor) for group in self.moments(related)]
        lines = [line for line in lines if line]
        if lines:
            what = "Timeline of every process around it" if len(lines) == 1 else \
                f"Timelines of every process around its {len(lines)} moments"
            out.append(f'<details open><summary>{what}</summary>'
                       + "".join(f'<div class="graph">{line}</div>' for line in lines) + "</details>")
        out.append(self.excerpt(related, set(related), anchor))
        out.append("</div>" if n == 0 else "</details></div>")
        return "\n".join(out)

    def excerpt(self, related: list[int], focus: set, anchor: str) -> str:
        rows = excerpt_rows(self.ops, related)
        if not rows:
            return '<p class="muted">(the ops it names are not in the history file)</p>'
        html = ['<table class="hist"><tr><th>index</th><th>time (s)</th><th>process</th><th>type</th><th>f</th>'
                '<th>node</th><th>value</th></tr>']
        for op in rows:
            if op is None:
                html.append('<tr class="gap"><td colspan="7">…</td></tr>')
                continue
            idx = op.get("index")
            t = op_time(op)
            cls = "focus" if idx in focus else ("nemesis" if op.get("process") == "nemesis" else "")
            extra = f" error: {_short(op['error'], 120)}" if op.get("error") else ""
            html.append(f'<tr class="{cls}" id="{anchor}-op-{_e(idx)}"><td>{_e(idx)}</td>'
                        f'<td>{"" if t is None else f"{t:.4f}"}</td><td>{_e(op.get("process", ""))}</td>'
                        f'<td class="t-{_e(op.get("type", ""))}">{_e(op.get("type", ""))}</td><td>{_e(op.get("f", ""))}</td>'
                        f'<td>{_e(op.get("node", ""))}</td><td class="val">{_e(_short(op.get("value")))}{_e(extra)}</td></tr>')
        html.append("</table>")
        return "\n".join(html)

    def context_section(self) -> str:
        """Anomalies the checked model allows (the engine checker lists them as context)."""
        ctx = self.run.results.get("context")
        if not isinstance(ctx, dict) or not ctx.get("anomaly_types"):
            return ""
        items = []
        for t in ctx["anomaly_types"]:
            inst = (ctx.get("anomalies") or {}).get(t) or []
            first = inst[0].get("explanation") if inst and isinstance(inst[0], dict) else ""
            items.append(f"<li><b>{_e(t)}</b> ({len(inst)} listed){': ' + _e(meaning(t)) if meaning(t) else ''}"
                         + (f'<div class="explanation">{_e(_short(first, 1500))}</div>' if first else "") + "</li>")
        return ('<h2 id="context">Also seen, allowed by the checked model</h2>'
                f'<p class="muted">{_e(ctx.get("note") or "")}</p><ul>' + "".join(items) + "</ul>")

    def faults(self) -> str:
        events = "".join(f"<tr><td>{_e(name)}</td><td>{t:.3f}</td><td>–</td><td>{_e(_short(v, 160))}</td></tr>"
                         for t, name, v in self.events[:30])
        if not self.periods and not events:
            return ""
        rows = "".join(f"<tr><td>{_e(p.fault)}</td><td>{p.start:.3f}</td><td>{p.end:.3f}"
                       f"{'' if p.healed else ' (never healed)'}</td><td>{_e(_short(p.value, 160))}</td></tr>"
                       for p in self.periods[:60]) + events
        more = f'<p class="muted">… and {len(self.periods) - 60} more.</p>' if len(self.periods) > 60 else ""
        return ('<h3 id="faults">Faults</h3><table><tr><th>fault</th><th>from (s)</th><th>to (s)</th>'
                f'<th>what it hit</th></tr>{rows}</table>{more}')

    def performance(self) -> str:
        p = self.plots
        if not p:
            return '<h2 id="performance">Performance</h2><p class="muted">(no completed operations to plot)</p>'
        note = " Points are sampled; the counts in the legends are exact." if p.get("sampled") else ""
        shade = "Shaded bands: faults active. " if self.periods else "No fault was active. "
        return ('<h2 id="performance">Performance</h2><p class="muted">' + shade +
                f'Green ok, red fail (did not happen), orange info (may or may not have happened).{_e(note)}</p>'
                + _img(p.get("latency"), "latency over time") + _img(p.get("quantiles"), "latency quantiles")
                + _img(p.get("rate"), "throughput over time") + _img(p.get("lag"), "replication lag")
                + self.faults())

    def exercised(self) -> str:
        """What this run put the engine through: each risk, how often, how close in time."""
        exp = self.run.results.get("exposure")
        risks = exp.get("risks") if isinstance(exp, dict) else None
        if not isinstance(risks, dict) or not risks:
            return ""
        from checkers.exposure import BY_NAME
        from harness.certify.verdict import risks_of
        routing = self.run.meta("routing")
        opts = self.run.meta("workload_opts")
        here = {r.name for r in risks_of(routing if isinstance(routing, str) else "primary", [self.run.results],
                                         opts if isinstance(opts, dict) else {})}
        rows = []
        for name, c in risks.items():
            risk = BY_NAME.get(name)
            if risk is None or not isinstance(c, dict):
                continue
            gap = c.get("gap_ms") if isinstance(c.get("gap_ms"), dict) else {}
            spread = ", ".join(f"{k} {_e(gap[k])}" for k in ("p50", "p90", "max") if k in gap) or "–"
            times = _e(c.get("count")) if name in here else f'<span class="muted">{_e(c.get("count"))} (not a risk of this topology)</span>'
            rows.append(f"<tr><td>{_e(name)}</td><td>{_e(risk.situation)}</td><td>{times}</td>"
                        f"<td>{spread}</td><td>{_e(', '.join(risk.threatens))}</td></tr>")
        lag = self.run.results.get("lag") if isinstance(self.run.results.get("lag"), dict) else {}
        pairs = lag.get("pairs") if isinstance(lag.get("pairs"), dict) else {}
        lag_rows = "".join(
            f"<tr><td>{_e(p)}</td><td>{_e(v.get('p50'))}</td><td>{_e(v.get('p99'))}</td><td>{_e(v.get('max'))}</td>"
            f"<td>{_e(v.get('samples'))}</td><td>{_e(v.get('timeouts'))}</td></tr>"
            for p, v in pairs.items() if isinstance(v, dict))
        lag_table = ('<p>Replication lag (ms), ' + _e(lag.get("note", "")) + ':</p><table><tr><th>from -> to</th>'
                     '<th>p50</th><th>p99</th><th>max</th><th>samples</th><th>gave up</th></tr>'
                     f'{lag_rows}</table>') if lag_rows else ""
        return ('<h2 id="exercised">What this run exercised</h2><p class="muted">A test proves violations, '
                'never their absence: these are the dangerous situations that really happened, counted from '
                f'the history ("soon" = within {_e(exp.get("window_ms"))} ms, the measured lag or at least '
                'the floor). Gaps: time between the two operations involved (ms).</p><table><tr><th>risk</th>'
                '<th>situation</th><th>times</th><th>gap</th><th>could break</th></tr>' + "".join(rows)
                + "</table>" + lag_table)

    def setup(self) -> str:
        run = self.run
        rows = []
        for label, key in (("database", "db"), ("topology", "topology"), ("backend", "backend"),
                           ("workload", "workload"), ("isolation", "isolation"), ("model checked", "model"),
                           ("routing", "routing"), ("nemesis", "nemesis"), ("seed", "seed"),
                           ("time limit (s)", "time_limit"), ("concurrency", "concurrency"),
                           ("rate (ops/s)", "rate"), ("started", "started")):
            v = run.meta(key)
            if v is None:
                continue
            rows.append(f"<tr><th>{_e(label)}</th><td>{_e(_plain(v))}</td></tr>")
        net = run.meta("network")
        if isinstance(net, dict):  # what the run applied: name, method, delay
            net = (f"{net.get('network')}: {net.get('one_way_delay_ms')} ms one way ± {net.get('jitter_ms')} ms "
                   f"({net.get('method')})")
        if net:
            rows.append(f"<tr><th>network between machines</th><td>{_e(_plain(net))}</td></tr>")
        versions = run.meta("versions")
        if isinstance(versions, dict):
            for k, v in versions.items():
                rows.append(f"<tr><th>version: {_e(k)}</th><td>{_e(_short(v, 200))}</td></tr>")
        elif versions:
            rows.append(f"<tr><th>versions</th><td>{_e(_short(versions, 400))}</td></tr>")
        given = run.meta("server_options")
        if isinstance(given, list) and given:
            rows.append(f"<tr><th>server options given</th><td>{_e(_short(', '.join(map(str, given)), 600))}</td></tr>")
        for node, read in (run.meta("settings") or {}).items() if isinstance(run.meta("settings"), dict) else ():
            shown = ", ".join(f"{k}={v}" for k, v in read.items()) if isinstance(read, dict) else read
            rows.append(f"<tr><th>server settings read back: {_e(node)}</th><td>{_e(_short(shown, 600))}</td></tr>")
        files = [f for f in ("history.jsonl", "history.jsonl.gz", "results.json", "test.json", "harness.log")
                 if (run.dir / f).exists()]
        if (run.dir / "nodes").is_dir():  # what a remote backend copied from its hosts
            files += sorted(str(f.relative_to(run.dir)) for f in (run.dir / "nodes").rglob("*") if f.is_file())[:50]
        if (run.dir / "explanations").is_dir():
            files += [f"explanations/{p.name}" for p in sorted((run.dir / "explanations").glob("*.txt"))]
        links = " · ".join(f'<a href="{_e(f)}">{_e(f)}</a>' for f in files)
        facts = self.run.results.get("run") if isinstance(self.run.results.get("run"), dict) else {}
        notes = list(facts.get("notes") or []) + list(self.run.results.get("nemesis_notes") or [])
        if facts.get("throughput") is not None:
            rows.append(f"<tr><th>throughput (main phase)</th><td>{_e(facts['throughput'])} ops/s</td></tr>")
        if notes:
            rows.append("<tr><th>notes</th><td>" + "<br>".join(_e(_short(n, 300)) for n in notes[:20]) + "</td></tr>")
        return ('<h2 id="setup">Setup</h2><table>' + "".join(rows) + "</table>"
                f'<p><b>Rerun exactly:</b></p><pre class="cmd" id="rerun">{_e(run.command())}</pre>'
                f'<p class="muted">Files of this run: {links}</p>')

    def problems(self) -> str:
        if not self.run.problems:
            return ""
        return ('<h2 id="problems">Problems reading this run</h2><ul class="warn">'
                + "".join(f"<li>{_e(p)}</li>" for p in self.run.problems) + "</ul>")

    def render(self) -> str:
        run = self.run
        word = verdict_word(run.results)
        title = f"{word.upper()} · {run.db} · {run.workload}" + (f" · {', '.join(run.nemesis)}" if run.nemesis else "")
        sections = [self.what_broke(), self.anomalies(), self.context_section(), self.exercised(),
                    self.performance(), self.setup(), self.problems()]
        links = [(anchor, label) for anchor, label in (("broke", "what broke"), ("anomalies", "anomalies"),
                                                       ("context", "also seen"), ("exercised", "exercised"),
                                                       ("performance", "performance"),
                                                       ("setup", "setup"), ("problems", "problems"))
                 if any(f'id="{anchor}"' in sec for sec in sections)]
        nav = "<nav>" + "".join(f'<a href="#{a}">{label}</a>' for a, label in links) + "</nav>"
        body = [self.verdict(), nav, *sections]
        return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                '<link rel="icon" href="data:,">'
                f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>"
                f"<h1>{_e(title)}</h1>\n" + "\n".join(b for b in body if b) + "\n</main></body></html>\n")
