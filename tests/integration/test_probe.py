"""`harness probe` on real servers: single-node PostgreSQL and MariaDB reproduce Hermitage's
published table; on Galera (Camunda's settings) the deployment lock holds on one node and fails
across nodes; a node that cannot be reached ends the probe with one line and exit 2."""
import json

import pytest

from harness import cluster as cl
from harness.cli import main
from harness.probe import hermitage, probe
from harness.probe.definitions import ENGINE_TESTS, HERMITAGE_TESTS
from harness.probe.runner import PREVENTED

pytestmark = pytest.mark.integration


@pytest.fixture
def server(request):
    c = cl.up(**request.param)
    yield c
    c.teardown()


def symbols(result, isolation):
    r = next(r for r in result.rows if r["isolation"] == isolation and r["placement"] == "same-node")
    return {t: hermitage.SYMBOL[r["results"][t]] for t in HERMITAGE_TESTS}, r


@pytest.mark.parametrize("server, dialect, levels", [
    ({"db": "postgres"}, "postgres", ["read-committed", "repeatable-read", "serializable"]),
    ({"db": "mariadb"}, "mysql", ["read-uncommitted", "read-committed", "repeatable-read", "serializable"]),
], indirect=["server"], ids=["postgres", "mariadb"])
def test_single_node_reproduces_hermitages_table(server, dialect, levels):
    result = probe(server, levels)
    for iso in levels:
        seen, row = symbols(result, iso)
        assert seen == hermitage.PUBLISHED[(dialect, iso)], (iso, {t: row["evidence"][t]["why"] for t in seen})
    rc = symbols(result, "read-committed")[1]
    assert all(rc["results"][t] in PREVENTED for t in ENGINE_TESTS), rc["results"]
    assert result.to_dict()["rc_equivalent"] == {"equivalent": True, "reasons": []}


@pytest.mark.parametrize("server", [{"db": "postgres"}], indirect=True)
def test_cli_json_on_a_running_cluster(server, capsys):
    assert main(["probe", "--db", "postgres", "--cluster", server.name, "--isolation", "read-committed",
                 "--tests", "G1a,for-update", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["db"] == "postgres" and d["versions"]["server"].startswith("1")
    assert [(r["placement"], r["results"]) for r in d["rows"]] == [
        ("same-node", {"G1a": "prevented", "for-update": "waits-then-prevented"})]


@pytest.fixture(scope="module")
def galera():
    c = cl.up(db="galera", knobs={"camunda": True})
    yield c
    c.teardown()


def test_galera_deployment_lock_waits_on_one_node_and_fails_across_nodes(galera):
    result = probe(galera, ["read-committed"], ["for-update"])
    by_place = {r["placement"]: r for r in result.rows}
    assert set(by_place) == {"same-node", "n1/n2", "n1/n3", "n2/n3"}   # wsrep_sync_wait=7: no settled lanes
    same = by_place.pop("same-node")
    assert same["results"]["for-update"] == "waits-then-prevented", same["evidence"]["for-update"]["why"]
    for place, r in by_place.items():
        assert r["results"]["for-update"] == "occurs", (place, r["evidence"]["for-update"]["why"])
        final = r["evidence"]["for-update"]["variants"]["deployment-lock"]["final"]
        assert all(sorted(v for _, _, v in rows) == [1, 2, 2] for rows in final.values()), final
    ok, reasons = result.to_dict()["rc_equivalent"].values()
    assert not ok and reasons == ["for-update occurs at n1/n2, n1/n3, n2/n3"]


def test_unreachable_node_is_one_line_and_exit_2(galera, capsys):
    node = galera.nodes[2]
    node.stop()
    try:
        assert main(["probe", "--db", "galera", "--cluster", galera.name, "--isolation", "read-committed"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"cannot connect to {node.name}" in err, err
    finally:
        node.start()
