"""Reading a run directory for the report: the history (leniently), results.json, test.json.

A report must still render for a run that crashed half-way, so nothing here gives up on a
damaged file: unreadable parts become `problems` the page shows, not exceptions.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from checkers.api import unknown_result
from harness.errors import UsageError
from harness.record import rerun_command
from harness.report.stream import HistoryFile, ListHistory

# Engine invariants of the save-resume checker (issue 6), with what each means for a process engine.
ENGINE_INVARIANTS = {
    "lost-save": "an acknowledged save of a process instance vanished: the instance silently went back a step",
    "double-win": "two saves of the same instance revision both committed: optimistic locking did not protect it",
    "stale-resume": "a user resumed an instance and saw an older step than one already acknowledged",
    "double-execution": "a job ran more than once, or two nodes held its lock at once: side effects repeat",
    "duplicate-instance": "two running process instances exist for one business key",
    "torn-state": "one read saw execution, variables, task and history out of step with each other",
    "divergence": "after healing, the nodes hold different data: what the engine sees depends on the node",
    "duplicate-id": "two engines handed out the same ids: rows collide, and replication stops on the duplicate key",
    "duplicate-definition": "two deployments made the same version of a process: instances start on either at random",
    "exclusive-overlap": "two job executors ran one instance's exclusive steps at once, or a message was handled twice",
    "duplicate-cleanup-job": "two history-cleanup jobs exist: cleanup runs twice and contends with itself",
    "replication-halted": "a machine stopped receiving the other's writes: its users see the past from then on",
    "next-day-resume": "the next day, users opening their instances on this machine find them in a wrong state",
    "rev-nonlinearizable": "an instance's revision counter did not act as one register: the optimistic lock cannot protect it",
}

# Plain words for the isolation anomalies (Adya/Elle), for readers who do not know the letters.
ANOMALY_MEANINGS = {
    "G0": "write cycle: two transactions overwrote each other's writes in an order no serial run allows",
    "G1a": "aborted read: a transaction read a value written by a transaction that failed",
    "G1b": "intermediate read: a transaction read a value that its writer later overwrote in the same transaction",
    "G1c": "circular information flow: transactions each saw the other's writes",
    "G-single": "read skew: a transaction saw part of another's writes but missed the rest",
    "G-nonadjacent": "a dependency cycle with non-adjacent anti-dependencies (read skew over several transactions)",
    "G2-item": "write skew: two transactions each read what the other then overwrote",
    "G2": "anti-dependency cycle (write skew, predicate form)",
    "lost-update": "two committed transactions read the same version and both wrote it: one update was lost",
    "internal": "a transaction did not see its own earlier write",
    "dirty-update": "a committed write was based on an aborted one",
    "duplicate-elements": "a read showed the same appended element twice",
    "incompatible-order": "two reads disagree on the order of a key's values",
    "future-read": "a transaction read a value before it was written",
    "cyclic-versions": "the versions of a key cannot be ordered at all",
    "stale-read": "a read returned data older than a write acknowledged before it began",
    "wrong-total": "a read saw a bank total different from the money that exists",
    "negative-balance": "an account went below zero",
    "lost": "an acknowledged insert is missing from the final read",
    "unexpected": "the final read contains something never inserted",
}


# What an isolation anomaly could do to a Camunda-7-style engine (its state in rows guarded by a REV_
# column, updated with `... WHERE id=? AND rev=?` at READ COMMITTED). Hedged: it shows what the
# database allowed, not that an engine hit it.
ENGINE_IMPACT = {
    "G0": "two saves' row updates can interleave: an instance can keep the execution of one save and the "
          "variables of another, for good",
    "G1a": "the engine can act on a save that was rolled back (continue from a step that never happened)",
    "G1b": "the engine can act on a half-done save (an intermediate state no user ever committed)",
    "G1c": "two saves each saw the other's effects: no order of the saves explains the instance's state",
    "G-single": "one read can see part of a save and miss the rest (execution from one step, variables from "
                "another); at READ COMMITTED the engine relies on its REV_ check at write time to catch this",
    "G-nonadjacent": "reads can mix states of several saves; the engine relies on its REV_ check to catch it",
    "G2-item": "two nodes can each decide on what the other is changing: e.g. two instances for one business "
               "key, or a job both completed and retried",
    "G2": "two nodes can each pass a check the other invalidates (duplicate instances, double job acquisition)",
    "lost-update": "two nodes can save the same instance revision and both succeed: one save silently vanishes "
                   "(the optimistic-locking REV_ check assumes this cannot happen)",
    "internal": "a transaction did not see its own write: the engine's own save reads back wrong data",
    "dirty-update": "a committed save was built on one that was rolled back",
    "duplicate-elements": "one write was applied twice: a step or job effect can repeat",
    "incompatible-order": "nodes disagree on the order of an instance's saves: its history differs by node",
    "cyclic-versions": "nodes disagree on the order of an instance's saves: its history differs by node",
    "future-read": "a read saw a save before it happened: the database's order cannot be trusted",
    "stale-read": "a user who saved on one node can resume on another and see the old step",
    "wrong-total": "a transfer's two halves were seen apart: multi-row engine updates are not atomic here",
    "negative-balance": "a check-then-update raced: guards the engine writes as queries can be bypassed",
    "lost": "an acknowledged write disappeared: an acknowledged save can vanish",
    "unexpected": "data appeared that no client wrote: state from nowhere",
}


def engine_impact(anomaly_type: str) -> str:
    """What the anomaly could do to a process engine ('' when unknown)."""
    if anomaly_type in ENGINE_INVARIANTS:
        return ENGINE_INVARIANTS[anomaly_type]
    for suffix, extra in (("-realtime", "; across nodes: a user who saved on one node can resume on another "
                                        "and see the old step"),
                          ("-process", "; one session did not see its own earlier save")):
        if anomaly_type.endswith(suffix):
            base = ENGINE_IMPACT.get(anomaly_type[: -len(suffix)])
            return (base + extra) if base else extra[2:]
    return ENGINE_IMPACT.get(anomaly_type, "")


def meaning(anomaly_type: str) -> str:
    """Plain words for an anomaly type, including its -process / -realtime variants."""
    if anomaly_type in ENGINE_INVARIANTS:
        return ENGINE_INVARIANTS[anomaly_type]
    if anomaly_type in ANOMALY_MEANINGS:
        return ANOMALY_MEANINGS[anomaly_type]
    for suffix, extra in (("-realtime", " (the cycle needs real time: a stale read across sessions or nodes)"),
                          ("-process", " (the cycle needs one client's own order: it did not see its own past)")):
        if anomaly_type.endswith(suffix):
            base = ANOMALY_MEANINGS.get(anomaly_type[: -len(suffix)])
            if base:
                return base + extra
    return ""


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
