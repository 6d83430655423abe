"""The runner end to end against the in-memory atom cluster (testing/atom.py): no root, no database
server. Each run lasts under a second; the atom store is strictly serializable, so every history
must check valid."""
import json
import threading
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from checkers.history import iter_history
from harness import store
from harness.runner import run_test
from harness.spec import TestSpec
from testing.atom import AtomCluster, translate
from workloads.base import classify, is_node_unavailable


def spec(tmp_path, **kw):
    base = dict(db="postgres", workload="list-append", routing="round-robin", time_limit=0.6,
                final_time_limit=3.0, concurrency=3, rate=150, seed=7, store=str(tmp_path / "store"),
                op_timeout=2.0)
    return TestSpec(**{**base, **kw})


def run(tmp_path, nodes=3, cluster=None, **kw):
    cluster = cluster or AtomCluster(nodes=nodes)
    results = run_test(spec(tmp_path, **kw), cluster=cluster, live=False)
    history = [op for _, op in iter_history(store.history_path(results["run_dir"]))]  # validated
    return cluster, results, history


def client_ops(history):
    return [op for op in history if op.get("process") != "nemesis"]


# --- the atom store itself ---------------------------------------------------------------------

def test_translation_is_small_and_explicit():
    assert translate("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE") is None
    assert translate("START TRANSACTION") == "BEGIN"
    assert translate("SELECT v FROM lists WHERE k = %s") == "SELECT v FROM lists WHERE k = ?"
    assert translate("INSERT INTO t AS t (k, v) VALUES (%s, %s)") == "INSERT INTO t AS t (k, v) VALUES (?, ?)"


def test_connections_share_one_database_and_transactions_run_one_at_a_time():
    c = AtomCluster(nodes=2)
    a, b = c.connect(c.nodes[0], timeout=0.2), c.connect(c.nodes[1], timeout=0.2)
    a.cursor().execute("CREATE TABLE t (k BIGINT PRIMARY KEY, v TEXT NOT NULL)")
    ca = a.cursor()
    ca.execute("BEGIN")
    ca.execute("INSERT INTO t (k, v) VALUES (%s, %s)", (1, "x"))
    with pytest.raises(TimeoutError):  # b waits for a's transaction, up to its timeout
        b.cursor().execute("BEGIN")
    ca.execute("COMMIT")
    cb = b.cursor()
    cb.execute("SELECT v FROM t WHERE k = %s", (1,))  # the other node sees the commit
    assert cb.fetchone() == ("x",)
    c.teardown()


def test_closing_mid_transaction_rolls_back_and_frees_the_store():
    c = AtomCluster()
    a, b = c.connect(c.primary, timeout=0.5), c.connect(c.primary, timeout=0.5)
    a.cursor().execute("CREATE TABLE t (k BIGINT PRIMARY KEY)")
    cur = a.cursor()
    cur.execute("BEGIN")
    cur.execute("INSERT INTO t (k) VALUES (%s)", (1,))
    a.close()
    cb = b.cursor()
    cb.execute("BEGIN")  # does not wait: the lock went with a
    cb.execute("SELECT count(*) FROM t")
    assert cb.fetchall() == [(0,)]
    cb.execute("ROLLBACK")


def test_a_down_node_refuses_and_a_lost_commit_applies_but_reads_as_info():
    c = AtomCluster(nodes=2)
    n1 = c.nodes[0]
    conn = c.connect(n1)
    conn.cursor().execute("CREATE TABLE t (k BIGINT PRIMARY KEY)")
    n1.lose_commit(after=0, then_down=True)
    cur = conn.cursor()
    cur.execute("BEGIN")
    cur.execute("INSERT INTO t (k) VALUES (1)")
    with pytest.raises(ConnectionResetError) as e:
        cur.execute("COMMIT")
    assert classify(e.value)[0] == "info" and is_node_unavailable(e.value)
    assert conn.closed and n1.down and n1.lost_commits == 1
    assert c.connect(c.nodes[1]) is not None  # only n1 is down
    with pytest.raises(ConnectionRefusedError):
        c.connect(n1)
    other = c.connect(c.nodes[1]).cursor()
    other.execute("SELECT k FROM t")
    assert other.fetchall() == [(1,)]  # the commit whose answer was lost did happen
    c.reset_data()
    other.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
    assert other.fetchall() == [(0,)]


# --- the runner against it ---------------------------------------------------------------------

