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
    ({"idgen": "foo"}, "idgen must be one of db, uuid"),
    ({"engines": 0}, "engines must be an integer from 1"),
    ({"id_block": -1}, "id_block must be an integer from 1"),
    ({"lb": "sometimes"}, "lb must be one of request, session"),
    ({"jobs_per_step": 0}, "jobs_per_step must be an integer from 1"),
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
    assert {o["f"] for o in got} >= {"start", "save", "resume", "acquire", "execute", "correlate",
                                     "deploy", "schedule-cleanup"}
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
        assert o["engine"] in (0, 1)                       # the engine node the request reaches


def test_deployers_deploy_first_and_engines_follow_the_load_balancer():
    assert [o["f"] for o in ops(2, worker=0)] == ["schedule-cleanup", "deploy"]
    assert [o["f"] for o in ops(2, worker=1)] == ["schedule-cleanup", "deploy"]
    assert ops(2, worker=1)[1]["value"] == {"engine": 1, "resource": "revision 1", "together": ["redeploy", 1]}
    assert "deploy" not in [o["f"] for o in ops(50, worker=2)]  # only one deployer per engine
    user = [o for o in ops(400, worker=3, lb="session") if o["f"] in ("start", "save", "resume")]
    assert {o["engine"] for o in user} == {1}                # sticky per user session: 3 % 2
    spread = [o for o in ops(400, worker=3) if o["f"] in ("start", "save", "resume")]
    assert {o["engine"] for o in spread} == {0, 1}           # per request


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


def test_deployers_clash_on_one_instance_lock_and_id_block_at_one_instant(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(w.time, "monotonic", lambda: clock[0])
    src = w.SaveResume({"clash_every": 0.1}).generator(random.Random(3))
    streams = {}
    for wid in (0, 1):
        clock[0] = 0.0
        src.next_op(wid), src.next_op(wid)          # cleanup + deploy at the start
        clock[0] = 0.15                              # one clash is due
        streams[wid] = [src.next_op(wid) for _ in range(6)]
    clash = {wid: [o for o in s if "together" in o["value"]] for wid, s in streams.items()}
    assert [o["f"] for o in clash[0]] == ["save", "acquire", "id-block", "deploy"]
    for a, b in zip(clash[0], clash[1]):
        assert a["value"]["together"] == b["value"]["together"]       # they meet
        assert (a["engine"], b["engine"]) == (0, 1) and a["follow_up"]  # from both engines, unpaced
    assert clash[0][0]["value"]["key"] == clash[1][0]["value"]["key"] >= w.CLASH_BASE
    assert clash[0][0]["value"]["sid"] != clash[1][0]["value"]["sid"]


def test_users_resume_after_saving():
    got = ops(2000, worker=4, resume_after_save=1.0, restart_fraction=0.0)
    pairs = [(a, b) for a, b in zip(got, got[1:]) if a["f"] == "save"]
    assert len(pairs) > 100
    assert all(b["f"] == "resume" and b["value"]["key"] == a["value"]["key"] for a, b in pairs)


def test_final_read_is_one_op():
    assert w.SaveResume({}).final_generator(random.Random(0)) == [{"f": "final", "value": {}, "readonly": True, "once": True}]


@pytest.mark.parametrize("dialect", ["mysql", "postgres"])
def test_schema_is_camundas_tables_and_constraints(dialect):
    from workloads import engine_schema
    ddl = " ".join(engine_schema.ddl(dialect, unique_business_key=True))
    for table in ("ACT_RU_EXECUTION", "ACT_RU_VARIABLE", "ACT_GE_BYTEARRAY", "ACT_RU_TASK", "ACT_RU_JOB",
                  "ACT_RU_EVENT_SUBSCR", "ACT_RE_PROCDEF", "ACT_GE_PROPERTY", "ACT_HI_ACTINST"):
        assert f"CREATE TABLE {table} (" in ddl
    assert "ACT_UNIQ_VARIABLE UNIQUE (VAR_SCOPE_, NAME_)" in ddl
    assert "APP_UNIQ_EXEC_BUSKEY" in ddl
    assert "APP_UNIQ" not in " ".join(engine_schema.ddl(dialect, unique_business_key=False))
    assert "(KEY_, VERSION_)" not in ddl  # Camunda has no such constraint: only the deployment lock
    for name in ("next.dbid", "deployment.lock", "history.cleanup.job.lock", "startup.lock"):
        assert f"'{name}'" in ddl
    assert ("ENGINE=InnoDB" in ddl) == (dialect == "mysql")
    assert ("LONGBLOB" in ddl) == (dialect == "mysql") and ("bytea" in ddl) == (dialect == "postgres")


def test_resume_is_a_single_statement_per_dialect():
    my, pg = w.resume_sql("mysql"), w.resume_sql("postgres")
    assert my.count(";") == pg.count(";") == 0
    assert "GROUP_CONCAT" in my and "string_agg" in pg
    assert my.count("%s") == pg.count("%s") == 1


def test_parse_resume_row():
    st = w.parse_resume_row(("41", 3, 2, "userTask:9", "2:9", "2:9", "userTask:9", None,
                             "0|userTask:4,1|userTask:7,2|userTask:9", 1))
    assert st == {"exec": "41", "rev": 3, "seq": 2, "act": "userTask:9", "var": "2:9", "order": "2:9",
                  "tasks": ["userTask:9"], "jobs": [], "hist": [[0, 4], [1, 7], [2, 9]], "n_exec": 1}
    torn = w.parse_resume_row(("41", 3, 2, "serviceTask:9", "2:9,1:7", None, None, "serviceTask:9#1", None, 2))
    assert torn["var"] == ["2:9", "1:7"] and torn["order"] is None and torn["jobs"] == ["serviceTask:9#1"]
    assert torn["hist"] == [] and w.parse_resume_row(None) is None


def test_sid_of_activity_instances():
    assert w.sid_of("userTask:345") == 345 and w.sid_of("serviceTask:12#2") == 12
    assert w.sid_of("other") is None and w.sid_of(None) is None


def test_uuid_ids_need_no_database():
    from workloads import engine_ids
    gen, blocks = engine_ids.make("uuid", 100), []
    ids = gen.take(None, "mysql", 5, blocks)
    assert len(set(ids)) == 5 and blocks == []


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
