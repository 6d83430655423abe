"""probe(cluster, ...) -> ProbeResult and rc_equivalent(result): the probe as a library call.

    from harness.probe import probe, rc_equivalent
    result = probe(cluster, ["read-committed"])        # a running harness.cluster.Cluster
    ok, reasons = rc_equivalent(result)                # (True, []) or (False, ["for-update occurs at n1/n2", ...])
    result.to_dict()                                   # the --json object

Every cell is one test at one isolation level and one placement (same-node, or a cross-node pair
of the topology; on asynchronous topologies each pair also runs `settled`). Placements run as
parallel lanes with their own tables (except on mariadb-mm, whose replication one lane can stop).
"""
from __future__ import annotations

import concurrent.futures as cf
import time
from dataclasses import asdict, dataclass, field

from harness.errors import UsageError
from harness.isolation import LEVELS as ISOLATIONS  # re-exported by harness.probe
from harness.probe.explain import differences
from harness.probe.definitions import BY_NAME, TESTS
from harness.probe.placement import assign, placements
from harness.probe.runner import PREVENTED, combine, one_line, run_variant
from harness.probe.sql import SqlBackend

# What one READ COMMITTED server prevents (Hermitage's RC row for PostgreSQL and InnoDB, and the
# engine probes on one node): a cluster is equivalent when every placement prevents them too.
RC_REQUIRED = ("G0", "G1a", "G1b", "G1c", "OTV", "rev-cas", "for-update", "unique-insert")


@dataclass
class ProbeResult:
    db: str
    dialect: str                # mysql | postgres: which of Hermitage's tables applies
    versions: dict
    knobs: dict
    nodes: list                 # [{"name", "role"}]
    asynchronous: bool
    rows: list                  # [{"isolation", "placement", "settled", "results", "evidence"}]
    seconds: float
    block_timeout: float
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        ok, reasons = rc_equivalent(self)
        d["rc_equivalent"] = {"equivalent": ok, "reasons": reasons}
        d["differences"] = differences(d)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ProbeResult":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def check_names(isolations, tests) -> tuple[list, list]:
    isolations = list(isolations or ISOLATIONS)
    bad = [i for i in isolations if i not in ISOLATIONS]
    if bad:
        raise UsageError(f"unknown isolation {bad[0]!r} (one of {', '.join(ISOLATIONS)})")
    tests = list(tests or [t.name for t in TESTS])
    bad = [t for t in tests if t not in BY_NAME]
    if bad:
        raise UsageError(f"unknown probe test {bad[0]!r} (one of {', '.join(BY_NAME)})")
    return isolations, tests


def probe(cluster, isolations=None, tests=None, block_timeout: float = 0.3, op_timeout: float = 10.0,
          parallel: bool | None = None, echo=None, backend=SqlBackend) -> ProbeResult:
    """Run the tests at every level on every placement of a running cluster. Raises ClusterError
    (one line) when a node cannot be reached; a failing step is an `error` cell, not an exception.
    `backend(cluster, suffix=, op_timeout=)` makes one lane's backend (sql.py; memory.py in tests)."""
    isolations, tests = check_names(isolations, tests)
    start = time.monotonic()
    first = backend(cluster, op_timeout=op_timeout)
    try:
        first.reachable()
        asynchronous = first.asynchronous()
    finally:
        first.close()
    lanes = [(p, False) for p in placements(cluster)]
    lanes += [(p, True) for p, _ in list(lanes) if p.cross and asynchronous]
    if parallel is None:
        dbdef = getattr(cluster, "dbdef", None)   # none: the in-memory cluster
        parallel = not (dbdef is not None and dbdef.one_applier())  # a stopped applier would stall every lane
    roles = {n.name: n.role for n in cluster.nodes}
    notes = []

    def lane(k):
        p, settled = lanes[k]
        lane_backend = backend(cluster, suffix=str(k), op_timeout=op_timeout)
        out = {}
        try:
            lane_backend.create_schema()
            for iso in isolations:
                for name in tests:
                    test = BY_NAME[name]
                    results = [run_variant(lane_backend, test, v, assign(p, v, roles), iso, settled, block_timeout)
                               for v in test.variants]
                    out[(iso, name)] = (combine(test, results), results)
                    if echo:
                        echo(f"{iso:<17} {p.label:<10}{' settled' if settled else '':<8} {name:<14} "
                             f"{out[(iso, name)][0][0]}")
        finally:
            try:
                lane_backend.drop_schema()
            except Exception as e:  # noqa: BLE001 - reported, the cells stand
                notes.append(f"lane {p.label}: could not drop its tables: {one_line(e)}")
            notes.extend(f"lane {p.label}: {n}" for n in lane_backend.notes + lane_backend.repair())
            lane_backend.close()
        return out

    if parallel and len(lanes) > 1:
        with cf.ThreadPoolExecutor(len(lanes), thread_name_prefix="probe-lane") as pool:
            per_lane = list(pool.map(lane, range(len(lanes))))
    else:
        per_lane = [lane(k) for k in range(len(lanes))]
    rows = []
    for iso in isolations:
        for (p, settled), cells in zip(lanes, per_lane):
            row = {"isolation": iso, "placement": p.label, "settled": settled, "results": {}, "evidence": {}}
            for name in tests:
                (outcome, why), results = cells[(iso, name)]
                row["results"][name] = outcome
                row["evidence"][name] = {"why": why, "variants": {
                    v.name: r.evidence() for v, r in zip(BY_NAME[name].variants, results)}}
            rows.append(row)
    return ProbeResult(db=cluster.db, dialect=cluster.dialect, versions=cluster.versions(), knobs=dict(cluster.knobs),
                       nodes=[{"name": n.name, "role": n.role} for n in cluster.nodes],
                       asynchronous=asynchronous, rows=rows, seconds=round(time.monotonic() - start, 2),
                       block_timeout=block_timeout, notes=notes)


def rc_failures(result) -> dict | None:
    """{(test, outcome): [placement, ...]} for every RC_REQUIRED test a read-committed row did not
    prevent; None when read committed was not probed."""
    rows = [r for r in _rows(result) if r["isolation"] == "read-committed"]
    if not rows:
        return None
    failing = {}
    for r in rows:
        for test in RC_REQUIRED:
            outcome = r["results"].get(test)
            if outcome is not None and outcome not in PREVENTED:
                failing.setdefault((test, outcome), []).append(r["placement"] + (" settled" if r["settled"] else ""))
    return failing


def rc_equivalent(result) -> tuple[bool, list]:
    """Is the topology equivalent to one READ COMMITTED server through the load balancer? Every
    read-committed row (every placement, at once and settled) must prevent every RC_REQUIRED test.
    Returns (yes, reasons), reasons like "for-update occurs at n1/n2, n1/n3"."""
    failing = rc_failures(result)
    if failing is None:
        return False, ["read-committed was not probed"]
    reasons = [f"{test} {outcome} at {', '.join(wheres)}" for (test, outcome), wheres in failing.items()]
    return not reasons, reasons


def verdict_line(result) -> str:
    ok, reasons = rc_equivalent(result)
    return ("equivalent to READ COMMITTED through the load balancer: "
            + ("yes" if ok else f"no ({'; '.join(reasons)})"))


def _as_dict(result) -> dict:
    return result.to_dict() if isinstance(result, ProbeResult) else result


def _rows(result) -> list:
    return result.rows if isinstance(result, ProbeResult) else result["rows"]
