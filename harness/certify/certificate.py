"""The certificate: one row per architecture, a plain-language answer, Markdown + HTML + JSON."""
from __future__ import annotations

import html
import json
import os
import time
from pathlib import Path

from checkers.exposure import rule_of_three
from harness.certify import rc
from harness.certify.matrix import Matrix
from harness.certify.verdict import (
    INCONCLUSIVE, NOT_EXERCISED, SAFE, UNSAFE, cell_verdict, exposure_totals, risks_of, run_outcome, short_of)

QUESTION = "Can a user save a flow on machine A and resume it on machine B?"
MEANING = {
    SAFE: "every run valid (no engine invariant broken, no anomaly the isolation level forbids) and every "
          "risk of the topology exercised often enough; a test proves violations, never their absence: "
          "the evidence line says how much was tried",
    UNSAFE: "at least one proven violation (see the linked report)",
    NOT_EXERCISED: "every run valid, but some risk of the topology was not tried often enough to say "
                   "anything: never SAFE",
    INCONCLUSIVE: "some runs errored or gave no verdict: not enough evidence either way",
}


RC_HEAD = "READ COMMITTED through the load balancer (Camunda's condition)"
RC_MEANING = ("the probe played Hermitage's G0, G1a, G1b, G1c, OTV and the engine's rev-cas, for-update and "
              "unique-insert with two sessions where this routing puts two engines: 'yes' means every one was "
              "prevented as on one READ COMMITTED database. Camunda requires this; it is not enough: a replica "
              "that is behind still reads committed data, so a SAFE needs the runs as well")


def build(matrix: Matrix, results: dict[str, list[dict]], seconds: float, probes: dict | None = None) -> dict:
    """`probes`: cluster_key -> the probe's dict for that topology (harness.certify.rc)."""
    probes = probes or {}
    topology_ids = {key: f"{json.loads(key)[0]}-{i}" for i, key in enumerate(probes, 1)}
    rows = []
    for cell in matrix.cells:
        runs = results.get(cell.name, [])
        violations, context = _split_findings(runs)
        risks = risks_of(cell.routing, runs, cell.workload_opts)
        totals = exposure_totals(runs)
        verdict = cell_verdict(runs, risks, matrix.min_exposure)
        rows.append({
            "cell": cell.name, "title": cell.title, "db": cell.db, "routing": cell.routing, "network": cell.network,
            "isolation": cell.isolation, "knobs": cell.knobs,
            "user_may_switch_nodes": cell.user_may_switch_nodes,
            "verdict": verdict, "violations": violations, "context": context,
            "runs": len(runs), "ops": sum(_ops(r) for r in runs),
            "exposure": {r.name: totals.get(r.name, 0) for r in risks} if totals else {},
            "evidence": evidence(verdict, runs, risks, totals, matrix.min_exposure) + lag_text(runs),
            "lag_p99_ms": _worst_lag(runs),
            "rc": rc.column(probes.get(cell.cluster_key), cell.routing),
            "settings": next((r["settings"] for r in runs if isinstance(r.get("settings"), dict) and r["settings"]), {}),
            "probe": topology_ids.get(cell.cluster_key),
            "run_reports": [{"test": r.get("test"), "outcome": run_outcome(r), "workload": r.get("workload"),
                             "faults": "+".join(r.get("nemesis") or []) or "no fault",
                             "run_dir": r.get("run_dir"), "error": r.get("error"),
                             "anomaly_types": r.get("anomaly_types", [])} for r in runs],
        })
    return {"matrix": matrix.name, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(seconds, 1), "time_limit": matrix.time_limit, "runs_per_cell": matrix.runs,
            "min_exposure": matrix.min_exposure, "rows": rows, "question": QUESTION, "answer": answer(rows),
            "probes": {topology_ids[key]: d for key, d in probes.items()}}


def _worst_lag(runs: list[dict]) -> float | None:
    lags = [r["lag"]["p99_ms"] for r in runs if isinstance(r.get("lag"), dict)
            and isinstance(r["lag"].get("p99_ms"), (int, float))]
    return max(lags) if lags else None


