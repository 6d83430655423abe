"""The certificate's READ COMMITTED column (harness/certify/rc.py): a topology's probe, read for the
placements an architecture's routing produces, against the in-memory store of known behaviour whose
two nodes keep their own locks (so the deployment lock does not hold across them)."""
import json

import pytest

from harness.certify import certificate, rc
from harness.certify.matrix import Cell, Matrix
from harness.probe import probe
from harness.probe.api import RC_REQUIRED
from harness.probe.memory import MemoryBackend, MemoryCluster

VALID = {"valid": True, "anomaly_types": [], "model": "read-committed"}


def _probe(nodes):
    return probe(MemoryCluster(nodes), ["read-committed"], list(RC_REQUIRED), backend=MemoryBackend,
                 block_timeout=0.05).to_dict()


@pytest.fixture(scope="module")
def two_nodes():
    return _probe(("n1", "n2"))


@pytest.fixture(scope="module")
def one_node():
    return _probe(("n1",))


def test_spreading_routing_sees_the_cross_node_failures(two_nodes):
    col = rc.column(two_nodes, "round-robin")
    assert col["equivalent"] is False and col["placements"] == "all"
    assert any("for-update" in r.split(":")[0] and "occurs at n1/n2" in r for r in col["reasons"]), col
    assert col["text"].startswith("no: ") and "any two nodes" in col["text"]


@pytest.mark.parametrize("routing", ["primary", "failover"])
def test_one_node_routing_reads_only_the_same_node_row(two_nodes, routing):
    col = rc.column(two_nodes, routing)
    assert col == {"equivalent": True, "reasons": [], "placements": "same-node",
                   "text": "yes (both engines on one node)"}


def test_a_single_node_is_same_node_whatever_the_routing(one_node):
    assert rc.column(one_node, "round-robin")["equivalent"] is True
    assert rc.column(one_node, "round-robin")["placements"] == "same-node"


def test_no_probe_or_a_failed_one_is_never_a_yes():
    assert rc.column(None, "round-robin")["equivalent"] is None
    failed = rc.column({"error": "ClusterError: n2 unreachable"}, "local")
    assert failed["equivalent"] is None and failed["text"] == "not probed (ClusterError: n2 unreachable)"


def test_probe_topology_records_a_failure_instead_of_raising():
    out = rc.probe_topology(object())  # not a cluster: the probe cannot even connect
    assert set(out) == {"error", "seconds"} and out["error"]


def test_certificate_carries_the_column_the_pages_and_the_caveat(tmp_path, two_nodes):
    rr = Cell("gal-rr", "galera", title="Galera RR", routing="round-robin")
    one = Cell("gal-one", "galera", title="Galera one node", routing="primary")
    m = Matrix("t", [rr, one], time_limit=5)
    assert rr.cluster_key == one.cluster_key  # one topology, one probe
    cert = certificate.build(m, {"gal-rr": [VALID], "gal-one": [VALID]}, seconds=1.0,
                             probes={rr.cluster_key: two_nodes})
    rows = {r["cell"]: r for r in cert["rows"]}
    assert rows["gal-rr"]["rc"]["equivalent"] is False and rows["gal-one"]["rc"]["equivalent"] is True
    assert rows["gal-rr"]["probe"] == rows["gal-one"]["probe"] == "galera-1"
    # both SAFE by their runs; the one whose placements fail the probe gets the caveat, the other not
    assert "But the probe reproduced anomalies" in cert["answer"]
    caveat = cert["answer"].split("But the probe")[1].split("Where the engines")[0]
    assert "Galera RR (no: " in caveat and "for-update, unique-insert: occurs at n1/n2" in caveat
    assert "Galera one node" not in caveat
    out = certificate.write(cert, str(tmp_path / "store"))
    assert (tmp_path / "store" / "certificates" / "latest" / "galera-1" / "probe.html").is_file()
    md = open(f"{out}/certificate.md").read()
    assert "[probe](galera-1/probe.html)" in md and "Camunda's condition" in md
    assert "galera-1/probe.html" in open(f"{out}/certificate.html").read()
    assert json.load(open(f"{out}/certificate.json"))["probes"]["galera-1"]["db"] == two_nodes["db"]
    assert " NO " in certificate.table(cert) + " " and " yes " in certificate.table(cert) + " "


def test_without_probes_the_certificate_says_not_probed(tmp_path):
    cert = certificate.build(Matrix("t", [Cell("s", "mariadb")]), {"s": [VALID]}, seconds=1.0)
    assert cert["rows"][0]["rc"]["text"] == "not probed" and cert["probes"] == {}
    out = certificate.write(cert, str(tmp_path / "store"))
    assert "| not probed |" in open(f"{out}/certificate.md").read()


def test_summary_says_one_node_and_two_nodes_apart(two_nodes, one_node):
    line = rc.summary(two_nodes)
    assert line.startswith("READ COMMITTED with both engines on one node: yes; on two nodes: no: "), line
    assert rc.summary(one_node) == "READ COMMITTED: yes"
    assert rc.summary({"error": "x"}) == "not probed (x)"


def test_the_certificate_shows_the_settings_every_node_read_back(tmp_path):
    run = {**VALID, "settings": {"n1": {"innodb_flush_log_at_trx_commit": "0"}, "n2": {"error": "down"}}}
    cell = Cell("g", "galera", knobs={"server_options": ["innodb_flush_log_at_trx_commit=0"]})
    cert = certificate.build(Matrix("t", [cell]), {"g": [run]}, seconds=1.0)
    assert cert["rows"][0]["settings"] == run["settings"]
    out = certificate.write(cert, str(tmp_path / "store"))
    shown = "read back: n1 innodb_flush_log_at_trx_commit=0; n2 error=down"
    assert shown in open(f"{out}/certificate.md").read() and shown in open(f"{out}/certificate.html").read()