def test_list_append_end_to_end_valid_paired_and_recorded(tmp_path):
    cluster, results, history = run(tmp_path)
    run_dir = results["run_dir"]
    assert results["valid"] is True, results.get("anomaly_types")
    assert results["errors"] == []
    for key in ("test", "db", "workload", "topology", "isolation", "model", "routing", "seed",
                "versions", "run", "started", "command", "lag", "report"):
        assert key in results, key
    on_disk = json.loads((Path(run_dir) / store.RESULTS).read_text())
    assert on_disk["valid"] is True and on_disk["run"]["main_ops"] == results["run"]["main_ops"]
    assert (Path(run_dir) / store.TEST).is_file()
    assert [n["name"] for n in results["topology"]] == ["n1", "n2", "n3"]
    assert cluster.resets == 1  # a given cluster is reset, not torn down
    # every invoke has exactly one completion, by the same process, before its next invoke
    open_by_process = {}
    for op in client_ops(history):
        p = op["process"]
        if op["type"] == "invoke":
            assert p not in open_by_process, f"process {p} invoked twice without a completion"
            open_by_process[p] = op
        else:
            assert open_by_process.pop(p)["value"] is not None
            assert op["type"] in ("ok", "fail", "info")
    assert not open_by_process
    counts = Counter(op["type"] for op in client_ops(history))
    assert counts["ok"] > 50 and counts["info"] == 0 and counts["fail"] == 0
    assert results["run"]["counts"]["ok"] == counts["ok"]


@pytest.mark.parametrize("workload", ["rw-register", "bank", "set", "cas-register"])
def test_other_workloads_run_and_check_valid_on_the_atom(tmp_path, workload):
    """save-resume is left out: its DDL (ALTER TABLE ... ADD CONSTRAINT) is not SQLite's."""
    _, results, history = run(tmp_path, workload=workload, nodes=2, time_limit=0.4)
    assert results["valid"] is True, (workload, results.get("anomaly_types"), results.get("error"))
    assert results["errors"] == [] and results["run"]["counts"].get("info", 0) == 0
    assert sum(op["type"] == "ok" for op in history) > 10


def test_final_phase_reads_every_key_after_the_main_phase(tmp_path):
    _, results, history = run(tmp_path)
    ops = client_ops(history)
    main = [op for op in ops if not op.get("final")]
    final = [op for op in ops if op.get("final")]
    assert final, "no final reads"
    assert min(op["index"] for op in final) > max(op["index"] for op in main)
    oks = [op for op in final if op["type"] == "ok"]
    assert all(m[0] == "r" for op in oks for m in op["value"])
    # every worker performs every final read once (the store is up: each succeeds first time)
    by_process = Counter(op["process"] for op in oks)
    assert sorted(by_process) == [0, 1, 2] and len(set(by_process.values())) == 1
    # the final reads cover every key the main phase touched and show every acknowledged append
    touched = {m[1] for op in main for m in op["value"]}
    read = {m[1]: m[2] for op in oks for m in op["value"]}
    assert touched <= set(read)
    for op in main:
        if op["type"] == "ok":
            for f, k, v in op["value"]:
                if f == "append":
                    assert v in read[k], (k, v)


def test_a_final_op_marked_once_is_performed_by_one_worker(tmp_path, monkeypatch):
    from workloads.list_append import ListAppend
    every = ListAppend.final_generator
    # a first final op marked "once" (as save-resume's whole-cluster dump is), then the usual reads
    monkeypatch.setattr(ListAppend, "final_generator",
                        lambda self, rng: [{"f": "txn", "value": [["r", 0, None]], "once": True},
                                           *every(self, rng)])
    _, results, history = run(tmp_path, concurrency=4)
    final = [op for op in client_ops(history) if op.get("final")]
    assert all("once" not in op for op in final)          # the mark never reaches the history
    invokes = Counter(json.dumps(op["value"]) for op in final if op["type"] == "invoke")
    assert invokes.pop(json.dumps([["r", 0, None]])) == 1          # one worker did it
    assert invokes and set(invokes.values()) == {4}                # every worker did the rest
    assert results["valid"] is True


def test_round_robin_spreads_ops_evenly_over_the_nodes(tmp_path):
    _, _, history = run(tmp_path, routing="round-robin")
    per_node = Counter(op["node"] for op in client_ops(history) if op["type"] == "invoke")
    assert set(per_node) == {"n1", "n2", "n3"}
    assert max(per_node.values()) - min(per_node.values()) <= 1  # one pick per invoke, in turn


def test_sticky_routing_keeps_each_key_on_one_node(tmp_path):
    _, results, history = run(tmp_path, routing="sticky")
    nodes_of_key = defaultdict(set)
    for op in client_ops(history):
        if op["type"] == "invoke" and not op.get("final"):
            nodes_of_key[op["key"]].add(op["node"])
    assert len(nodes_of_key) > 3 and all(len(s) == 1 for s in nodes_of_key.values())
    assert len({n for s in nodes_of_key.values() for n in s}) > 1  # and keys land on several nodes
    mapping = results["run"]["sticky_mapping"]
    for key, (node,) in nodes_of_key.items():
        assert mapping[f"key:{key}"] == node