def lag_text(runs: list[dict]) -> str:
    worst = _worst_lag(runs)
    if worst is None:
        return ""
    # a heartbeat not seen within the monitor's bound is recorded AS the bound: say it is a floor
    pairs = [p for r in runs if isinstance(r.get("lag"), dict) and isinstance(r["lag"].get("pairs"), dict)
             for p in r["lag"]["pairs"].values() if isinstance(p, dict)]
    late = sum(p.get("timeouts", 0) for p in pairs if isinstance(p.get("timeouts"), int))
    if not late:
        return f"; replication lag p99 {worst:g} ms (worst run)"
    seen = sum(p.get("samples", 0) for p in pairs if isinstance(p.get("samples"), int))
    return (f"; replication lag p99 >= {worst:g} ms (worst run): {late} of {seen} heartbeats not seen "
            f"on another node within that bound (a replica far behind, or replication halted)")


def evidence(verdict: str, runs: list[dict], risks: list, totals: dict, min_exposure: int) -> str:
    """What a verdict rests on, in one sentence."""
    if verdict == UNSAFE:
        for i, r in enumerate(runs, 1):
            if run_outcome(r) == UNSAFE:
                first = r.get("first_violation") or {}
                when = f" at {first['at_s']:g} s ({first['type']})" if first.get("at_s") is not None else ""
                return f"first violation in run {i} of {len(runs)}{when}: {r.get('test')}"
    if verdict == NOT_EXERCISED:
        return "not exercised enough: " + "; ".join(
            f"{risk.name} ({risk.situation}) {totals.get(risk.name, 0)} times of {min_exposure} needed: "
            f"{risk.raise_it}" for risk in short_of(runs, risks, min_exposure))
    if verdict == SAFE:
        if not totals:
            return f"0 violations in {len(runs)} runs; exposure not counted (no engine workload)"
        weakest = min(risks, key=lambda risk: totals.get(risk.name, 0)) if risks else None
        if weakest is None:
            return f"0 violations in {len(runs)} runs"
        e = totals.get(weakest.name, 0)
        return (f"0 violations in {len(runs)} runs and at least {e} exposures of every risk "
                f"({', '.join(f'{r.name} {totals.get(r.name, 0)}' for r in risks)}): with 95 % confidence a "
                f"single exposure fails less than {100 * rule_of_three(e):.1f} % of the time (rule of three)")
    return "runs errored or gave no verdict"


def _split_findings(runs: list[dict]) -> tuple[list[str], list[str]]:
    """(types that the run's model or the engine forbids, types found that the model allows)."""
    from checkers.anomalies import ENGINE_ANOMALIES
    from checkers.models import canonical, forbids
    violations, context = set(), set()
    for r in runs:
        types = set(r.get("anomaly_types", []))
        try:
            model = canonical(r.get("model") or "strict-serializable")
            forbidden = {t for t in types if forbids(model, t)}  # unknown names, engine invariants too
        except ValueError:
            forbidden = types
        if r.get("valid") is False:
            violations |= forbidden or types  # invalid: at least one type is forbidden
        context |= types - forbidden
    engine_first = lambda t: (t not in ENGINE_ANOMALIES, ENGINE_ANOMALIES.index(t) if t in ENGINE_ANOMALIES else 0, t)
    return sorted(violations, key=engine_first), sorted(context - violations)


def _ops(result: dict) -> int:
    counts = (result.get("run") or {}).get("counts") or {}
    if counts:
        return sum(counts.values())
    return int((result.get("stats") or {}).get("txns", 0))


