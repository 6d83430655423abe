"""Pure parts of the cluster layer: knobs, node counts, generated configs, names, subnet allocation."""
import types

import pytest

from harness import cli
from harness.cluster import dialects, netns, state
from harness.cluster.dbs import DB_NAMES, get
from harness.cluster.dbs.postgres_standby import delay_ms
from harness.cluster_cmd import parse_knobs
from harness.errors import UsageError


def fake_cluster(db, n, knobs=None):
    dbdef = get(db)
    c = types.SimpleNamespace(name="c1", knobs=dbdef.validate_knobs(knobs or {}), cidr="10.77.9.0/24",
                              record={}, password="pw")
    c.nodes = [types.SimpleNamespace(name=f"n{i}", index=i, ip=f"10.77.9.{10 + i}", home=f"/h/n{i}",
                                     datadir=f"/h/n{i}/data", rundir=f"/h/n{i}/run") for i in range(1, n + 1)]
    return dbdef, c


def test_db_names_are_the_documented_five():
    assert DB_NAMES == ("mariadb", "galera", "mariadb-mm", "postgres", "postgres-standby")
    with pytest.raises(UsageError, match="unknown db 'mysql'"):
        get("mysql")


def test_galera_knobs_camunda_preset_and_explicit_values():
    g = get("galera")
    assert g.validate_knobs({}) == {"isolation": None, "wsrep_sync_wait": 0, "fast_failure_detection": True,
                                    "camunda": False}
    k = g.validate_knobs({"camunda": "true"})
    assert (k["isolation"], k["wsrep_sync_wait"]) == ("read-committed", 7)
    k = g.validate_knobs({"camunda": True, "wsrep_sync_wait": "3"})  # explicit beats the preset
    assert k["wsrep_sync_wait"] == 3
    with pytest.raises(UsageError, match="wsrep_sync_wait=5"):
        g.validate_knobs({"wsrep_sync_wait": 5})
    with pytest.raises(UsageError, match="unknown knob 'master_delay'"):
        g.validate_knobs({"master_delay": 1})
    with pytest.raises(UsageError, match="isolation"):
        g.validate_knobs({"isolation": "snapshot"})


def test_node_counts():
    assert get("galera").node_count(None, {}) == 3
    with pytest.raises(UsageError, match="2..9 nodes, not 1"):
        get("galera").node_count(1, {})
    with pytest.raises(UsageError, match="exactly 2 nodes"):
        get("mariadb-mm").node_count(3, {})
    with pytest.raises(UsageError, match="exactly 1 node,"):
        get("postgres").node_count(2, {})
    ps = get("postgres-standby")
    assert ps.node_count(None, ps.validate_knobs({"standbys": 3})) == 4
    with pytest.raises(UsageError, match="contradicts"):
        ps.node_count(2, ps.validate_knobs({"standbys": 3}))
    assert ps.roles(3) == ["primary", "standby", "standby"]


def test_galera_config_has_the_cluster_and_the_knobs():
    g, c = fake_cluster("galera", 3, {"camunda": True, "fast_failure_detection": False})
    text = g.config(c, c.nodes[1])
    assert "wsrep_cluster_address=gcomm://10.77.9.11,10.77.9.12,10.77.9.13" in text
    assert "wsrep_node_address=10.77.9.12" in text and "bind-address=10.77.9.12" in text
    assert "wsrep_sync_wait=7" in text and "transaction-isolation=READ-COMMITTED" in text
    assert "user=mysql" in text and "wsrep_sst_method=rsync" in text
    assert "evs.suspect_timeout" not in text
    _, c = fake_cluster("galera", 3)
    assert "evs.suspect_timeout=PT1.5S" in g.config(c, c.nodes[0])


def test_mariadb_mm_config_differs_per_node():
    mm, c = fake_cluster("mariadb-mm", 2, {"master_delay": "5"})
    assert c.knobs["master_delay"] == 5
    a, b = mm.config(c, c.nodes[0]), mm.config(c, c.nodes[1])
    assert "server_id=1" in a and "server_id=2" in b
    assert "auto_increment_offset=2" in b and "gtid_domain_id=2" in b and "log_slave_updates=ON" in a