def test_pacer_holds_the_rate_and_rate_zero_runs_free(tmp_path):
    _, paced, _ = run(tmp_path / "a", rate=40, time_limit=1.0)
    assert 20 <= paced["run"]["main_ops"] <= 70, paced["run"]  # ~40 in one second
    _, free, _ = run(tmp_path / "b", rate=0, time_limit=0.3)
    assert free["run"]["throughput"] > 3 * paced["run"]["throughput"], (free["run"], paced["run"])


def test_info_gives_the_worker_a_fresh_process_and_its_write_may_show(tmp_path):
    cluster = AtomCluster(nodes=1)
    cluster.primary.lose_commit(after=10)  # one COMMIT answer lost; the node stays up
    _, results, history = run(tmp_path, cluster=cluster, routing="primary")
    assert results["valid"] is True, results.get("anomaly_types")
    ops = client_ops(history)
    infos = [op for op in ops if op["type"] == "info"]
    assert len(infos) == 1 and "connection lost during COMMIT" in infos[0]["error"]
    p = infos[0]["process"]
    assert not [op for op in ops if op["process"] == p and op["index"] > infos[0]["index"]]
    fresh = p + 3  # process + concurrency, as Jepsen
    assert any(op["process"] == fresh and op["index"] > infos[0]["index"] for op in ops)
    assert results["run"]["processes"] == max(3, fresh + 1)
    # the write whose answer was lost did commit: a final read shows each of its appends
    finals = {m[1]: m[2] for op in ops if op.get("final") and op["type"] == "ok" for m in op["value"]}
    for f, k, v in infos[0]["value"]:
        if f == "append":
            assert v in finals[k]


def test_failover_moves_on_when_the_first_node_dies(tmp_path):
    cluster = AtomCluster(nodes=3)
    cluster.nodes[0].lose_commit(after=20, then_down=True)
    _, results, history = run(tmp_path, cluster=cluster, routing="failover")
    assert results["valid"] is True, results.get("anomaly_types")
    ops = client_ops(history)
    died = min(op["index"] for op in ops if op["type"] == "info")
    before = Counter(op["node"] for op in ops if op["type"] == "invoke" and op["index"] < died)
    after = Counter(op["node"] for op in ops if op["type"] == "invoke" and op["index"] > died)
    assert set(before) == {"n1"}
    assert after["n1"] <= 3  # at most the picks already in flight when n1 died
    assert after["n2"] > 10 and after["n3"] == 0  # the next node takes over and keeps serving
    finals = [op for op in ops if op.get("final") and op["type"] != "invoke"]
    assert finals and all(op["node"] == "n2" and op["type"] == "ok" for op in finals)
    # ops that met the dead node end fail (connect refused) or info (lost mid-transaction)
    on_dead = [op for op in ops if op["node"] == "n1" and op["type"] not in ("invoke", "ok")]
    assert on_dead and all(op["type"] in ("fail", "info") for op in on_dead)


def test_a_store_that_loses_commits_is_judged_invalid(tmp_path):
    """The same pipeline fails a broken store: the checker sees the runner's history."""
    cluster = AtomCluster(nodes=1)
    cluster.primary.lie_every = 4
    _, results, _ = run(tmp_path, cluster=cluster, routing="primary")
    assert results["valid"] is False and results["anomaly_types"], results.get("anomaly_types")
    assert results["errors"] == []


def test_a_reused_cluster_is_reset_between_runs(tmp_path):
    cluster = AtomCluster(nodes=2)
    run(tmp_path / "a", cluster=cluster)
    _, second, _ = run(tmp_path / "b", cluster=cluster)  # CREATE TABLE again: the reset dropped it
    assert second["valid"] is True and cluster.resets == 2
    assert threading.active_count() < 20  # workers, flusher and lag monitor all ended


def test_a_lying_commit_answers_ok_but_leaves_nothing():
    c = AtomCluster()
    c.primary.lie_every = 2
    cur = c.connect(c.primary).cursor()
    cur.execute("CREATE TABLE t (k BIGINT PRIMARY KEY)")
    for k in (1, 2):
        cur.execute("BEGIN")
        cur.execute("INSERT INTO t (k) VALUES (%s)", (k,))
        cur.execute("COMMIT")  # no error either time
    cur.execute("SELECT k FROM t")
    assert cur.fetchall() == [(1,)]
