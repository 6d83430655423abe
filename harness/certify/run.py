"""Run a certification matrix: every cell's runs, one cluster per topology, then the certificate.

Cells that share a topology (db, nodes, backend, knobs) share one running cluster: it is brought
up once, each run starts on fresh data (the runner calls `cluster.reset_data()`), and it is torn
down before the next topology so that only one cluster uses the machine at a time. A run that
errors is recorded as INCONCLUSIVE evidence, never dropped; if the cluster is no longer whole
after it, the cluster is rebuilt for the next run. Before a topology's first run the probe
(harness.certify.rc) asks it, in seconds, whether it behaves like READ COMMITTED across its nodes.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from itertools import groupby

from checkers.api import unknown_result
from harness.certify import certificate, rc
from harness.certify.matrix import Cell, Matrix, fault_names
from harness.certify.verdict import INCONCLUSIVE, UNSAFE, cell_verdict, risks_of, run_outcome
from harness.errors import UsageError
from harness.runner import run_test
from harness.spec import TestSpec

log = logging.getLogger("harness.certify")


def plan(matrix: Matrix, store: str, seed: int) -> list[tuple[Cell, TestSpec]]:
    """Every run of the matrix, grouped so that cells of one topology are adjacent."""
    order = {}
    for cell in matrix.cells:
        order.setdefault(cell.cluster_key, len(order))
    cells = sorted(matrix.cells, key=lambda c: order[c.cluster_key])  # stable: keeps cell order
    runs = []
    for cell in cells:
        for workload in cell.workloads:
            for fault_set in cell.nemesis:
                for r in range(matrix.runs):
                    spec = TestSpec(
                        db=cell.db, workload=workload, nodes=cell.nodes, backend=cell.backend,
                        isolation=cell.isolation, routing=cell.routing,
                        nemesis=fault_names(fault_set), time_limit=matrix.time_limit,
                        nemesis_interval=max(3.0, matrix.time_limit / 3), store=store,
                        knobs=dict(cell.knobs), workload_opts=dict(cell.workload_opts),
                        seed=seed + len(runs), name=f"certify-{cell.name}-{workload}-{fault_set}",
                        network=cell.network)
                    runs.append((cell, spec))
    return runs


def certify(matrix: Matrix, store: str = "store", seed: int = 1, echo=print) -> tuple[dict, str]:
    """Run the matrix; returns (certificate dict, certificate directory). With a budget, a cell that
    is neither UNSAFE nor out of time is run again with fresh seeds."""
    if not isinstance(matrix.runs, int) or isinstance(matrix.runs, bool) or not 1 <= matrix.runs <= 100:
        raise UsageError(f"runs per cell must be an integer from 1 to 100, not {matrix.runs!r}")
    if not isinstance(matrix.time_limit, (int, float)) or not 0 < matrix.time_limit <= 86400:
        raise UsageError(f"time limit must be a number of seconds > 0, not {matrix.time_limit!r}")
    if not isinstance(matrix.min_exposure, int) or isinstance(matrix.min_exposure, bool) \
            or not 0 <= matrix.min_exposure <= 10 ** 9:
        raise UsageError(f"min exposure must be an integer >= 0, not {matrix.min_exposure!r}")
    if not isinstance(matrix.budget, (int, float)) or isinstance(matrix.budget, bool) \
            or not 0 <= matrix.budget <= 7 * 86400:
        raise UsageError(f"budget must be a number of seconds >= 0, not {matrix.budget!r}")
    if not isinstance(matrix.probe, bool):
        raise UsageError(f"probe must be true or false, not {matrix.probe!r}")
    runs = plan(matrix, store, seed)
    for _, spec in runs:
        spec.validate()  # every bad cell is reported before any cluster is built
    started = time.monotonic()
    results: dict[str, list[dict]] = {c.name: [] for c in matrix.cells}
    counter = {"done": 0, "seed": seed + len(runs)}
    probes: dict[str, dict] = {}
    for key, group in groupby(runs, key=lambda cs: cs[0].cluster_key):
        holder = {"cluster": None}
        try:
            group = list(group)
            if matrix.probe:
                probes[key] = _probe(group[0][0], holder, echo)
            for cell, specs in groupby(group, key=lambda cs: cs[0].name):
                specs = [spec for _, spec in specs]
                cell = next(c for c in matrix.cells if c.name == cell)
                t_cell = time.monotonic()
                for spec in specs:
                    _run_and_record(cell, spec, holder, results, counter, len(runs), echo)
                while (matrix.budget and time.monotonic() - t_cell < matrix.budget
                       and cell_verdict(results[cell.name], risks_of(cell.routing, results[cell.name],
                                                                     cell.workload_opts),
                                        matrix.min_exposure) not in (UNSAFE, INCONCLUSIVE)):
                    for spec in specs:  # again, with a fresh seed
                        counter["seed"] += 1
                        again = dataclasses.replace(spec, seed=counter["seed"], nemesis=list(spec.nemesis),
                                                    knobs=dict(spec.knobs), workload_opts=dict(spec.workload_opts))
                        _run_and_record(cell, again, holder, results, counter, len(runs), echo)
        finally:
            if holder["cluster"] is not None:
                _teardown(holder["cluster"])
    cert = certificate.build(matrix, results, seconds=time.monotonic() - started, probes=probes)
    out = certificate.write(cert, store)
    return cert, out


def _run_and_record(cell, spec, holder, results, counter, planned, echo) -> None:
    """One run on the cell's (shared) cluster, brought up when needed and rebuilt after a run that
    left it broken."""
    counter["done"] += 1
    tag = f"[{counter['done']}/{max(planned, counter['done'])}] {spec.test_name}"
    error = _ensure_cluster(cell, holder)
    if error:
        results[cell.name].append(_error_result(spec, error))
        echo(f"{tag}: INCONCLUSIVE ({error})")
        return
    result = _one_run(spec, holder["cluster"])
    results[cell.name].append(result)
    echo(f"{tag}: {_describe(result)}")
    if result.get("error") and not _healthy(holder["cluster"]):
        _teardown(holder["cluster"])
        holder["cluster"] = None


def _probe(cell, holder, echo) -> dict:
    """The topology's READ COMMITTED probe, on the cluster its runs will use (brought up here)."""
    error = _ensure_cluster(cell, holder)
    if error:
        return {"error": error}
    result = rc.probe_topology(holder["cluster"])
    knobs = ", ".join(f"{k}={v}" for k, v in sorted(cell.knobs.items())) or "defaults"
    echo(f"probe {cell.db} ({knobs}), {result.get('seconds', 0):g} s: {rc.summary(result)}")
    return result


