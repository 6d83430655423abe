import json

import pytest

from harness.certify import certificate
from harness.certify.matrix import Cell, Matrix, fault_names, load_matrix, profile
from harness.certify.run import plan
from harness.certify.verdict import INCONCLUSIVE, SAFE, UNSAFE, cell_verdict, run_outcome
from harness.cli import main
from harness.errors import UsageError

VALID = {"valid": True, "anomaly_types": [], "model": "read-committed"}
INVALID = {"valid": False, "anomaly_types": ["lost-save", "G2-item"], "model": "read-committed"}
UNKNOWN = {"valid": "unknown", "anomaly_types": []}
ERROR = {"valid": "unknown", "error": "cluster did not start", "anomaly_types": []}


def test_run_outcomes():
    assert run_outcome(VALID) == SAFE
    assert run_outcome(INVALID) == UNSAFE
    assert run_outcome(UNKNOWN) == INCONCLUSIVE
    assert run_outcome(ERROR) == INCONCLUSIVE
    # a valid verdict that came with an error is not evidence of safety
    assert run_outcome({**VALID, "error": "final reads timed out"}) == INCONCLUSIVE


@pytest.mark.parametrize("runs, verdict", [
    ([VALID, VALID], SAFE),
    ([VALID, INVALID], UNSAFE),
    ([ERROR, INVALID], UNSAFE),          # one proven violation is enough
    ([VALID, ERROR], INCONCLUSIVE),      # never SAFE with a run missing
    ([VALID, UNKNOWN], INCONCLUSIVE),
    ([], INCONCLUSIVE),                  # no evidence is not safety
])
def test_cell_verdict(runs, verdict):
    assert cell_verdict(runs) == verdict


def test_findings_split_violations_from_allowed_context():
    violations, context = certificate._split_findings([INVALID, {**VALID, "anomaly_types": ["G2-item"]}])
    assert "lost-save" in violations
    assert "G2-item" in context and "G2-item" not in violations  # RC allows G2-item


def test_engine_invariants_are_violations_whatever_the_lattice_says():
    # stale-resume and double-win are not forbidden by read committed as a model, but they break
    # the engine: the certificate must list them as violations, not as allowed context
    run = {"valid": False, "anomaly_types": ["double-win", "stale-resume", "G-single"], "model": "read-committed"}
    violations, context = certificate._split_findings([run])
    assert violations == ["double-win", "stale-resume"] and context == ["G-single"]


def _matrix(tmp_path, text, suffix=".toml"):
    p = tmp_path / f"m{suffix}"
    p.write_text(text)
    return str(p)


def test_load_toml_and_yaml_agree(tmp_path):
    toml = _matrix(tmp_path, 'time_limit = 5\nruns = 2\n[[cell]]\nname = "a"\ndb = "mariadb"\n'
                             'workloads = ["save-resume"]\nnemesis = ["none", "kill"]\n')
    yml = _matrix(tmp_path, "time_limit: 5\nruns: 2\ncell:\n  - name: a\n    db: mariadb\n"
                            "    workloads: [save-resume]\n    nemesis: [none, kill]\n", ".yaml")
    a, b = load_matrix(toml), load_matrix(yml)
    assert a.cells == b.cells and a.time_limit == b.time_limit == 5 and a.runs == b.runs == 2


@pytest.mark.parametrize("text, message", [
    ('[[cell]]\nname = "a"\ndb = "oracle"\n', "unknown db 'oracle'"),
    ('[[cell]]\nname = "a"\n', "'name' and 'db' are required"),
    ('[[cell]]\nname = "a"\ndb = "galera"\nnemesis = ["earthquake"]\n', "unknown nemesis earthquake"),
    ('[[cell]]\nname = "a"\ndb = "galera"\ncolour = 3\n', "unknown field(s) colour"),
    ('x = [\n', "not valid toml"),
    ('cell = []\n', "non-empty list named 'cell'"),
])
def test_bad_matrix_is_one_clear_line(tmp_path, text, message):
    with pytest.raises(UsageError) as e:
        load_matrix(_matrix(tmp_path, text))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_bad_matrix_via_cli_exits_2(tmp_path, capsys):
    path = _matrix(tmp_path, '[[cell]]\nname = "a"\ndb = "oracle"\n')
    assert main(["certify", "--matrix", path]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("harness certify:") and path in err and len(err.splitlines()) == 1


def test_plan_groups_cells_of_one_topology_and_expands_runs():
    m = Matrix("t", [Cell("a", "galera", routing="primary", nemesis=["none", "partition"], workloads=["save-resume"]),
                     Cell("b", "mariadb-mm", nemesis=["none"], workloads=["save-resume"]),
                     Cell("c", "galera", routing="round-robin", nemesis=["none"], workloads=["save-resume"])],
               time_limit=7, runs=2)
    runs = plan(m, "store", seed=10)
    assert [c.name for c, _ in runs] == ["a"] * 4 + ["c"] * 2 + ["b"] * 2  # galera cells adjacent
    assert len({s.seed for _, s in runs}) == len(runs)  # distinct, reproducible seeds
    assert runs[2][1].nemesis == ["partition"] and runs[0][1].nemesis == []
    assert all(s.time_limit == 7 for _, s in runs)


def test_profiles_are_valid_and_cover_the_architectures():
    cam = profile("camunda-7")
    dbs = {c.db for c in cam.cells}
    assert dbs == {"mariadb", "galera", "mariadb-mm", "postgres-standby", "postgres"}
    assert any(c.routing == "sticky" for c in cam.cells)
    for name in ("camunda-7", "quick"):
        for _, spec in plan(profile(name), "store", 1):
            spec.validate()
    with pytest.raises(UsageError):
        profile("nope")


def test_certificate_answer_and_files(tmp_path):
    m = Matrix("t", [Cell("single", "mariadb", title="One node"),
                     Cell("mm", "mariadb-mm", title="Master-master", routing="round-robin"),
                     Cell("gal", "galera", title="Galera RR", routing="round-robin")], time_limit=5)
    run_dir = tmp_path / "store" / "x" / "1"
    run_dir.mkdir(parents=True)
    results = {"single": [VALID], "mm": [{**INVALID, "run_dir": str(run_dir), "test": "x"}], "gal": [ERROR]}
    cert = certificate.build(m, results, seconds=12.3)
    verdicts = {r["cell"]: r["verdict"] for r in cert["rows"]}
    assert verdicts == {"single": SAFE, "mm": UNSAFE, "gal": INCONCLUSIVE}
    assert cert["answer"].startswith("No, not on Master-master (lost-save)")
    assert "Not established on Galera RR" in cert["answer"]
    assert "One node: SAFE" in cert["answer"]
    out = certificate.write(cert, str(tmp_path / "store"))
    md = open(f"{out}/certificate.md").read()
    assert "| Master-master | **UNSAFE** | lost-save |" in md
    assert "../../x/1/index.html" in md  # link to the run's report, relative to the certificate
    assert json.load(open(f"{out}/certificate.json"))["rows"][1]["verdict"] == UNSAFE
    assert "UNSAFE" in open(f"{out}/certificate.html").read()
    assert "Master-master" in certificate.table(cert)


def test_fault_names():
    assert fault_names("none") == [] and fault_names("partition+lag") == ["partition", "lag"]
