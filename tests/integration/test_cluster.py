"""The cluster layer against real servers: every topology up, replication where it is promised,
status, teardown that leaves nothing, SIGKILL mid-up + cleanup, two clusters at once."""
import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

import harness.cluster as hc
from harness.cluster import netns, state
from tests.integration.support import sql

pytestmark = pytest.mark.integration


def uname(tag):
    return f"t{os.getpid() % 10000}-{tag}"


def assert_gone(record):
    """Nothing of the cluster remains: namespaces, veth, processes, data dir, record."""
    deadline = time.monotonic() + 5  # namespace deletion is asynchronous
    while netns.leftovers(record) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert netns.leftovers(record) == []
    assert not any(ns.startswith(f"eh{record['subnet']}-{record['name']}-") for ns in state.netns_names())
    for node in record["nodes"]:
        if node.get("pid"):
            assert not netns.pid_alive(node["pid"]) or netns.pid_ns_inode(node["pid"]) != \
                record["ns_inodes"].get(node["ns"])
    assert not os.path.exists(record["data_dir"])
    assert state.read(record["name"]) is None


@pytest.fixture
def cluster_factory():
    made = []

    def make(db, **kw):
        c = hc.up(db, name=uname(kw.pop("tag", db)), **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.teardown()


def test_mariadb_single_write_read_status_down(cluster_factory):
    c = cluster_factory("mariadb")
    assert [n.role for n in c.nodes] == ["single"] and c.dialect == "mysql"
    conn = c.connect(c.primary, isolation="serializable")
    with conn.cursor() as cur:
        cur.execute("SELECT @@tx_isolation")
        assert cur.fetchone()[0] == "SERIALIZABLE"
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        cur.execute("INSERT INTO t VALUES (1, 10)")
    conn.commit()
    assert sql(c, c.primary, "SELECT v FROM t") == ((10,),)
    assert c.versions()["server"].startswith("10.")
    st = c.status()
    assert st[0]["alive"] and st[0]["ready"] and st[0]["ip"] == c.primary.ip
    # reset_data: a fresh, empty database
    c.reset_data()
    assert sql(c, c.primary, "SHOW TABLES") == ()
    record = dict(c.record)
    c.teardown()
    assert_gone(record)


def test_postgres_single_and_timeouts_on_a_paused_server(cluster_factory):
    c = cluster_factory("postgres", knobs={"isolation": "serializable"})
    conn = c.connect(c.primary, timeout=1.5)
    assert conn.execute("SHOW default_transaction_isolation").fetchone()[0] == "serializable"
    conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn.commit()
    c.primary.pause()
    try:
        t = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1").fetchone()
        assert time.monotonic() - t < 5  # the watchdog, not a hang
        t = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            c.connect(c.primary, timeout=1.5)
        assert time.monotonic() - t < 5
    finally:
        c.primary.resume()
    assert c.connect(c.primary).execute("SELECT count(*) FROM t").fetchone()[0] == 0
    # kill -9 and restart: the orphaned backends must not block the new postmaster
    old = c.primary.pid
    c.primary.kill()
    assert not c.primary.alive()
    c.primary.start()
    assert c.primary.pid != old and c.primary.alive()
    assert c.connect(c.primary).execute("SELECT count(*) FROM t").fetchone()[0] == 0


@pytest.mark.slow
def test_galera_replicates_and_rejoins_after_kill(cluster_factory):
    c = cluster_factory("galera", knobs={"camunda": True})
    assert c.knobs["wsrep_sync_wait"] == 7 and c.knobs["isolation"] == "read-committed"
    assert [s["cluster_size"] for s in c.status()] == [3, 3, 3]
    conn = c.connect(c.nodes[0], autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        cur.execute("INSERT INTO t VALUES (1, 1)")
    for node in c.nodes[1:]:  # wsrep_sync_wait=7: a read waits for everything committed before it
        assert sql(c, node, "SELECT v FROM t") == ((1,),)
        assert sql(c, node, "SELECT @@tx_isolation") == (("READ-COMMITTED",),)
    victim = c.nodes[1]
    victim.kill()
    sql(c, c.nodes[0], "INSERT INTO t VALUES (2, 2)")  # written while the victim is down
    victim.start()
    c.wait_healthy(60)
    assert sql(c, victim, "SELECT id FROM t ORDER BY id") == ((1,), (2,))
    log = open(victim.log_path).read()
    assert "IST received" in log  # rejoined from its recovered position, not by a full SST
    c.reset_data()
    assert all(sql(c, n, "SHOW TABLES") == () for n in c.nodes)


def test_mariadb_mm_replicates_both_ways_and_reset_repairs(cluster_factory):
    c = cluster_factory("mariadb-mm", tag="mm")
    a, b = c.nodes
    assert (a.role, b.role) == ("master", "master")
    sql(c, a, "CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    sql(c, a, "INSERT INTO t VALUES (1, 1)")
    sql(c, b, "INSERT INTO t VALUES (2, 2)")

    def both_have(rows):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(sql(c, n, "SELECT id FROM t ORDER BY id") == rows for n in (a, b)):
                return True
            time.sleep(0.1)
        return False
    assert both_have(((1,), (2,)))
    # a duplicate key written on one side only stops the peer's SQL thread ...
    conn = c.connect(a, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SET sql_log_bin=0")
        cur.execute("INSERT INTO t VALUES (3, 3)")
    sql(c, b, "INSERT INTO t VALUES (3, 4)")
    deadline = time.monotonic() + 10
    while c.status()[0]["sql_running"] != "No" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert c.status()[0]["sql_running"] == "No" and "Duplicate" in c.status()[0]["last_error"]
    # ... and reset_data brings back an empty database with replication running both ways
    c.reset_data()
    assert [(s["io_running"], s["sql_running"]) for s in c.status()] == [("Yes", "Yes")] * 2
    sql(c, b, "CREATE TABLE u (id INT PRIMARY KEY)")
    deadline = time.monotonic() + 10
    while sql(c, a, "SHOW TABLES") != (("u",),) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sql(c, a, "SHOW TABLES") == (("u",),)


def test_postgres_standby_remote_apply_reads_own_writes_on_every_standby(cluster_factory):
    c = cluster_factory("postgres-standby", tag="pgsync",
                        knobs={"standbys": 2, "synchronous_commit": "remote_apply"})
    assert [n.role for n in c.nodes] == ["primary", "standby", "standby"]
    primary = c.connect(c.primary, autocommit=True)
    primary.execute("CREATE TABLE t (id int PRIMARY KEY)")
    readers = [c.connect(n, autocommit=True) for n in c.nodes[1:]]
    for i in range(20):
        primary.execute("INSERT INTO t VALUES (%s)", (i,))
        for r in readers:
            assert r.execute("SELECT count(*) FROM t WHERE id = %s", (i,)).fetchone()[0] == 1
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        readers[0].execute("INSERT INTO t VALUES (1000)")
    st = c.status()
    assert st[0]["streaming_standbys"] == 2 and all(s["in_recovery"] for s in st[1:])
    c.reset_data()
    for r in (c.connect(n) for n in c.nodes):
        assert r.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0


def test_postgres_standby_behind_an_apply_delay_has_its_database_when_up_returns(cluster_factory):
    # The runner connects to every node right after up. A standby applies CREATE ROLE / DATABASE only
    # recovery_min_apply_delay after the primary ran them (CI once failed on this with 100 ms: "database
    # harness does not exist" on n2); 3 s makes the race certain, so up() must wait for the replay.
    c = cluster_factory("postgres-standby", tag="pgdelay", knobs={"recovery_min_apply_delay": 3000})
    for node in c.nodes:
        conn = c.connect(node, autocommit=True, timeout=5)
        try:
            assert conn.execute("SELECT current_database()").fetchone()[0] == c.database
        finally:
            conn.close()


def test_postgres_standby_async_by_default_and_standby_restart(cluster_factory):
    c = cluster_factory("postgres-standby", tag="pgasync", knobs={"recovery_min_apply_delay": "300ms"})
    primary = c.connect(c.primary, autocommit=True)
    primary.execute("CREATE TABLE t (id int PRIMARY KEY)")
    primary.execute("INSERT INTO t VALUES (1)")
    standby = c.connect(c.nodes[1], autocommit=True, timeout=2)
    # with a 300 ms apply delay a read right after the commit sees the old state ...
    seen = [r[0] for r in standby.execute("SELECT count(*) FROM pg_tables WHERE tablename = 't'")]
    assert seen == [0]
    # ... and replication delivers it soon after
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if standby.execute("SELECT count(*) FROM t").fetchone()[0] == 1:
                break
        except psycopg.errors.UndefinedTable:
            pass
        time.sleep(0.1)
    assert standby.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    c.nodes[1].kill()
    c.nodes[1].start()
    c.wait_healthy(30)


PROBE = """
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("open")
except ConnectionRefusedError:
    print("refused")
except OSError:
    print("unreachable")
"""


def tcp_probe(node, ip, port):
    return node.run([sys.executable, "-c", PROBE, ip, str(port)]).stdout.strip()


def test_two_clusters_at_once_do_not_collide(cluster_factory):
    a = cluster_factory("mariadb", tag="two-a")
    b = cluster_factory("mariadb", tag="two-b")
    assert a.record["subnet"] != b.record["subnet"] and a.primary.ip != b.primary.ip
    sql(a, a.primary, "CREATE TABLE only_a (id INT)")
    assert sql(b, b.primary, "SHOW TABLES") == ()
    # a node reaches the host (refused = reachable, nothing listens there), never the other cluster
    assert tcp_probe(a.primary, a.record["host_ip"], 9) == "refused"
    assert tcp_probe(a.primary, a.primary.ip, 3306) == "open"
    assert tcp_probe(a.primary, b.primary.ip, 3306) == "unreachable"
    record = dict(a.record)
    a.teardown()
    assert_gone(record)
    assert sql(b, b.primary, "SELECT 1") == ((1,),)


def test_bad_input_leaves_nothing():
    cases = (["--db", "nope"], ["--db", "galera", "--nodes", "1"], ["--db", "postgres-standby", "--nodes", "1"],
             ["--db", "galera", "--knob", "wsrep_sync_wait=5"])
    names = [uname(f"bad{i}") for i in range(len(cases))]
    for args, name in zip(cases, names):
        cp = subprocess.run([sys.executable, "-m", "harness", "cluster", "up", *args, "--name", name],
                            capture_output=True, text=True, timeout=60)
        assert cp.returncode == 2, cp.stderr
        assert len(cp.stderr.strip().splitlines()) == 1 and "Traceback" not in cp.stderr
    for name in names:
        assert not any(f"-{name}-" in ns for ns in state.netns_names())
        assert state.read(name) is None
        assert not (state.data_root() / name).exists()


def harness_cli(args, env, timeout=120):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_cli_up_status_down_and_sigkill_mid_up_then_cleanup(tmp_path):
    # a private state dir: `harness cleanup` must not touch other people's clusters
    env = {**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state")}
    name = uname("cli")
    cp = harness_cli(["cluster", "up", "--db", "postgres", "--name", name, "--json"], env)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["name"] == name
    cp = harness_cli(["cluster", "status", "--json"], env)
    status = json.loads(cp.stdout)
    assert [s["name"] for s in status] == [name] and status[0]["nodes"][0]["alive"]
    record = json.loads((tmp_path / "state" / "clusters" / f"{name}.json").read_text())
    cp = harness_cli(["cluster", "down", "--name", name], env)
    assert cp.returncode == 0, cp.stderr
    assert_gone_env(record, env)

    # SIGKILL the harness while `up` is half done (the first server already runs)
    name = uname("kill")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "cluster", "up", "--db", "galera", "--name", name],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rec_path = tmp_path / "state" / "clusters" / f"{name}.json"
    deadline = time.monotonic() + 60
    record = None
    while time.monotonic() < deadline:
        try:
            record = json.loads(rec_path.read_text())
            if any(n.get("pid") for n in record["nodes"]):
                break
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert record and any(n.get("pid") for n in record["nodes"]), "up never started a server"
    record = json.loads(rec_path.read_text())
    assert netns.leftovers(record)  # it really left things behind
    cp = harness_cli(["cleanup", "--no-docker"], env)
    assert cp.returncode == 0, cp.stderr
    assert name in cp.stdout
    assert_gone_env(record, env)


def assert_gone_env(record, env):
    old = os.environ.get("HARNESS_STATE_DIR")
    os.environ["HARNESS_STATE_DIR"] = env["HARNESS_STATE_DIR"]
    try:
        assert_gone(record)
    finally:
        if old is None:
            del os.environ["HARNESS_STATE_DIR"]
        else:
            os.environ["HARNESS_STATE_DIR"] = old
