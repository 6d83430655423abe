"""pytest plugin for nightly jobs: the `harness_run` fixture.

    def test_galera(harness_run):
        assert harness_run(db="galera", workload="save-resume", nemesis=["partition"]).valid

`harness_run(db, workload, nemesis=(), cluster=None, **spec_fields)` runs one test through the runner
(`harness.runner.run_test`; a given running `cluster` is reset and reused, else one is brought up and
torn down) and returns a `RunOutcome`: `.valid` (True / False / "unknown"),
`.results`, `.anomaly_types`, `.run_dir`, `.report`. Its repr is the one-line summary with the
report's path, so a failed `assert ... .valid` names what broke and where to look; every run's
summary is also attached to the test's report ("harness runs" section) and its report path to
the test's JUnit properties.

Options: `--harness-store DIR` (default ./store), `--harness-backend netns|docker`,
`--harness-time-limit SECONDS` (overrides every run's time limit, e.g. for a quick smoke job).
"""
from __future__ import annotations

import re

import pytest

from harness.errors import UsageError


def pytest_addoption(parser):
    group = parser.getgroup("harness", "engine-harness runs (the harness_run fixture)")
    group.addoption("--harness-store", default=None, metavar="DIR",
                    help="store for runs made by harness_run (default: ./store)")
    group.addoption("--harness-backend", default=None, choices=("netns", "docker"),
                    help="cluster backend for harness_run (default: the spec's, netns)")
    group.addoption("--harness-time-limit", default=None, type=float, metavar="SECONDS",
                    help="override the time limit of every harness_run")


class RunOutcome:
    """What one harness run gave: the results dict with convenient accessors."""

    def __init__(self, results: dict):
        self.results = results

    @property
    def valid(self):
        return self.results.get("valid")

    @property
    def anomaly_types(self) -> list[str]:
        return list(self.results.get("anomaly_types") or [])

    @property
    def run_dir(self):
        return self.results.get("run_dir")

    @property
    def report(self):
        return self.results.get("report")

    def __getitem__(self, key):
        return self.results[key]

    def summary(self) -> str:
        from harness.report.verdict import summary_line
        r = self.results
        return summary_line(r, db=r.get("db", "?"), workload=r.get("workload", "?"), nemesis=r.get("nemesis"),
                            report_path=self.report or self.run_dir)

    def __repr__(self):
        return f"<harness run: {self.summary()}>"


@pytest.fixture
def harness_run(request):
    """Run a harness test: `harness_run(db=..., workload=..., nemesis=[...], **TestSpec fields)`."""
    from harness.runner import run_test
    from harness.spec import TestSpec

    config = request.config
    store = config.getoption("--harness-store") or "store"
    backend = config.getoption("--harness-backend")
    time_limit = config.getoption("--harness-time-limit")
    outcomes: list[RunOutcome] = []
    request.node.stash[_RUNS] = outcomes

    def run(db: str, workload: str, nemesis=(), cluster=None, **fields) -> RunOutcome:
        fields.setdefault("store", store)
        if backend:
            fields.setdefault("backend", backend)
        if time_limit is not None:
            fields["time_limit"] = time_limit
        if "name" not in fields:
            fields["name"] = re.sub(r"[^A-Za-z0-9._+-]+", "_", f"pytest-{request.node.name}")
        try:
            spec = TestSpec(db=db, workload=workload, nemesis=list(nemesis), **fields)
            results = run_test(spec, cluster=cluster, live=False)
        except TypeError as e:  # an unknown keyword: say which, without a traceback into the runner
            pytest.fail(f"harness_run: {e}", pytrace=False)
        except UsageError as e:
            pytest.fail(f"harness_run could not run {db}/{workload}: {e}", pytrace=False)
        outcome = RunOutcome(results)
        outcomes.append(outcome)
        if outcome.report:
            request.node.user_properties.append(("harness_report", str(outcome.report)))
        return outcome

    return run


_RUNS = pytest.StashKey[list]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    runs = item.stash.get(_RUNS, None)
    if runs and report.when == "call":
        report.sections.append(("harness runs", "\n".join(r.summary() for r in runs)))
