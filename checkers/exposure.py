"""Exposure: how often a run really put the engine in each dangerous situation.

A test proves violations, never safety; a valid run says something only about the situations it
exercised. Each risk below is a situation in which a weaker database than the engine needs would break
an engine invariant. `count(txns, window_ns)` counts, from an engine history (checkers.save_resume's
paired ops), how many times each happened, with the gaps between the two operations involved.
`window_ns` is "soon": two operations on different nodes within it are inside the time replication
takes at least half the time (the run's median measured lag), at least a floor of 3 ms (a user's next
click right after an answer; an asynchronous replica across a LAN may well not have applied by then).

Which risks a topology has is decided where the topology is known (harness.certify), from `scope`:
  any           every topology (concurrency on one database)
  multi-reader  reads can be served by another node than the one that took the write
  multi-writer  writes of one engine state can go to two different nodes
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class Risk:
    name: str
    scope: str          # any | multi-reader | multi-writer
    situation: str      # what happened, in words
    threatens: tuple    # the engine invariants it could break
    raise_it: str       # what would make it happen more often


RISKS = (
    Risk("concurrent-saves", "any", "two writes of one process instance at the same time",
         ("double-win", "lost-save"), "more sessions per instance (fewer instances, higher rate)"),
    Risk("concurrent-acquire", "any", "two job executors acquiring jobs at the same time",
         ("double-execution", "exclusive-overlap"), "more job-executor ops (higher rate)"),
    Risk("concurrent-deploy", "any", "two engines deploying at the same moment (the deployment lock)",
         ("duplicate-definition",), "more frequent redeploys (workload option deploy_every)"),
    Risk("cross-node-resume", "multi-reader",
         "a user's request served by another node soon after their acknowledged save",
         ("stale-resume", "next-day-resume"), "routing that spreads reads; more saves followed by a resume"),
    Risk("cross-node-writes", "multi-writer", "two writes of one instance on different nodes, soon after each other",
         ("lost-save", "double-win", "divergence"), "routing that spreads writes; fewer instances"),
    Risk("cross-node-locks", "multi-writer",
         "two pessimistic-lock holders (deploy, cleanup scheduling, message correlation) on different nodes at once",
         ("duplicate-definition", "duplicate-cleanup-job", "exclusive-overlap"),
         "engines on different nodes; more frequent redeploys"),
    Risk("cross-node-ids", "multi-writer", "two id blocks taken on different nodes, soon after each other",
         ("duplicate-id",), "smaller id blocks (workload option id_block)"),
)
BY_NAME = {r.name: r for r in RISKS}
WINDOW_FLOOR_MS = 3.0
STEP_WRITES = ("start", "save", "execute")
LOCK_FS = ("deploy", "schedule-cleanup", "correlate")


def applicable(multi_reader: bool, multi_writer: bool) -> list[Risk]:
    """The risks of a topology."""
    ok = {"any": True, "multi-reader": multi_reader, "multi-writer": multi_writer}
    return [r for r in RISKS if ok[r.scope]]


def _v(t):
    return t["value"] if isinstance(t.get("value"), dict) else {}


_DB_ERROR = re.compile(r"^[0-9A-Z]{4,5}: ")  # "1062: Duplicate entry ..." / "40001: could not serialize ..."


def _reached_db(t) -> bool:
    """ok, info, or a fail that a conflict in the database caused: an optimistic-locking failure or a
    database error (not the client's 'nothing to do here')."""
    if t["type"] in ("ok", "info"):
        return True
    err = str((t.get("done") or {}).get("error") or "")
    return t["type"] == "fail" and (err.startswith("optimistic lock") or bool(_DB_ERROR.match(err)))


def _end(t):
    return t["t1"] if t["t1"] != float("inf") else t["t0"]


def _pairs(ops, within_ns, different_nodes, same=lambda a, b: True):
    """Count pairs (a before b by invoke) that overlap or whose gap b.t0 - a.end is <= within_ns; returns
    the gaps in ms (0 for overlapping pairs). `ops` sorted by t0."""
    gaps = []
    active = []  # ops whose end + within may still reach a later op
    for b in ops:
        active = [a for a in active if _end(a) + within_ns >= b["t0"]]
        for a in active:
            if different_nodes and a.get("node") == b.get("node"):
                continue
            if same(a, b):
                gaps.append(max(0.0, (b["t0"] - _end(a)) / 1e6))
        active.append(b)
    return gaps


def count(txns, window_ns: float) -> dict:
    """risk name -> {"count": n, "gap_ms": {"p50", "p90", "max"}}, for every risk (applicability is
    decided by the caller)."""
    window_ns = max(window_ns, WINDOW_FLOOR_MS * 1e6)
    by_key = defaultdict(list)
    acquires, deploys, locks, blocks, saves_by_key = [], [], [], [], defaultdict(list)
    resumes = []
    for t in sorted((t for t in txns if _reached_db(t)), key=lambda t: t["t0"]):
        v, f = _v(t), t["f"]
        if f in STEP_WRITES and v.get("key") is not None:
            by_key[v["key"]].append(t)
            if t["type"] == "ok":
                saves_by_key[v["key"]].append(t)
        if f == "acquire":
            acquires.append(t)
        if f == "deploy":
            deploys.append(t)
        if f in LOCK_FS:
            locks.append(t)
        if v.get("id_blocks"):
            blocks.append(t)
        if f == "resume" and t["type"] == "ok":
            resumes.append(t)
    gaps = {
        "concurrent-saves": [g for ops in by_key.values() for g in _pairs(ops, 0, False)],
        "concurrent-acquire": _pairs(acquires, 0, False, lambda a, b: _v(a).get("owner") != _v(b).get("owner")),
        "concurrent-deploy": _pairs(deploys, 0, False, lambda a, b: _v(a).get("engine") != _v(b).get("engine")),
        "cross-node-resume": _cross_node_resumes(resumes, saves_by_key, window_ns),
        "cross-node-writes": [g for ops in by_key.values() for g in _pairs(ops, window_ns, True)],
        "cross-node-locks": _pairs(locks, 0, True, _same_lock),
        "cross-node-ids": _pairs(blocks, window_ns, True),
    }
    return {name: {"count": len(g), "gap_ms": _spread(g)} for name, g in gaps.items()}


def _same_lock(a, b) -> bool:
    """Both wanted one lock row: the deployment lock, the cleanup lock, or one instance's subscription."""
    return a["f"] == b["f"] and (a["f"] != "correlate" or _v(a).get("key") == _v(b).get("key"))


def _cross_node_resumes(resumes, saves_by_key, window_ns) -> list[float]:
    """Each resume whose instance's latest acknowledged write (before it began) was served by another
    node and acknowledged at most window_ns earlier."""
    out = []
    for r in resumes:
        before = [w for w in saves_by_key.get(_v(r).get("key"), []) if w["t1"] <= r["t0"]]
        if not before:
            continue
        w = max(before, key=lambda w: w["t1"])
        if w.get("node") != r.get("node") and r["t0"] - w["t1"] <= window_ns:
            out.append((r["t0"] - w["t1"]) / 1e6)
    return out


def _spread(gaps: list[float]) -> dict:
    if not gaps:
        return {}
    s = sorted(gaps)
    q = lambda p: round(s[min(len(s) - 1, int(p * len(s)))], 3)
    return {"p50": q(0.5), "p90": q(0.9), "max": round(s[-1], 3)}


def rule_of_three(exposures: int) -> float | None:
    """With 0 failures in E independent exposures, the chance that one exposure fails is below 3/E
    with 95 % confidence (the rule of three); None without exposures."""
    return 3.0 / exposures if exposures > 0 else None
