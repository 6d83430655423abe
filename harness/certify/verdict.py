"""The verdict rules of a certificate: SAFE only on exercised evidence, one proof makes UNSAFE.

A run is SAFE (valid), UNSAFE (a proven violation) or INCONCLUSIVE (error, unknown). A cell is UNSAFE
on any UNSAFE run; SAFE only when every run was valid AND every risk of its topology
(checkers.exposure) was exercised at least `min_exposure` times in its engine runs; NOT-EXERCISED when
every run was valid but some risk was not tried often enough (it counts as INCONCLUSIVE, never SAFE);
INCONCLUSIVE otherwise.
"""
from __future__ import annotations

from checkers import exposure
from harness.routing import ONE_NODE

SAFE, UNSAFE, INCONCLUSIVE, NOT_EXERCISED = "SAFE", "UNSAFE", "INCONCLUSIVE", "NOT-EXERCISED"
MIN_EXPOSURE = 50


def run_outcome(result: dict) -> str:
    """One run: SAFE when the checker said valid, UNSAFE when it proved a violation,
    INCONCLUSIVE for anything else (an error, a timeout, 'unknown')."""
    valid = result.get("valid")
    if valid is True and not result.get("error"):
        return SAFE
    if valid is False:
        return UNSAFE
    return INCONCLUSIVE


def risks_of(routing: str, results: list[dict], workload_opts: dict | None = None) -> list:
    """The risks of the topology the runs ran on: reads or writes can reach two nodes only when the
    routing spreads requests over more than one node (of the recorded topology) that can serve them;
    id blocks only with the database id generator."""
    roles = next((r.get("topology") for r in results if r.get("topology")), None) or []
    spreads = routing not in ONE_NODE and len(roles) > 1
    writers = [n for n in roles if n.get("role") != "standby"]
    risks = exposure.applicable(multi_reader=spreads, multi_writer=spreads and len(writers) > 1)
    if (workload_opts or {}).get("idgen", "db") != "db":
        risks = [r for r in risks if r.name != "cross-node-ids"]
    return risks


def exposure_totals(results: list[dict]) -> dict[str, int]:
    """risk -> exposures summed over the runs that counted them (the engine workload's)."""
    out: dict[str, int] = {}
    for r in results:
        for name, c in ((r.get("exposure") or {}).get("risks") or {}).items():
            out[name] = out.get(name, 0) + int(c.get("count", 0))
    return out


def short_of(results: list[dict], risks: list, min_exposure: int) -> list:
    """The risks exercised fewer than min_exposure times ([] when no run counted exposure)."""
    if not any(r.get("exposure") for r in results):
        return []
    totals = exposure_totals(results)
    return [risk for risk in risks if totals.get(risk.name, 0) < min_exposure]


def cell_verdict(results: list[dict], risks: list = (), min_exposure: int = MIN_EXPOSURE) -> str:
    outcomes = [run_outcome(r) for r in results]
    if UNSAFE in outcomes:
        return UNSAFE
    if not outcomes or any(o != SAFE for o in outcomes):
        return INCONCLUSIVE
    return NOT_EXERCISED if short_of(results, list(risks), min_exposure) else SAFE


def findings(results: list[dict]) -> list[str]:
    """Every anomaly / invariant type found in any run, sorted."""
    return sorted({t for r in results if r.get("valid") is False for t in r.get("anomaly_types", [])})
