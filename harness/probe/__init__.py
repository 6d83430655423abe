"""The Hermitage fingerprint of a cluster: two-session isolation tests, same-node and cross-node.

    from harness.probe import probe, rc_equivalent, verdict_line
    result = probe(cluster, isolations=["read-committed"])   # ProbeResult; .to_dict() is --json
    ok, reasons = rc_equivalent(result)

Definitions: harness/probe/definitions.py (data); runner: runner.py; SQL: sql.py; placement:
placement.py; published table: hermitage.py; output: render.py.
"""
from harness.probe.api import (ISOLATIONS, RC_REQUIRED, ProbeResult, differences, probe, rc_equivalent,
                               verdict_line)
from harness.probe.definitions import TESTS

__all__ = ["probe", "rc_equivalent", "verdict_line", "differences", "ProbeResult", "ISOLATIONS", "RC_REQUIRED",
           "TESTS"]