def _ensure_cluster(cell: Cell, holder: dict) -> str | None:
    """The topology's shared cluster, brought up unless running; the error line if it cannot start."""
    if holder["cluster"] is None:
        holder["cluster"], error = _bring_up(cell)
        return error
    return None


def _bring_up(cell: Cell):
    from harness.cluster import up
    kw = {"nodes": cell.nodes} if cell.nodes is not None else {}
    try:
        return up(db=cell.db, backend=cell.backend, knobs=dict(cell.knobs), **kw), None
    except Exception as e:  # recorded as evidence of nothing: the cell cannot be SAFE
        log.error("cluster %s could not start: %s", cell.db, e)
        return None, f"cluster did not start: {_one_line(e)}"


def _one_run(spec: TestSpec, cluster) -> dict:
    try:
        return run_test(spec, cluster=cluster, live=False)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        log.error("run %s failed: %s", spec.test_name, e)
        return _error_result(spec, _one_line(e))


def _error_result(spec: TestSpec, error: str) -> dict:
    return unknown_result(error, test=spec.test_name, db=spec.db, workload=spec.workload,
                          nemesis=list(spec.nemesis))


def _healthy(cluster) -> bool:
    try:
        cluster.wait_healthy(60)
        return True
    except Exception:
        return False


def _teardown(cluster) -> None:
    try:
        cluster.teardown()
    except Exception as e:
        log.error("teardown of %s failed: %s", getattr(cluster, "name", "?"), e)


def _describe(result: dict) -> str:
    outcome = run_outcome(result)
    if outcome == "UNSAFE":
        return f"UNSAFE ({', '.join(result.get('anomaly_types', []))})"
    if outcome == "INCONCLUSIVE":
        return f"INCONCLUSIVE ({result.get('error') or 'unknown verdict'})"
    return "SAFE"


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
