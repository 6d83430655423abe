"""The SQL families (harness/cluster/dialects) and the databases' optional capabilities as the
replication-lag faults use them: isolation statements, BEGIN / table options, what an error means,
SHOW SLAVE STATUS read two ways, and faults that ask a definition instead of checking names."""
import random
import types

import psycopg
import pymysql
import pytest

import nemesis
from harness.cluster import dialects
from harness.cluster.dbs import get
from harness.cluster.dbs.base import DbDef
from harness.cluster.dbs.galera import Galera
from harness.cluster.dbs.mariadb import MariaDB
from harness.cluster.dialects import mysql, postgres
from harness.spec import ISOLATIONS
from nemesis import replication_lag
from workloads.base import begin_sql, classify, is_definite_abort, table_options


@pytest.mark.parametrize("level", ISOLATIONS)
def test_every_spec_level_has_a_session_statement_in_both_families(level):
    words = level.replace("-", " ").upper()
    assert mysql.session_isolation(level) == (f"SET SESSION TRANSACTION ISOLATION LEVEL {words}", None)
    assert postgres.session_isolation(level)[0] == \
        f"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL {words}"
    assert postgres.driver_level(level).name == words.replace(" ", "_")


def test_a_hot_standby_reads_at_repeatable_read_when_serializable_is_asked():
    sql, note = postgres.session_isolation("serializable", standby=True)
    assert sql.endswith("REPEATABLE READ") and "no SERIALIZABLE on standbys" in note
    assert postgres.session_isolation("read-committed", standby=True)[1] is None
    assert mysql.session_isolation("serializable", standby=True)[0].endswith("SERIALIZABLE")


def test_begin_and_table_options_come_from_the_dialect():
    assert (begin_sql("mysql"), begin_sql("postgres")) == ("START TRANSACTION", "BEGIN")
    assert (table_options("mysql"), table_options("postgres")) == (" ENGINE=InnoDB", "")
    with pytest.raises(ValueError, match="unknown SQL dialect 'oracle'"):
        dialects.get("oracle")


def test_error_kinds_of_both_families():
    kinds = {pymysql.err.OperationalError(1213, "Deadlock"): "conflict",
             pymysql.err.IntegrityError(1062, "Duplicate"): "conflict",
             pymysql.err.OperationalError(1317, "interrupted"): "cancelled",
             pymysql.err.ProgrammingError(1146, "no such table"): "error",
             psycopg.errors.SerializationFailure("x"): "conflict",
             psycopg.errors.LockNotAvailable("x"): "conflict",
             psycopg.errors.QueryCanceled("x"): "cancelled",
             psycopg.errors.UndefinedTable("x"): "error",
             ValueError("not a database's"): "error"}
    assert {e: dialects.error_kind(e) for e in kinds} == kinds


def test_connection_errors_and_definite_aborts():
    assert dialects.is_connection_error(pymysql.err.OperationalError(2013, "Lost connection"))
    assert not dialects.is_connection_error(pymysql.err.OperationalError(1213, "Deadlock"))
    assert dialects.is_connection_error(psycopg.OperationalError("server closed the connection"))
    assert not dialects.is_connection_error(psycopg.errors.QueryCanceled("statement timeout"))
    assert dialects.is_connection_error(psycopg.errors.AdminShutdown("terminating"))
    assert classify(pymysql.err.OperationalError(2006, "gone away"))[0] == "info"
    assert is_definite_abort(psycopg.errors.DeadlockDetected("x"))
    assert not is_definite_abort(psycopg.errors.UniqueViolation("x"))


BATCH = ("Slave_IO_State\tSlave_IO_Running\tSlave_SQL_Running\tLast_SQL_Errno\tLast_SQL_Error\t"
         "Last_IO_Error\tSQL_Delay\tSeconds_Behind_Master\tGtid_IO_Pos\n"
         "Waiting for master\tYes\tNo\t0\t\t\t7\tNULL\t\n")


