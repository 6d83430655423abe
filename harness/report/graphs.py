"""Cycle graphs for the report: the checker's own renderings when it has them, else drawn here.

`checkers/render.py` (the checker's `write_explanations(result, out_dir)`) writes DOT, and SVG
where graphviz is installed. When it is missing or wrote no SVG for an anomaly, the report draws
the cycle itself: transactions on a circle, dependency edges labelled with their kind. Either way
the SVG is inlined so the page works offline.
"""
from __future__ import annotations

import math
import re
from html import escape
from pathlib import Path

EDGE_KINDS = ("ww", "wr", "rw", "process", "realtime", "rt")


def steps_of(anomaly: dict) -> list[str]:
    """The anomaly's steps as plain sentences."""
    out = []
    for s in anomaly.get("steps") or []:
        if isinstance(s, str):
            out.append(s)
        elif isinstance(s, dict):
            text = s.get("explanation") or s.get("text") or s.get("why") or ""
            a, b = _txn_name(s.get("from")), _txn_name(s.get("to"))
            if a and b and not re.match(r"T\S+ < T\S+", str(text)):  # the checker's {"from", "to", "type", ...}
                kind = edge_kind(s)
                text = f"{a} < {b}" + (f" ({kind})" if kind else "") + (f": {text}" if text else "")
            out.append(str(text or s))
        else:
            out.append(str(s))
    return out


def _txn_name(ref) -> str:
    """T<index>, the name the checker's explanations use for a transaction."""
    if isinstance(ref, dict) and isinstance(ref.get("index"), int):
        return f"T{ref['index']}"
    if isinstance(ref, int) and not isinstance(ref, bool):
        return f"T{ref}"
    return ""


def edge_kind(step) -> str:
    if isinstance(step, dict):
        for key in ("type", "edge", "kind", "rel", "dep"):
            v = step.get(key)
            if isinstance(v, str) and v:
                return v
            if isinstance(v, list) and v:
                return "+".join(str(x) for x in v)
        step = step.get("explanation") or step.get("text") or ""
    m = re.search(r"\b(ww|wr|rw|process|realtime|real-time)\b", str(step))
    return m.group(1) if m else ""


def _cycle_ops(anomaly: dict, ops_by_index) -> list[dict]:
    members = []
    for r in anomaly.get("cycle") or []:
        if isinstance(r, dict):
            members.append(r)
        elif isinstance(r, int) and not isinstance(r, bool):
            members.append(ops_by_index(r) or {"index": r})
    if len(members) > 1 and members[0].get("index") is not None and members[0].get("index") == members[-1].get("index"):
        members = members[:-1]  # Elle lists the cycle's first transaction again at the end
    return members


