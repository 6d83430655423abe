"""Write a result's explanations for people: one text file per anomaly type, one graph per cycle.

    write_explanations(result, out_dir) -> [paths written]

Files: `<slug>.txt` (every listed instance of that type, numbered), and for each cycle instance
`<slug>-<n>.dot` (n from 1) plus `<slug>-<n>.svg` when graphviz's `dot` is installed. The slug is
the type in lower case with non-alphanumerics as '-', e.g. "G-single-realtime" -> "g-single-realtime".
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import networkx as nx

EDGE_COLOURS = {"ww": "#1f77b4", "wr": "#2ca02c", "rw": "#d62728", "process": "#7f7f7f",
                "realtime": "#9467bd"}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-") or "anomaly"


def _label(op, fallback):
    if isinstance(op, dict):
        if isinstance(op.get("index"), int):
            return f"T{op['index']}"
    return fallback


def cycle_graph(instance) -> nx.MultiDiGraph:
    """The cycle of one anomaly instance as a small networkx graph (nodes = txns, edges = steps)."""
    g = nx.MultiDiGraph()
    cycle = instance.get("cycle") or []
    steps = instance.get("steps") or []
    names = [_label(op, f"T?{i}") for i, op in enumerate(cycle)]
    for name, op in zip(names, cycle):
        value = op.get("value") if isinstance(op, dict) else None
        g.add_node(name, value=_short(value), process=(op or {}).get("process"))
    for i, step in enumerate(steps):
        a = _label(step.get("from"), names[i % len(names)] if names else f"T?{i}")
        b = _label(step.get("to"), names[(i + 1) % len(names)] if names else f"T?{i + 1}")
        g.add_edge(a, b, kind=step.get("type", "?"), key_=step.get("key"),
                   why=step.get("explanation", ""))
    return g


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _q(s) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(g: nx.MultiDiGraph, title: str) -> str:
    lines = [f"digraph {_q(title)} {{", "  rankdir=LR;", f"  label={_q(title)}; labelloc=t;",
             '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for n, d in g.nodes(data=True):
        label = f"{n}\n{d.get('value', '')}"
        lines.append(f"  {_q(n)} [label={_q(label)}, tooltip={_q(label)}];")
    for a, b, d in g.edges(data=True):
        kind = d.get("kind", "?")
        lab = kind if d.get("key_") is None else f"{kind} {d['key_']}"
        colour = EDGE_COLOURS.get(kind, "#000000")
        lines.append(f"  {_q(a)} -> {_q(b)} [label={_q(lab)}, color={_q(colour)}, "
                     f"fontcolor={_q(colour)}, tooltip={_q(d.get('why', ''))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_explanations(result: dict, out_dir) -> list:
    """Write text + DOT (+ SVG if `dot` exists) for every anomaly in `result`; return the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    dot_bin = shutil.which("dot")
    counts = (result.get("stats") or {}).get("anomaly_counts") or {}
    for atype, instances in sorted((result.get("anomalies") or {}).items()):
        s = slug(atype)
        text = [f"{atype}: {counts.get(atype, len(instances))} found"
                + (f", {len(instances)} listed" if counts.get(atype, len(instances)) > len(instances) else ""),
                ""]
        for n, inst in enumerate(instances, 1):
            text.append(f"--- {atype} #{n} ---")
            text.append(str(inst.get("explanation", "")).rstrip())
            if inst.get("ops"):
                text.append("ops:")
                text += [f"  {op}" for op in inst["ops"]]
            text.append("")
            if inst.get("cycle"):
                dot_path = os.path.join(out_dir, f"{s}-{n}.dot")
                with open(dot_path, "w") as f:
                    f.write(to_dot(cycle_graph(inst), f"{atype} #{n}"))
                paths.append(dot_path)
                if dot_bin:
                    svg_path = dot_path[:-4] + ".svg"
                    try:
                        subprocess.run([dot_bin, "-Tsvg", "-o", svg_path, dot_path], check=True,
                                       timeout=30, capture_output=True)
                        paths.append(svg_path)
                    except (subprocess.SubprocessError, OSError):
                        pass  # the DOT file is still there
        txt_path = os.path.join(out_dir, f"{s}.txt")
        with open(txt_path, "w") as f:
            f.write("\n".join(text) + "\n")
        paths.append(txt_path)
    return paths
