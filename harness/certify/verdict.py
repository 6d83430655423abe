"""The verdict rules of a certificate: SAFE only on evidence, one proof makes UNSAFE."""
from __future__ import annotations

SAFE, UNSAFE, INCONCLUSIVE = "SAFE", "UNSAFE", "INCONCLUSIVE"


def run_outcome(result: dict) -> str:
    """One run: SAFE when the checker said valid, UNSAFE when it proved a violation,
    INCONCLUSIVE for anything else (an error, a timeout, 'unknown')."""
    valid = result.get("valid")
    if valid is True and not result.get("error"):
        return SAFE
    if valid is False:
        return UNSAFE
    return INCONCLUSIVE


def cell_verdict(results: list[dict]) -> str:
    """A cell: UNSAFE if any run proved a violation; SAFE only if it has runs and every one was
    valid; otherwise INCONCLUSIVE (never SAFE on missing or unusable evidence)."""
    outcomes = [run_outcome(r) for r in results]
    if UNSAFE in outcomes:
        return UNSAFE
    if outcomes and all(o == SAFE for o in outcomes):
        return SAFE
    return INCONCLUSIVE


def findings(results: list[dict]) -> list[str]:
    """Every anomaly / invariant type found in any run, sorted."""
    return sorted({t for r in results if r.get("valid") is False for t in r.get("anomaly_types", [])})
