"""JUnit XML for CI: one test case per checker and one per engine invariant.

    write_junit(results, path)   # results: one results dict, or a list of them (one suite each)

A CI server then shows "galera save-resume: lost-save FAILED" next to the other tests. Test
cases: the workload's checker (its verdict against the model), the list-append check of the
engine's step lists when present, and, for the engine workload (or whenever one was found), each
engine invariant of the anomaly table (checkers/anomalies.py), passed or failed with its meaning and
the first finding's explanation.
An unknown verdict is an <error> (the check could not decide), never a pass.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from checkers import anomalies
from harness.report.verdict import summary_line, unknown_reason, verdict_word

MAX_MESSAGE = 4000


def engine_invariants() -> list[str]:
    """The engine checker's invariants."""
    return list(anomalies.ENGINE_ANOMALIES)


def _first_explanation(results: dict, atype: str) -> str:
    inst = (results.get("anomalies") or {}).get(atype) or []
    for a in inst:
        if isinstance(a, dict) and a.get("explanation"):
            return str(a["explanation"])
    return ""


_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clip(text: str) -> str:
    """Bounded, and without characters XML 1.0 cannot carry (a history may hold any bytes)."""
    text = _NOT_XML.sub("?", str(text))
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _case(suite, classname: str, name: str, seconds: float = 0.0):
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")


def _fail(case, message: str, text: str = "", kind: str = "failure"):
    el = ET.SubElement(case, kind, message=_clip(message.splitlines()[0] if message else kind),
                       type="anomaly" if kind == "failure" else "unknown")
    el.text = _clip(text or message)


def _suite_name(results: dict) -> str:
    nem = results.get("nemesis") or []
    nem = ",".join(nem) if isinstance(nem, list) else str(nem)
    return results.get("test") or "-".join(str(x) for x in (results.get("db", "db"), results.get("workload", "workload"),
                                                             results.get("routing"), nem or None) if x)


def _add_suite(root, results: dict):
    name = _suite_name(results)
    classname = "harness." + name
    seconds = float((results.get("stats") or {}).get("seconds") or 0.0)
    suite = ET.SubElement(root, "testsuite", name=name)
    props = ET.SubElement(suite, "properties")
    for key in ("db", "workload", "isolation", "model", "routing", "seed", "run_dir", "report"):
        if results.get(key) not in (None, ""):
            ET.SubElement(props, "property", name=key, value=_clip(results[key]))
    if results.get("nemesis"):
        ET.SubElement(props, "property", name="nemesis", value=",".join(map(str, results["nemesis"])))

    workload = str(results.get("workload") or "checker")
    model = results.get("model") or ""
    word = verdict_word(results)
    case = _case(suite, classname, f"checker {workload}" + (f" ({model})" if model else ""), seconds)
    if word == "invalid":
        types = results.get("anomaly_types") or []
        text = "\n\n".join(f"{t}: {_first_explanation(results, t)}" for t in types)
        _fail(case, summary_line(results, db=results.get("db", "?"), workload=workload,
                                 nemesis=results.get("nemesis")), text)
    elif word == "unknown":
        _fail(case, f"no verdict: {unknown_reason(results)}", kind="error")

    invariants = engine_invariants()
    found = set(results.get("anomaly_types") or [])
    if workload == "save-resume" or found & set(invariants):
        context = results.get("context") or {}
        step_case = _case(suite, classname, "checker list-append (the instances' step lists)")
        forbidden = [t for t in found if t not in invariants]
        if forbidden:
            _fail(step_case, f"forbidden by {model or 'the model'}: {', '.join(sorted(forbidden))}",
                  "\n\n".join(f"{t}: {_first_explanation(results, t)}" for t in sorted(forbidden)))
        elif context.get("anomaly_types"):
            ET.SubElement(step_case, "system-out").text = _clip(
                "allowed by the model, listed as context: " + ", ".join(context["anomaly_types"]))
        for inv in invariants:
            c = _case(suite, classname, f"invariant {inv}")
            if inv in found:
                count = ((results.get("stats") or {}).get("anomaly_counts") or {}).get(inv) \
                    or len((results.get("anomalies") or {}).get(inv) or [])
                why = anomalies.meaning(inv)
                _fail(c, f"{inv} broken ({count} found): {why}", _first_explanation(results, inv))
            elif word == "unknown" and not found:
                ET.SubElement(c, "skipped", message="the check gave no verdict")

    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    suite.set("time", f"{seconds:.3f}")


def write_junit(results, path) -> Path:
    """Write JUnit XML for one results dict or a list of them; returns the path."""
    runs = results if isinstance(results, (list, tuple)) else [results]
    root = ET.Element("testsuites", name="harness")
    for r in runs:
        _add_suite(root, r or {})
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(sum(int(s.get(attr, 0)) for s in root.findall("testsuite"))))
    ET.indent(root)
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)
    return path
