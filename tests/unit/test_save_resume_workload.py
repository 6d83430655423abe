"""The save-resume workload's pure parts: options, generator, SQL text, row parsing."""
import random

import pytest

from harness.errors import UsageError
from workloads import make_workload
from workloads import save_resume as w


def ops(n, seed=1, worker=0, **opts):
    src = w.SaveResume(opts).generator(random.Random(seed))
    return [src.next_op(worker) for _ in range(n)]


def test_registered_under_its_cli_name():
    assert isinstance(make_workload("save-resume", {}), w.SaveResume)


@pytest.mark.parametrize("opts,needle", [
    ({"instances": 0}, "instances must be an integer from 1"),
    ({"lease": -1}, "lease must be a number from 0.001"),
    ({"lease": 0}, "lease must be a number"),
    ({"engines": "many"}, "engines must be an integer"),
    ({"job_every": 1}, "job_every must be an integer from 2"),
    ({"generation_ops": 0}, "generation_ops must be an integer from 1"),
    ({"unique": "perhaps"}, "unique must be true or false"),
    ({"no_such_option": 1}, "unknown option(s) no_such_option"),
])
def test_nonsense_options_are_one_clear_usage_error(opts, needle):
    with pytest.raises(UsageError) as e:
        w.SaveResume(opts)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_options_from_the_command_line_are_strings():
    sr = w.SaveResume({"instances": "3", "lease": "0.5", "unique": "false"})
    assert (sr.instances, sr.lease, sr.unique) == (3, 0.5, False)


def test_sessions_start_an_instance_before_first_touching_it():
    got = ops(600, instances=4, generation_ops=10 ** 6)
    assert {o["f"] for o in got} >= {"start", "save", "resume", "acquire", "execute"}
    first_touch = {}
    for o in got:
        if o["f"] in ("start", "save", "resume"):
            first_touch.setdefault(o["value"]["key"], o["f"])
    assert set(first_touch) == {0, 1, 2, 3} and set(first_touch.values()) == {"start"}
    sids = [o["value"]["sid"] for o in got if "sid" in o["value"]]
    assert len(sids) == len(set(sids)), "save ids must be unique in the run"
    for o in got:
        if o["f"] in ("start", "save", "resume"):
            assert o["instance"] == o["value"]["key"]      # sticky per process instance
        assert o.get("readonly", False) == (o["f"] == "resume")


def test_instances_come_in_generations():
    got = ops(3000, instances=4, generation_ops=100)
    keys = [o["value"]["key"] for o in got if o["f"] in ("save", "resume")]
    assert max(keys) >= 4 * 20  # fresh business keys keep coming
    assert len(set(keys)) > 50


def test_generator_is_deterministic_per_seed():
    assert ops(200, seed=5) == ops(200, seed=5)
    assert ops(200, seed=5) != ops(200, seed=6)


def test_workers_are_sessions_with_disjoint_save_ids():
    src = w.SaveResume({"instances": 3}).generator(random.Random(2))
    streams = {wid: [src.next_op(wid) for _ in range(300)] for wid in range(4)}
    sids = [o["value"]["sid"] for s in streams.values() for o in s if "sid" in o["value"]]
    assert len(sids) == len(set(sids))
    assert all(o.get("session") == wid for wid, s in streams.items() for o in s if o["f"] in ("save", "resume"))


def test_users_resume_after_saving():
    got = ops(2000, resume_after_save=1.0, restart_fraction=0.0)
    pairs = [(a, b) for a, b in zip(got, got[1:]) if a["f"] == "save"]
    assert len(pairs) > 100
    assert all(b["f"] == "resume" and b["value"]["key"] == a["value"]["key"] for a, b in pairs)


def test_final_read_is_one_op():
    assert w.SaveResume({}).final_generator(random.Random(0)) == [{"f": "final", "value": {}, "readonly": True}]


@pytest.mark.parametrize("dialect", ["mysql", "postgres"])
def test_schema_has_engine_tables_and_unique_option(dialect):
    ddl = " ".join(w.schema(dialect, unique=True))
    for table in w.TABLES:
        assert f"CREATE TABLE {table} " in ddl
    assert "CREATE UNIQUE INDEX ux_exec_bkey" in ddl
    assert "UNIQUE" not in " ".join(w.schema(dialect, unique=False))
    assert ("ENGINE=InnoDB" in ddl) == (dialect == "mysql")


def test_resume_is_a_single_statement_per_dialect():
    my, pg = w.resume_sql("mysql"), w.resume_sql("postgres")
    assert my.count(";") == pg.count(";") == 0
    assert "GROUP_CONCAT" in my and "string_agg" in pg
    assert my.count("%s") == pg.count("%s") == 2


def test_parse_resume_row():
    st = w.parse_resume_row(("pi-3-4", 3, 2, "step-2-9", "2:9", "t-9", None, "0:4,1:7,2:9", 1))
    assert st == {"exec": "pi-3-4", "rev": 3, "seq": 2, "act": "step-2-9", "var": "2:9", "tasks": ["t-9"],
                  "jobs": [], "hist": [[0, 4], [1, 7], [2, 9]], "n_exec": 1}
    torn = w.parse_resume_row(("pi-3-4", 3, 2, "step-2-9", "2:9|1:7", "t-7,t-9", "j-7", None, 2))
    assert torn["var"] == ["2:9", "1:7"] and torn["tasks"] == ["t-7", "t-9"] and torn["jobs"] == ["j-7"]
    assert torn["hist"] == [] and w.parse_resume_row(None) is None


def test_key_of_exec():
    assert w.key_of_exec("pi-12-345") == 12 and w.key_of_exec("other") is None


class _Cursor:
    def __init__(self, conn):
        self.conn = conn
        self.rowcount = 0

    def execute(self, stmt, args=None):
        self.conn.log.append(stmt)
        if stmt == "ROLLBACK" and self.conn.rollback_error:
            raise self.conn.rollback_error


class _Conn:
    """Just enough of a DB-API connection to watch what the transaction wrapper sends."""

    def __init__(self, rollback_error=None):
        self.log, self.closed, self.rollback_error = [], False, rollback_error

    def cursor(self):
        return _Cursor(self)

    def close(self):
        self.closed = True


def test_failed_rollback_closes_the_connection_and_is_indeterminate():
    from workloads.base import RollbackFailed, classify
    conn = _Conn(rollback_error=RuntimeError("1047: WSREP has not yet prepared node"))
    with pytest.raises(RollbackFailed) as e:
        with w.transaction(conn, "mysql"):
            raise RuntimeError("1047: WSREP has not yet prepared node")
    assert conn.closed and conn.log == ["START TRANSACTION", "ROLLBACK"]
    assert classify(e.value)[0] == "info"  # the runner drops the connection and records info


def test_rollback_that_works_keeps_the_connection_and_the_error():
    conn = _Conn()
    with pytest.raises(w.Abort):
        with w.transaction(conn, "postgres"):
            raise w.Abort("optimistic lock")
    assert not conn.closed and conn.log == ["BEGIN", "ROLLBACK"]
    with w.transaction(conn, "postgres"):
        pass
    assert conn.log[-2:] == ["BEGIN", "COMMIT"]


def test_rollback_answered_with_a_deadlock_is_a_clean_abort():
    import pymysql
    conn = _Conn(rollback_error=pymysql.err.OperationalError(1213, "Deadlock found"))
    with pytest.raises(w.Abort):
        with w.transaction(conn, "mysql"):
            raise w.Abort("optimistic lock")
    assert not conn.closed