def answer(rows: list[dict]) -> str:
    """The plain-language answer to QUESTION, one sentence per group of architectures."""
    switching = [r for r in rows if r["user_may_switch_nodes"]]
    parts = []
    by = {v: [r for r in switching if r["verdict"] == v] for v in (SAFE, UNSAFE, NOT_EXERCISED, INCONCLUSIVE)}
    if by[UNSAFE]:
        parts.append("No, not on " + "; ".join(
            f"{r['title']} ({', '.join(r['violations']) or 'violations'})" for r in by[UNSAFE])
            + ": with the engines on two machines, these set-ups broke what the engine relies on "
              "(see each violation's meaning in the linked reports).")
    if by[SAFE]:
        parts.append("Yes, as far as these runs show, on " + "; ".join(
            f"{r['title']} ({r['evidence']})" for r in by[SAFE])
            + ": every run kept the saved state, whichever machine served the user.")
        failing = [r for r in by[SAFE] if (r.get("rc") or {}).get("equivalent") is False]
        if failing:
            parts.append("But the probe reproduced anomalies one READ COMMITTED database prevents on " + "; ".join(
                f"{r['title']} ({r['rc']['text']})" for r in failing)
                + ": that is outside Camunda's support condition, although these runs did not hit it.")
    if by[NOT_EXERCISED]:
        parts.append("Not established on " + "; ".join(f"{r['title']} ({r['evidence']})" for r in by[NOT_EXERCISED])
                     + ": no violation, but the danger was not tried often enough.")
    if by[INCONCLUSIVE]:
        parts.append("Not established on " + "; ".join(r["title"] for r in by[INCONCLUSIVE])
                     + " (runs errored or gave no verdict).")
    single = [r for r in rows if not r["user_may_switch_nodes"]]
    if single:
        parts.append("Where the engines talk to one database at a time: " + "; ".join(
            f"{r['title']}: {r['verdict']}" + (f" ({r['evidence']})" if r["verdict"] != UNSAFE else "")
            for r in single) + ".")
    if not switching:
        parts.insert(0, "This matrix has no architecture in which a user's save and resume can reach "
                        "different databases, so it does not answer the question directly.")
    return " ".join(parts)


