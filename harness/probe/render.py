"""The probe's table for a person: terminal text and an HTML page, each beside Hermitage's
published row, every difference marked (*) and explained in a sentence, and the verdict line."""
from __future__ import annotations

import html
import json
from pathlib import Path

from harness.probe import hermitage
from harness.probe.api import verdict_line
from harness.probe.explain import differences, grouped

LEGEND = ("✓ prevented   ✓w waits, then prevented   R/O prevented only for read-only transactions   "
          "— occurs   ERR error   * differs from Hermitage's row or from the same-node row")


def _header(d) -> str:
    nodes = ", ".join(f"{n['name']} {n['role']}" for n in d["nodes"])
    knobs = ", ".join(f"{k}={v}" for k, v in sorted(d["knobs"].items()) if v not in (None, False, 0)) or "defaults"
    extra = "; replication is asynchronous: cross-node pairs also run settled" if d["asynchronous"] else ""
    version = d["versions"].get("server", "")
    return f"probe {d['db']} {version} ({nodes}; {knobs}{extra}) in {d['seconds']} s"


def _blocks(d):
    """Per isolation: (published label, published row, [(row label, row)])."""
    tests = list(d["rows"][0]["results"]) if d["rows"] else []
    out = []
    for iso in dict.fromkeys(r["isolation"] for r in d["rows"]):
        label, pub = hermitage.published(d["dialect"], iso)
        rows = [(r["placement"] + (" settled" if r["settled"] else ""), r) for r in d["rows"] if r["isolation"] == iso]
        out.append((iso, label, pub, rows))
    return tests, out


def _marked(d) -> set:
    return {(x["isolation"], x["placement"], x["settled"], x["test"]) for x in differences(d)}


def text(result) -> str:
    d = result.to_dict() if hasattr(result, "to_dict") else result
    tests, blocks = _blocks(d)
    marked = _marked(d)
    width = max([len(lbl) for _, label, _, rows in blocks for lbl, _ in rows] + [24]) + 2
    cols = [max(len(t), 4) + 1 for t in tests]
    lines = [_header(d), "", " " * width + "".join(t.ljust(w) for t, w in zip(tests, cols))]
    for iso, label, pub, rows in blocks:
        lines.append(iso)
        if pub:
            lines.append(("  Hermitage " + label.split(" ", 2)[1])[:width].ljust(width)
                         + "".join(pub.get(t, "").ljust(w) for t, w in zip(tests, cols)))
        for lbl, r in rows:
            cells = []
            for t, w in zip(tests, cols):
                star = "*" if (iso, r["placement"], r["settled"], t) in marked else ""
                cells.append((hermitage.SHORT[r["results"][t]] + star).ljust(w))
            lines.append(f"  {lbl}".ljust(width) + "".join(cells))
    lines += ["", LEGEND]
    diffs = grouped(differences(d))
    if diffs:
        lines += ["", "differences:"] + [f"  - {x}" for x in diffs]
    if d["notes"]:
        lines += ["", f"{len(d['notes'])} notes (repairs the probe made on the way; all in the JSON), the first: "
                      f"{d['notes'][0]}"]
    lines += ["", verdict_line(d)]
    return "\n".join(lines)


def to_html(result) -> str:
    d = result.to_dict() if hasattr(result, "to_dict") else result
    tests, blocks = _blocks(d)
    marked = _marked(d)
    e = html.escape
    head = "".join(f"<th>{e(t)}</th>" for t in tests)
    body = []
    for iso, label, pub, rows in blocks:
        body.append(f'<tr class="iso"><th colspan="{len(tests) + 1}">{e(iso)}</th></tr>')
        if pub:
            body.append(f'<tr class="pub"><th>{e(label)}</th>'
                        + "".join(f"<td>{e(pub.get(t, ''))}</td>" for t in tests) + "</tr>")
        for lbl, r in rows:
            cells = []
            for t in tests:
                outcome = r["results"][t]
                star = (iso, r["placement"], r["settled"], t) in marked
                cells.append(f'<td class="{outcome}{" diff" if star else ""}" title="{e(r["evidence"][t]["why"])}">'
                             f'{e(hermitage.SHORT[outcome])}{"*" if star else ""}</td>')
            body.append(f"<tr><th>{e(lbl)}</th>{''.join(cells)}</tr>")
    diffs = "".join(f"<li>{e(x)}</li>" for x in grouped(differences(d))) or "<li>none</li>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>probe {e(d['db'])}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: center; }} th {{ text-align: left; }}
tr.iso th {{ background: #eee; }} tr.pub td, tr.pub th {{ color: #555; font-style: italic; }}
td.occurs {{ background: #f6c6c6; }} td.error {{ background: #f3e08a; }} td.prevented-read-only {{ background: #fbe3c0; }}
td.prevented, td.waits-then-prevented {{ background: #d5f0d5; }} td.diff {{ outline: 2px solid #b00; font-weight: bold; }}
</style></head><body>
<h1>{e(_header(d))}</h1>
<p class="verdict"><b>{e(verdict_line(d))}</b></p>
<table><tr><th></th>{head}</tr>{''.join(body)}</table>
<p>{e(LEGEND)}. Hover a cell for what was observed; the full step-by-step evidence is in probe.json.</p>
<h2>Differences</h2><ul>{diffs}</ul>
</body></html>"""


def write(result, out_dir) -> Path:
    """DIR/probe.html and DIR/probe.json; returns the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    d = result.to_dict() if hasattr(result, "to_dict") else result
    (out / "probe.json").write_text(json.dumps(d, indent=1, default=str))
    page = out / "probe.html"
    page.write_text(to_html(d))
    return page