class FakeConn:
    """A DB-API connection answering SHOW SLAVE STATUS with one row, as PyMySQL types it."""

    def __init__(self, row):
        self.row, self.statements = row, []

    def cursor(self):
        conn = self

        class Cursor:
            description = [(k,) for k in conn.row]

            def execute(self, sql, params=()):
                conn.statements.append(sql)

            def fetchone(self):
                return tuple(conn.row.values())

            def __enter__(self):
                return self

            def __exit__(self, *a):
                return False
        return Cursor()


def test_replica_status_reads_the_same_from_the_client_and_the_driver():
    text = mysql.parse_replica_status(BATCH)
    conn = FakeConn({"Slave_IO_Running": "Yes", "Slave_SQL_Running": "No", "Last_SQL_Errno": 0,
                     "Last_SQL_Error": "", "Last_IO_Error": "", "SQL_Delay": 7})
    db_api = mysql.replica_status(conn)
    assert conn.statements == ["SHOW SLAVE STATUS"]
    for st in (text, db_api):
        assert (st.io_running, st.sql_running, st.sql_errno, st.delay_s) == ("Yes", "No", 0, 7)
        assert st.apply_stopped and not st.broken and not st.running and st.error is None
    assert text.get("Seconds_Behind_Master") == "NULL" and text.get("Gtid_IO_Pos") is None
    broken = mysql.ReplicaStatus({"Slave_SQL_Running": "No", "Last_SQL_Errno": "1062", "Last_SQL_Error": "dup"})
    assert broken.broken and not broken.apply_stopped and broken.error == "dup"
    assert mysql.parse_replica_status("").fields == {}  # replicates from nobody


def test_galera_builds_on_mariadbs_server_command():
    assert Galera.server_command is MariaDB.server_command


def node(name, role, alive=True):
    return types.SimpleNamespace(name=name, role=role, alive=lambda: alive)


def test_replicas_are_what_the_definitions_say():
    c = types.SimpleNamespace(nodes=[node("n1", "primary"), node("n2", "standby"), node("n3", "standby")],
                              knobs={})
    assert [n.name for n in get("postgres-standby").replicas(c)] == ["n2", "n3"]
    assert [n.name for n in get("mariadb-mm").replicas(c)] == ["n1", "n2", "n3"]
    assert get("galera").replicas(c) == [] and get("postgres").replicas(c) == []


class Replicated(DbDef):
    """A definition with the lag capabilities, recording what the faults asked of it."""
    name = "replicated"

    def __init__(self, leftover=()):
        self.calls, self.leftover = [], list(leftover)

    def replicas(self, cluster):
        return [n for n in cluster.nodes if n.role == "replica"]

    def delay_apply(self, cluster, node, seconds):
        self.calls.append(("delay", node.name, seconds))

    def pause_apply(self, cluster, node):
        self.calls.append(("pause", node.name))

    def resume_apply(self, cluster, node):
        self.calls.append(("resume", node.name))

    def apply_leftovers(self, cluster, node):
        if node.name == "n3":
            raise OSError("no answer")
        return [f"{node.name}: {x}" for x in self.leftover]


def cluster_of(dbdef):
    return types.SimpleNamespace(db=dbdef.name, dbdef=dbdef, nodes=[
        node("n1", "primary"), node("n2", "replica"), node("n3", "replica"), node("n4", "replica", alive=False)])


def test_lag_faults_use_the_capabilities_and_heal_every_live_replica():
    d = Replicated()
    c = cluster_of(d)
    delay = nemesis.FAULTS["replication-delay"](delay_s=3)
    assert delay.applicable(c) is None
    v = delay.start(c, random.Random(0))
    assert v["mode"] == "delay" and d.calls == [("delay", v["nodes"][0], 3)]
    assert delay.stop(c) == {"fault": "replication-delay", "healed": v["nodes"]}
    assert d.calls[1:] == [("resume", "n2"), ("resume", "n3")]  # n4 is down
    d.calls.clear()
    stop = nemesis.FAULTS["replication-stop"](targets=["n3"])
    assert stop.start(c, random.Random(0))["nodes"] == ["n3"] and d.calls == [("pause", "n3")]


