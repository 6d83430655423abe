"""Reading a run directory for the report: the history (leniently), results.json, test.json.

A report must still render for a run that crashed half-way, so nothing here gives up on a
damaged file: unreadable parts become `problems` the page shows, not exceptions.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from checkers import anomalies
from checkers.api import unknown_result
from harness.errors import UsageError
from harness.record import rerun_command
from harness.report.stream import HistoryFile, ListHistory

# Engine invariants of the save-resume checker, with what each means for a process engine; the
# words for every anomaly type (meaning, engine_impact) are the anomaly table's (checkers/anomalies.py)
ENGINE_INVARIANTS = {a.name: a.meaning for a in anomalies.TABLE if a.engine}
meaning = anomalies.meaning
engine_impact = anomalies.impact


class ReportError(UsageError):
    """The run directory cannot be reported on at all (missing, or nothing in it)."""


@dataclass
class Run:
    dir: Path
    results: dict
    spec: dict
    ops: object            # HistoryFile or ListHistory (harness.report.stream): read once as a stream
    problems: list[str] = field(default_factory=list)
    has_results: bool = True

    def meta(self, key: str, default=None):
        """A run fact by the one name the run record (harness.record) or the spec gives it: from
        results.json, its `run` facts, then test.json (a run that crashed before checking has only
        that); `default` when no source has it (an older run dir, or a hand-made one)."""
        for source in (self.results, self.results.get("run"), self.spec):
            if isinstance(source, dict) and source.get(key) not in (None, "", [], {}):
                return source[key]
        return default

    @property
    def workload(self) -> str:
        return str(self.meta("workload", default="?"))

    @property
    def db(self) -> str:
        return str(self.meta("db", default="?"))

    @property
    def nemesis(self) -> list[str]:
        return as_list(self.meta("nemesis", default=[]))

    @property
    def model(self) -> str:
        return str(self.meta("model", default=""))

    def command(self) -> str:
        """The exact command to rerun: as recorded, or rebuilt from the spec (runs before it was)."""
        cmd = self.meta("command")
        if isinstance(cmd, list):
            return shlex.join(str(c) for c in cmd)
        if cmd:
            return str(cmd)
        return rerun_command(self.spec or self.results)


def as_list(value) -> list[str]:
    if value in (None, "", "none"):
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def read_json(path: Path, problems: list[str]) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        problems.append(f"{path.name}: unreadable ({e})")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path.name}: expected a JSON object")
        return {}
    return data


def open_history(run_dir: Path, problems: list[str]):
    """The run's history, not yet read: a HistoryFile over history.jsonl (streamed once by the
    report, then read op by op), or history.edn read whole (Jepsen's EDN files are small)."""
    from harness.store import history_path
    jsonl = history_path(run_dir)      # history.jsonl or history.jsonl.gz
    if jsonl.exists():
        return HistoryFile(jsonl, problems)
    edn = run_dir / "history.edn"
    if edn.exists():
        try:
            from checkers.history import read_history  # Jepsen EDN reader, when the checker package has it
            return ListHistory(list(read_history(edn)))
        except Exception as e:  # noqa: BLE001 - any failure becomes a visible problem, not a crash
            problems.append(f"history.edn: unreadable ({e})")
            return ListHistory([])
    problems.append("history.jsonl: missing")
    return ListHistory([])


def load_run(run_dir) -> Run:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: not a run directory")
    problems: list[str] = []
    results = read_json(run_dir / "results.json", problems)
    spec = read_json(run_dir / "test.json", problems)
    has_history = any((run_dir / f).exists() for f in ("history.jsonl", "history.jsonl.gz", "history.edn"))
    if not results and not spec and not has_history:
        raise ReportError(f"{run_dir}: no results.json, test.json or history.jsonl")
    has_results = bool(results)
    if not has_results:
        problems.append("results.json: missing (the run did not finish checking); verdict unknown")
        results = unknown_result("the run did not finish checking (no results.json)")
    for field in ("anomaly_types", "not", "also_not"):   # lists of names: anything else is dropped
        names = results.get(field)
        if names is not None and (type(names) is not list or any(type(t) is not str for t in names)):
            problems.append(f"results.json: {field!r} is not a list of names; ignored")
            results[field] = [t for t in names if type(t) is str] if type(names) is list else []
    ops = open_history(run_dir, problems)
    return Run(run_dir, results, spec, ops, problems, has_results)
