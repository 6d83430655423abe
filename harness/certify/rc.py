"""The certificate's READ COMMITTED column: Camunda supports a replicated database only if it
"guarantees the equivalent behavior of READ-COMMITTED isolation level". The probe (harness.probe)
answers that directly, once per topology (its knobs included) at read committed; each architecture
then reads the answer for the session placements its routing can produce: both engines on one node
(routing primary / failover, or a single node) only meet each other on that node, any spreading
routing also meets them across every pair the topology offers.

The column is evidence beside the runs' verdict, not a replacement: a probe cell that `occurs` is a
reproduced anomaly, and the certificate says so next to a SAFE instead of staying silent.
"""
from __future__ import annotations

import time

from harness.routing import ONE_NODE

ISOLATION = "read-committed"


def probe_topology(cluster) -> dict:
    """The probe's JSON dict for this running cluster at read committed (the tests that decide
    equivalence), or {"error": one line} when it could not run; never raises but on Ctrl-C."""
    from harness.probe.api import RC_REQUIRED, probe
    from harness.probe.runner import one_line
    started = time.monotonic()
    try:
        return probe(cluster, [ISOLATION], list(RC_REQUIRED)).to_dict()
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - recorded in the column: "not probed (why)"
        return {"error": one_line(e), "seconds": round(time.monotonic() - started, 2)}


def placements_for(routing: str, single_node: bool) -> str:
    return "same-node" if single_node or routing in ONE_NODE else "all"


def column(probe: dict | None, routing: str) -> dict:
    """{"equivalent": True | False | None, "reasons": [...], "placements": "same-node" | "all",
    "text": the certificate's cell} for one architecture."""
    from harness.probe.api import rc_failures
    if not probe:
        return {"equivalent": None, "reasons": [], "placements": None, "text": "not probed"}
    if probe.get("error"):
        return {"equivalent": None, "reasons": [probe["error"]], "placements": None,
                "text": f"not probed ({probe['error']})"}
    single = len(probe.get("nodes") or []) <= 1
    which = placements_for(routing, single)
    rows = [r for r in probe.get("rows") or [] if which == "all" or r.get("placement") == "same-node"]
    failing = rc_failures({"rows": rows})
    if failing is None:
        return {"equivalent": None, "reasons": ["read-committed was not probed"], "placements": which,
                "text": "not probed (read-committed was not probed)"}
    # tests that failed the same way at the same placements share one clause
    by_where: dict[tuple, list] = {}
    for (test, outcome), wheres in failing.items():
        by_where.setdefault((outcome, ", ".join(wheres)), []).append(test)
    reasons = [f"{', '.join(tests)}: {outcome} at {where}" for (outcome, where), tests in by_where.items()]
    scope = "both engines on one node" if which == "same-node" else "the engines on any two nodes"
    return {"equivalent": not reasons, "reasons": reasons, "placements": which,
            "text": ("yes" if not reasons else "no: " + "; ".join(reasons)) + f" ({scope})"}


def summary(probe: dict) -> str:
    """One line for the terminal: the topology's answer for one-node and for spreading routings."""
    if probe.get("error"):
        return f"not probed ({probe['error']})"
    same = column(probe, "primary")
    if len(probe.get("nodes") or []) < 2:
        return f"READ COMMITTED: {'yes' if same['equivalent'] else 'no: ' + '; '.join(same['reasons'])}"
    spread = column(probe, "round-robin")
    return (f"READ COMMITTED with both engines on one node: {'yes' if same['equivalent'] else 'no'}; "
            f"on two nodes: {'yes' if spread['equivalent'] else 'no: ' + '; '.join(spread['reasons'])}")