def test_no_replicas_no_lag_and_leftovers_per_live_replica():
    plain = types.SimpleNamespace(db="postgres", dbdef=get("postgres"), nodes=[node("n1", "single")])
    assert "needs an async replica; postgres has none" in nemesis.FAULTS["replication-delay"]().applicable(plain)
    assert replication_lag.leftovers(plain) == []
    c = cluster_of(Replicated(leftover=["WAL replay paused"]))
    assert replication_lag.leftovers(c) == ["n2: WAL replay paused",
                                            "n3: could not read replication settings: no answer"]


@pytest.mark.parametrize("db, knobs, lag", [
    ("mariadb-mm", {}, True), ("galera", {}, True), ("galera", {"wsrep_sync_wait": 1}, False),
    ("galera", {"wsrep_sync_wait": 7}, False), ("galera", {"wsrep_sync_wait": 3}, False),
    ("postgres-standby", {}, True), ("postgres-standby", {"synchronous_commit": "on"}, True),
    ("postgres-standby", {"synchronous_commit": "remote_apply"}, False)])
def test_the_definition_says_whether_reads_elsewhere_may_miss_a_commit(db, knobs, lag):
    from harness.probe.replication import is_async
    dbdef = get(db)
    c = types.SimpleNamespace(db=db, dbdef=dbdef, knobs=dbdef.validate_knobs(knobs),
                              nodes=[node("n1", "primary"), node("n2", "standby")])
    assert is_async(c) is lag
    c.nodes = c.nodes[:1]
    assert is_async(c) is False  # one node: nothing to lag behind


class Recording:
    """A DB-API connection that records every statement."""

    def __init__(self, log, node):
        self.log, self.node = log, node

    def cursor(self):
        conn = self

        class Cursor:
            description = None

            def execute(self, sql, params=()):
                conn.log.append((conn.node, sql % tuple(params) if params else sql))

            def fetchone(self):
                return None

            def __enter__(self):
                return self

            def __exit__(self, *a):
                return False
        return Cursor()

    def commit(self):
        pass

    def thread_id(self):
        return 42


@pytest.mark.parametrize("db, admin, session, cancel", [
    ("galera", ["SET SESSION lock_wait_timeout = 5", "SET SESSION wsrep_sync_wait = 1"],
     ["SET SESSION innodb_lock_wait_timeout = 5"], "KILL QUERY 42"),
    ("mariadb-mm", ["SET SESSION lock_wait_timeout = 5"], ["SET SESSION innodb_lock_wait_timeout = 5"],
     "KILL QUERY 42")])
def test_the_probes_sessions_are_set_up_by_dialect_and_definition(db, admin, session, cancel):
    from harness.probe.sql import SqlBackend
    log = []
    dbdef = get(db)
    c = types.SimpleNamespace(db=db, dbdef=dbdef, dialect=dbdef.dialect, knobs={},
                              nodes=[node("n1", "member"), node("n2", "member")])
    c.primary = c.nodes[0]
    c.connect = lambda n, **kw: Recording(log, n)
    b = SqlBackend(c, op_timeout=10.0)
    h = b.open("T1", "n2", "serializable")
    assert log == [("n2", s) for s in session]
    log.clear()
    b.cancel(h)
    assert log == [("n2", s) for s in admin] + [("n2", cancel)]


def test_postgres_lock_timeout_and_cancel():
    assert postgres.lock_timeout(5) == postgres.lock_timeout(5, admin=True) == "SET lock_timeout = '5s'"
    assert postgres.cancel(7) == ("SELECT pg_cancel_backend(%s)", (7,))


def test_catch_up_asks_the_definition_how():
    from harness.probe.replication import catch_up

    class Positions(DbDef):
        def commit_position(self, conn):
            return f"pos-of-{conn.node}"

        def wait_applied(self, conn, position, timeout):
            return None if conn.node == "n2" else f"did not apply {position} within {timeout:g} s"

    log = []
    admin = lambda n: Recording(log, n)  # noqa: E731
    assert catch_up(Positions(), admin, "n1", ["n2", "n3"], "t", 5.0) == ["n3: did not apply pos-of-n1 within 5 s"]
    assert log == []
    assert catch_up(Galera(), admin, "n1", ["n2", "n3"], "t", 5.0) == []
    assert log == [("n2", "SELECT COUNT(*) FROM t"), ("n3", "SELECT COUNT(*) FROM t")]  # causal reads
