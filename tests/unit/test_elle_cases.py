"""Elle's own test cases (test DATA translated from jepsen-io/elle's list_append_test.clj and
rw_register_test.clj into tests/data/elle/*.json): every case gets the verdict and anomaly types
written in its `expected`. Where that differs from Elle's answer (kept in `elle`), the case says why
in its `note` or by its anomaly names: we also name what Elle leaves implicit, e.g. a garbage-read
of a value Elle's data takes as the initial state, or the -realtime variant of a cycle."""
import json
from pathlib import Path

import pytest

from checkers.api import check
from checkers.history import HistoryError

DATA = Path(__file__).resolve().parent.parent / "data" / "elle"
CASES = [(workload, case) for workload, name in (("list-append", "list_append_cases"),
                                                  ("rw-register", "rw_register_cases"))
         for case in json.loads((DATA / f"{name}.json").read_text())]


def judge(workload, case):
    """(valid, sorted anomaly types), or ("error", []) for a history the reader refuses."""
    opts = {a.replace("-", "_"): True for a in case.get("assume") or []}
    try:
        r = check(case["history"], workload, case["model"], **opts)
    except HistoryError:
        return "error", []
    return r["valid"], sorted(r.get("anomaly_types", []))


@pytest.mark.parametrize("workload,case", CASES, ids=[f"{w}:{c['id']}" for w, c in CASES])
def test_elle_case(workload, case):
    exp = case["expected"]
    assert judge(workload, case) == (exp["valid"], sorted(exp["anomaly_types"]))


def test_the_cases_cover_both_verdicts_and_both_workloads():
    verdicts = {c["expected"]["valid"] for _, c in CASES}
    assert {True, False, "unknown", "error"} <= verdicts
    assert len([w for w, _ in CASES if w == "list-append"]) >= 60
    assert len([w for w, _ in CASES if w == "rw-register"]) >= 39