def write(cert: dict, store: str) -> str:
    """Write certificate.{json,md,html} under store/certificates/<matrix>-<time>/; returns the dir."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    out = Path(store) / "certificates" / f"{cert['matrix']}-{stamp}"
    n = 1
    while out.exists():
        out = out.with_name(f"{cert['matrix']}-{stamp}-{n}")
        n += 1
    out.mkdir(parents=True)
    from harness.probe.render import write as write_probe
    for topology, probe in cert.get("probes", {}).items():
        if not probe.get("error"):
            write_probe(probe, out / topology)  # <topology>/probe.html, linked from the column
    (out / "certificate.json").write_text(json.dumps(cert, indent=2, default=str))
    (out / "certificate.md").write_text(markdown(cert, out))
    (out / "certificate.html").write_text(to_html(cert, out))
    latest = Path(store) / "certificates" / "latest"
    tmp = latest.with_name(f".latest.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(out.name, tmp)
    os.replace(tmp, latest)
    return str(out)


def _report_link(run: dict, out: Path) -> str | None:
    if not run.get("run_dir"):
        return None
    return os.path.relpath(Path(run["run_dir"]) / "index.html", out)


def _run_label(run: dict) -> str:
    return f"{run.get('workload') or 'run'}, {run.get('faults') or 'no fault'}: {run['outcome'].lower()}"


def _settings_text(row: dict) -> str:
    """The server settings every node reported (the user's server options, read back)."""
    return "; ".join(f"{node} " + (", ".join(f"{k}={v}" for k, v in read.items()) if isinstance(read, dict) else str(read))
                     for node, read in row["settings"].items())


def _rc_text(row: dict) -> str:
    return (row.get("rc") or {}).get("text") or "not probed"


def _rc_short(row: dict) -> str:
    return {True: "yes", False: "NO"}.get((row.get("rc") or {}).get("equivalent"), "-")


def table(cert: dict) -> str:
    """The terminal table: architecture, verdict, findings, READ COMMITTED, runs, ops."""
    head = ("architecture", "verdict", "violations", "RC", "runs", "ops")
    rows = [(r["title"], r["verdict"], _fit(r["violations"], 60), _rc_short(r), str(r["runs"]), str(r["ops"]))
            for r in cert["rows"]]
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    fmt = lambda cols: "  ".join(c[:w].ljust(w) for c, w in zip(cols, widths)).rstrip()
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def _fit(names: list[str], width: int) -> str:
    """'a, b, c' cut to whole names within width, with '+N' for the rest."""
    shown = []
    for i, name in enumerate(names):
        rest = len(names) - i - 1
        if len(", ".join(shown + [name])) + (len(f", +{rest}") if rest else 0) > width:
            return ", ".join(shown) + f", +{len(names) - len(shown)}"
        shown.append(name)
    return ", ".join(shown) or "-"


def markdown(cert: dict, out: Path) -> str:
    lines = [f"# Certificate: {cert['matrix']}", "",
             f"Issued {cert['created']}; {sum(r['runs'] for r in cert['rows'])} runs, "
             f"{cert['time_limit']:g} s each, {cert['seconds']:.0f} s in all; machines connected by "
             f"{', '.join(sorted({r['network'] for r in cert['rows']}))} (see `--network`).", "",
             f"**{cert['question']}** {cert['answer']}", "",
             f"| architecture | verdict | violations | evidence | {RC_HEAD} | allowed anomalies seen | runs | ops "
             "| reports |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in cert["rows"]:
        links = " ".join(f"[{_run_label(run)}]({link})" for run in r["run_reports"]
                         if (link := _report_link(run, out)))
        probe = f" [probe]({r['probe']}/probe.html)" if r.get("probe") and r["probe"] in cert.get("probes", {}) \
            and not cert["probes"][r["probe"]].get("error") else ""
        title = r["title"] + (f" (read back: {_settings_text(r)})" if r.get("settings") else "")
        lines.append(f"| {title} | **{r['verdict']}** | {', '.join(r['violations']) or '-'} | "
                     f"{r['evidence']} | {_rc_text(r)}{probe} | {', '.join(r['context']) or '-'} | {r['runs']} | "
                     f"{r['ops']} | {links or '-'} |")
    lines += ["", *(f"- **{v}**: {m}" for v, m in MEANING.items()), f"- **{RC_HEAD}**: {RC_MEANING}"]
    errors = [(r["title"], run) for r in cert["rows"] for run in r["run_reports"] if run["error"]]
    if errors:
        lines += ["", "## Runs without a verdict", *(f"- {t}: {run['test']}: {run['error']}" for t, run in errors)]
    return "\n".join(lines) + "\n"


def to_html(cert: dict, out: Path) -> str:
    e = html.escape

    def probe_link(r):
        probe = cert.get("probes", {}).get(r.get("probe") or "")
        return f' <a href="{e(r["probe"])}/probe.html">probe</a>' if probe and not probe.get("error") else ""
    color = {SAFE: "#1a7f37", UNSAFE: "#cf222e", INCONCLUSIVE: "#9a6700", NOT_EXERCISED: "#9a6700"}
    body = []
    for r in cert["rows"]:
        links = "<br>".join(
            f'<a href="{e(link)}" title="{e(run["test"] or "")}">{e(_run_label(run))}</a>'
            for run in r["run_reports"] if (link := _report_link(run, out)))
        body.append(
            f"<tr><td>{e(r['title'])}<br><small>{e(r['db'])}, {e(r['routing'])}, {e(r['isolation'])}"
            f"{', ' + e(json.dumps(r['knobs'])) if r['knobs'] else ''}"
            f"{'<br>read back: ' + e(_settings_text(r)) if r.get('settings') else ''}</small></td>"
            f"<td style='color:{color[r['verdict']]};font-weight:bold'>{r['verdict']}</td>"
            f"<td>{e(', '.join(r['violations']) or '-')}</td><td>{e(r['evidence'])}</td>"
            f"<td>{e(_rc_text(r))}{probe_link(r)}</td>"
            f"<td>{e(', '.join(r['context']) or '-')}</td>"
            f"<td>{r['runs']}</td><td>{r['ops']}</td><td>{links or '-'}</td></tr>")
    legend = "".join(f"<li><b>{e(v)}</b>: {e(m)}</li>" for v, m in [*MEANING.items(), (RC_HEAD, RC_MEANING)])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Certificate {e(cert['matrix'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.4em;vertical-align:top}}</style></head><body>
<h1>Certificate: {e(cert['matrix'])}</h1>
<p><b>{e(cert['question'])}</b> {e(cert['answer'])}</p>
<table><tr><th>architecture</th><th>verdict</th><th>violations</th><th>evidence</th><th>{e(RC_HEAD)}</th>
<th>allowed anomalies seen</th>
<th>runs</th><th>ops</th><th>run reports</th></tr>{''.join(body)}</table>
<ul>{legend}</ul><p><small>Issued {e(cert['created'])}; {cert['seconds']:.0f} s in all.</small></p>
</body></html>
"""