def _short_value(value, limit=34) -> str:
    if isinstance(value, list) and value and all(isinstance(m, (list, tuple)) for m in value):
        text = " ".join(f"{m[0]} {m[1]} {m[2]!r}".replace("None", "nil") for m in value if len(m) >= 3)
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cycle_svg(anomaly: dict, ops_by_index, anchor: str) -> str:
    """A drawn cycle: T1 → T2 → … → T1 with each edge's kind from the steps. '' when no cycle."""
    members = _cycle_ops(anomaly, ops_by_index)
    n = len(members)
    if n < 1:
        return ""
    steps = anomaly.get("steps") or []
    radius = 70 if n <= 2 else max(90, 42 * n / math.pi)
    box_w, box_h = 150, 38
    width = int(2 * radius + box_w + 40)
    height = int(2 * radius + box_h + 50)
    cx, cy = width / 2, height / 2 + 6
    pos = [(cx + radius * math.cos(-math.pi / 2 + 2 * math.pi * k / n),
            cy + radius * math.sin(-math.pi / 2 + 2 * math.pi * k / n)) for k in range(n)]
    out = [f'<svg class="cycle-graph" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="dependency cycle">',
           '<defs><marker id="arrow-' + anchor + '" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b22222"/></marker></defs>']
    for k in range(n):
        (x0, y0), (x1, y1) = pos[k], pos[(k + 1) % n]
        if n == 1:  # a self-loop
            path = f"M{x0 - 20:.1f},{y0 - box_h / 2:.1f} C{x0 - 60:.1f},{y0 - 90:.1f} {x0 + 60:.1f},{y0 - 90:.1f} {x0 + 20:.1f},{y0 - box_h / 2:.1f}"
            lx, ly = x0, y0 - 72
        else:
            # shorten to the box edges, bend outward so the two edges of a 2-cycle do not overlap
            dx, dy = x1 - x0, y1 - y0
            dist = math.hypot(dx, dy) or 1
            ux, uy = dx / dist, dy / dist
            shrink = min(box_w / 2 / (abs(ux) + 1e-9), box_h / 2 / (abs(uy) + 1e-9)) + 4
            sx, sy, ex, ey = x0 + ux * shrink, y0 + uy * shrink, x1 - ux * shrink, y1 - uy * shrink
            bend = 28 if n == 2 else 18
            mx, my = (sx + ex) / 2 + uy * bend, (sy + ey) / 2 - ux * bend
            path = f"M{sx:.1f},{sy:.1f} Q{mx:.1f},{my:.1f} {ex:.1f},{ey:.1f}"
            lx, ly = mx, my
        kind = edge_kind(steps[k]) if k < len(steps) else ""
        out.append(f'<path d="{path}" fill="none" stroke="#b22222" stroke-width="1.8" '
                   f'marker-end="url(#arrow-{anchor})"/>')
        if kind:
            out.append(f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="11" font-weight="bold" fill="#b22222" '
                       f'text-anchor="middle" paint-order="stroke" stroke="#fff" stroke-width="3">{escape(kind)}</text>')
    for k, (op, (x, y)) in enumerate(zip(members, pos)):
        idx = op.get("index")
        who = " · ".join(str(b) for b in (f"p{op.get('process')}" if op.get("process") is not None else None,
                                          op.get("node")) if b)
        name = f"T{idx}" if idx is not None else f"T?{k + 1}"
        label = name + (f"  {who}" if who else "")
        tip = f"{name}: op #{idx} {op.get('f', '')} {op.get('type', '')} {op.get('value')!r}"
        box = (f'<rect x="{x - box_w / 2:.1f}" y="{y - box_h / 2:.1f}" width="{box_w}" height="{box_h}" rx="6" '
               f'fill="#fff5f5" stroke="#b22222"/>'
               f'<text x="{x:.1f}" y="{y - 3:.1f}" font-size="11" text-anchor="middle" font-weight="bold">{escape(label)}</text>'
               f'<text x="{x:.1f}" y="{y + 12:.1f}" font-size="9.5" text-anchor="middle" fill="#444">'
               f'{escape(_short_value(op.get("value")))}</text><title>{escape(tip)}</title>')
        out.append(f'<a href="#{escape(f"{anchor}-op-{idx}")}">{box}</a>' if idx is not None else box)
    out.append("</svg>")
    return "\n".join(out)


def clean_svg(text: str) -> str:
    """Graphviz SVG ready to inline: no XML prolog or DOCTYPE, marked with our class."""
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return re.sub(r"<svg\b", '<svg class="cycle-graph"', text.strip(), count=1)


def checker_renderings(results_shown: dict, out_dir: Path) -> tuple[dict, str | None]:
    """Run the checker's write_explanations; ({(type, n): svg text}, problem or None).

    checkers/render.py names the graph of the n-th listed instance (from 1) `<slug>-<n>.svg`.
    """
    from checkers.render import slug, write_explanations
    try:
        write_explanations(results_shown, out_dir)
    except Exception as e:  # noqa: BLE001 - a rendering bug must not cost the whole report
        return {}, f"checkers.render.write_explanations failed: {type(e).__name__}: {e}"
    found = {}
    for atype, instances in (results_shown.get("anomalies") or {}).items():
        for k in range(len(instances or [])):
            svg = Path(out_dir) / f"{slug(atype)}-{k + 1}.svg"
            if svg.is_file():
                try:
                    found[(atype, k)] = svg.read_text(errors="replace")
                except OSError:
                    pass
    return found, None


def _group_end(svg: str, start: int) -> int:
    """Index just past the </g> that closes the <g> opened at `start` (groups nest in graphviz SVG)."""
    depth = 0
    for m in re.finditer(r"<g\b|</g>", svg[start:]):
        depth += 1 if m.group(0) == "<g" else -1
        if depth == 0:
            return start + m.end()
    return -1


def link_graphviz_nodes(svg: str, anchor: str) -> str:
    """Graphviz SVG made ready to inline: ids made unique per anomaly, each transaction node (titled
    T<index>) a link to its row in the history excerpt."""
    svg = clean_svg(svg)
    svg = re.sub(r'\bid="', f'id="{anchor}-', svg)
    out, pos = [], 0
    for m in re.finditer(r'<g id="[^"]*" class="node">\s*<title>T(\d+)</title>', svg):
        if m.start() < pos:
            continue
        end = _group_end(svg, m.start())
        if end < 0:
            break
        node = svg[m.start():end]
        href = f'href="#{anchor}-op-{m.group(1)}"'
        if "<a " in node:   # graphviz's own tooltip anchor: give it the link
            node = node.replace("<a ", f"<a {href} ", 1)
        else:
            node = f"<a {href}>{node}</a>"
        out += [svg[pos:m.start()], node]
        pos = end
    out.append(svg[pos:])
    return "".join(out)
