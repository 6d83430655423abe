"""The probe's table beside Hermitage's, the differences explained, the verdict line, --json and
--out, and bad input of `harness probe` (one line, exit 2, before any cluster is touched)."""
import json

import pytest

from harness.cli import main
from harness.probe import probe
from harness.probe.api import ProbeResult
from harness.probe.memory import MemoryBackend, MemoryCluster
from harness.probe.render import text, to_html, write


@pytest.fixture(scope="module")
def one_node():
    return probe(MemoryCluster(("n1",)), ["read-committed", "serializable"], backend=MemoryBackend,
                 block_timeout=0.05)


@pytest.fixture(scope="module")
def two_nodes():
    return probe(MemoryCluster(("n1", "n2")), ["read-committed"], backend=MemoryBackend, block_timeout=0.05)


def test_a_node_that_matches_hermitage_has_no_marks_and_says_yes(one_node):
    out = text(one_node)
    assert "  Hermitage PostgreSQL" in out and "  same-node" in out
    table = out.split("✓ prevented")[0]
    assert "*" not in table and "differences:" not in out
    assert out.rstrip().endswith("equivalent to READ COMMITTED through the load balancer: yes")
    assert one_node.to_dict()["differences"] == []


def test_cross_node_differences_are_marked_explained_and_grouped(two_nodes):
    out = text(two_nodes)
    cross = next(line for line in out.splitlines() if line.startswith("  n1/n2 "))
    assert cross.split()[-3:] == ["—*", "—*", "—*"]          # rev-cas, for-update, unique-insert
    sentence = next(line for line in out.splitlines() if line.startswith("  - for-update"))
    assert "at read-committed, n1/n2, n1/n2 settled:" in sentence   # one sentence for both placements
    assert "the same-node row says prevented, here it occurred" in sentence
    assert "locks the row only on the node that runs it" in sentence and "versions [1, 2, 2]" in sentence
    verdict = out.rstrip().splitlines()[-1]
    assert verdict.startswith("equivalent to READ COMMITTED through the load balancer: no (")
    assert "for-update occurs at n1/n2, n1/n2 settled" in verdict


def test_json_shape_and_html_page(two_nodes, tmp_path):
    page = write(two_nodes, tmp_path)
    d = json.loads((tmp_path / "probe.json").read_text())
    assert {"db", "versions", "rows", "rc_equivalent", "differences"} <= set(d)
    r = d["rows"][0]
    assert set(r) == {"isolation", "placement", "settled", "results", "evidence"}
    assert r["placement"] == "same-node" and r["settled"] is False and r["results"]["G0"] in (
        "prevented", "waits-then-prevented")
    assert d["rc_equivalent"]["equivalent"] is False
    assert text(ProbeResult.from_dict(d)) == text(two_nodes)   # the stored JSON renders the same table
    html = page.read_text()
    assert 'class="occurs diff"' in html and "Hermitage PostgreSQL read-committed" in html
    assert to_html(d) == html


@pytest.mark.parametrize("argv, says", [
    (["--db", "oracle"], "unknown db 'oracle'"),
    (["--db", "mariadb", "--isolation", "snapshot"], "unknown isolation 'snapshot'"),
    (["--db", "mariadb", "--tests", "G3"], "unknown probe test 'G3'"),
    (["--db", "mariadb", "--block-timeout", "0"], "--block-timeout must be"),
    (["--db", "mariadb", "--cluster", "no-such-cluster-here"], "no cluster named 'no-such-cluster-here'"),
])
def test_bad_input_is_one_line_and_exit_2(argv, says, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path))
    assert main(["probe", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