def test_postgres_standby_settings():
    ps, c = fake_cluster("postgres-standby", 2, {"synchronous_commit": "remote_apply",
                                                 "recovery_min_apply_delay": "2s"})
    text = "\n".join(ps.settings(c))
    assert "synchronous_commit = remote_apply" in text and "recovery_min_apply_delay = 2000" in text
    assert "synchronous_standby_names" not in text  # set only once the standbys stream
    _, c = fake_cluster("postgres-standby", 2)
    assert "synchronous_commit" not in "\n".join(ps.settings(c))  # asynchronous by default
    assert "host replication all 10.77.9.0/24 scram-sha-256" in ps.hba(c)
    assert [delay_ms(v) for v in (250, "250ms", "3s", "1min")] == [250, 250, 3000, 60000]
    with pytest.raises(ValueError):
        delay_ms("soon")


def test_names_and_topology_names():
    assert state.check_name("galera-1") == "galera-1"
    for bad in ("", "Galera", "-x", "a" * 25, "a b", "a/b"):
        with pytest.raises(UsageError):
            state.check_name(bad)
    rec = {"name": "c1", "subnet": 7, "nodes": [{"name": "n1"}, {"name": "n2"}]}
    netns.fill_names(rec, 2)
    assert rec["hub_ns"] == "eh7-c1-hub" and rec["host_veth"] == "eh7h" and rec["host_ip"] == "10.77.7.1"
    assert [n["ip"] for n in rec["nodes"]] == ["10.77.7.11", "10.77.7.12"]
    assert rec["nodes"][1]["ns"] == "eh7-c1-n2"
    assert len(rec["host_veth"]) <= 15


def test_allocation_skips_recorded_and_kernel_subnets(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(state, "GLOBAL_LOCK", str(tmp_path / "lock"))
    monkeypatch.setattr(state, "_kernel_subnets_in_use", lambda: {1, 3})
    fill = lambda r: r.setdefault("filled", True)  # noqa: E731
    a = state.allocate({"name": "a", "nodes": []}, fill)
    b = state.allocate({"name": "b", "nodes": []}, fill)
    assert (a["subnet"], b["subnet"]) == (2, 4) and a["filled"]
    assert {r["name"] for r in state.all_records()} == {"a", "b"}  # saved before anything is created
    with pytest.raises(UsageError, match="already exists"):
        state.allocate({"name": "a", "nodes": []}, fill)
    state.remove("a")
    assert state.allocate({"name": "c", "nodes": []}, fill)["subnet"] == 2


def test_private_state_dir_gets_private_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    assert str(state.data_root()) != "/dev/shm/engine-harness"
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "d"))
    assert state.data_root() == tmp_path / "d"


def test_isolation_names():
    assert dialects.isolation_sql("read-committed") == "READ COMMITTED"
    assert dialects.isolation_sql("REPEATABLE_READ") == "REPEATABLE READ"
    with pytest.raises(ValueError, match="unknown isolation"):
        dialects.isolation_sql("snapshot")


def test_parse_knobs():
    assert parse_knobs(["wsrep_sync_wait=7", "fast-failure-detection = false"]) == \
        {"wsrep_sync_wait": "7", "fast_failure_detection": "false"}
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_knobs(["camunda"])


@pytest.mark.parametrize("argv, message", [
    (["cluster", "up", "--db", "oracle"], "unknown db 'oracle'"),
    (["cluster", "up", "--db", "galera", "--nodes", "1"], "needs 2..9 nodes"),
    (["cluster", "up", "--db", "mariadb-mm", "--knob", "master_delay=-1"], "master_delay"),
    (["cluster", "up", "--db", "galera", "--knob", "bogus"], "KEY=VALUE"),
    (["cluster", "up", "--db", "galera", "--backend", "netns", "--name", "UPPER"], "bad cluster name"),
])
def test_cli_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
