"""save-resume: what a Camunda 7 engine does to its database, so a verdict says what would happen
to real process instances.

The tables are Camunda's own (workloads/engine_schema.py). Engine nodes (`engines`, default 2) are
modelled as Camunda runs them: each has its own id generator (`idgen=db`, blocks from
ACT_GE_PROPERTY 'next.dbid', the engine's default; or `uuid`) and its own job executor (lock owner
'engine-k'); every engine deploys the process at its start, both at once, and again every
`deploy_every` ops of its deployer (a rolling redeploy), and schedules the history-cleanup job.
Users reach an engine through a load balancer (`lb=request`: a random engine per request;
`lb=session`: one per user session). Routing `local` sends engine k's statements to database node k
(machines A and B, each with its own database); the other routing policies stand for a database
load balancer in front of the cluster.

The process 'order-process': a user task, then every `job_every`-th step a parallel pair of exclusive
async service tasks (`jobs_per_step` jobs, joined by the last to finish), then a user task again; a
message subscription 'payment' per instance. Every write carries a save id `sid` (unique in the run,
chosen by the generator: worker w's are (w+1)*10^8 + n), which names the state it leaves everywhere:
execution ACT_INST_ID_ and history row ID_ '<activity>:X', SEQUENCE_COUNTER_ q (the step), variable
'step' TEXT_ 'q:X', serialized variable 'order' (ACT_GE_BYTEARRAY BYTES_ 'q:X'), and its successor:
task DESCRIPTION_ 'userTask:X', or jobs HANDLER_CFG_ 'serviceTask:X#b'.

Operations (one transaction each at the session isolation, READ COMMITTED as Camunda requires; the id
block a command needs is fetched first, in a transaction of its own, and recorded as `id_blocks`;
`created` lists [table, ID_] of every row an ok command inserted):
  schedule-cleanup {engine}: SELECT ... 'history.cleanup.job.lock' FOR UPDATE, then insert the
           history-cleanup job unless one exists. ok adds "job" (created id or null), "existing".
  deploy   {engine, resource}: SELECT ... 'deployment.lock' FOR UPDATE; duplicate filtering (the
           latest deployment's resource equal -> nothing deployed); else version = max(VERSION_)+1 and
           insert ACT_RE_DEPLOYMENT, the resource, ACT_RE_PROCDEF. ok adds "deployed", "version", "def".
  start    {key, sid, engine, unique}: the latest definition, the application's check that no
           instance of the business key runs, then execution, variables, byte array, history, task,
           message subscription. ok adds "exec", "seq" 0, "def".
  save     {key, sid, engine} (complete the user task): REV_-checked updates of execution, variables
           and byte array, DELETE of the task WHERE REV_, history row, next task or jobs. ok adds
           "exec", "rev" (read), "seq" (new), "list" (step ids read first), "next" (task|job).
  resume   {key, engine} (the tasklist a returning user sees): ONE SELECT. ok adds "state": null or
           {"exec", "rev", "seq", "act", "var", "order", "tasks", "jobs", "hist", "n_exec"}.
  correlate {key, sid, engine} (exclusive message correlation): the subscription row FOR UPDATE, the
           effect, DELETE WHERE REV_, a new subscription. ok adds "exec", "subscription".
  id-block {engine}: the engine takes its next id block (GetNextIdBlockCmd); ok adds "id_blocks".
  acquire  {owner, engine}: the engine's predicate (retries, due, unlocked or expired, active, and for
           exclusive jobs NOT EXISTS a locked exclusive sibling), all exclusive siblings of a chosen
           instance with it, each locked by UPDATE ... WHERE ID_ AND REV_ (a job another engine won is
           dropped). ok adds "now", "exp" (ms), "jobs": [{"job", "rev", "exec"}].
  execute  {owner, sid, engine}: one job the owner holds whose instance no other thread of this
           engine is executing (Camunda hands an instance's exclusive jobs to one thread); its effect
           row, DELETE of the job WHERE REV_; the last job of a step joins: the instance moves on to a
           user task; an earlier one only bumps the execution's REV_. ok adds "job", "job_rev", "key",
           "exec", "rev", "joined", and when joined "seq", "list".
  final    {}: every node's tables (each in one snapshot), again until the nodes agree or `settle`
           seconds pass; then each node's replication status and the next-day resume of every
           instance on EVERY node. ok adds "nodes": {node: {"tables", "replication"}}, "columns",
           "settled", "waited", "resumes": {node: {key: state}}.
An UPDATE that hits other than one row, a DELETE that hits none, or a unique-key violation is an
optimistic-locking failure: the command is rolled back (`fail`), as DbSqlSession does.
"""
from __future__ import annotations

import contextlib
import datetime
import itertools
import threading
import time

from harness.cluster import dialects
from harness.errors import UsageError
from harness.generator import EachWorker
from workloads import engine_ids
from workloads.base import Abort, Workload, describe, run_ddl, transaction
from workloads.engine_schema import DUMP, ddl

PROC_KEY = "order-process"
RESOURCE = "order-process.bpmn"
DEPLOYMENT_NAME = "order-app"
SID_BLOCK = 10 ** 8  # save ids per worker
CLASH_BASE, CLASH_KEYS = 10 ** 6, 4   # the instances the engines clash on (business keys bk-1000000...)
CLASH_SID = 10 ** 12                  # save ids of clash writes (beyond every worker's block)
LB_MODES = ("request", "session")
CLEANUP_DUE = datetime.timedelta(days=1)  # the cleanup job waits for its batch window


def now_ms() -> int:
    return int(time.time() * 1000)


def db_time(ms: int) -> datetime.datetime:
    """Engine clock time (ms) as the naive UTC timestamp the engine passes as a parameter: every
    lease and due date is the engine's clock, never a database node's."""
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).replace(tzinfo=None)


def business_key(i) -> str:
    return f"bk-{i}"


def resume_sql(dialect: str) -> str:
    """The tasklist's view of one instance, in one statement (so even READ COMMITTED owes it one
    snapshot): execution, its variables, the serialized variable's bytes, tasks, jobs, history."""
    if dialect == "mysql":
        def agg(expr, order):
            return f"GROUP_CONCAT({expr} ORDER BY {order} SEPARATOR ',')"
        hist, order_bytes = "CONCAT(h.SEQUENCE_COUNTER_, '|', h.ID_)", "CAST(b.BYTES_ AS CHAR)"
    else:
        def agg(expr, order):
            return f"string_agg({expr}, ',' ORDER BY {order})"
        hist, order_bytes = "h.SEQUENCE_COUNTER_::text || '|' || h.ID_", "convert_from(b.BYTES_, 'UTF8')"
    return (
        "SELECT e.ID_, e.REV_, e.SEQUENCE_COUNTER_, e.ACT_INST_ID_, "
        f"(SELECT {agg('v.TEXT_', 'v.ID_')} FROM ACT_RU_VARIABLE v WHERE v.EXECUTION_ID_ = e.ID_ AND v.NAME_ = 'step'), "
        f"(SELECT {agg(order_bytes, 'b.ID_')} FROM ACT_RU_VARIABLE v JOIN ACT_GE_BYTEARRAY b ON b.ID_ = v.BYTEARRAY_ID_ "
        "WHERE v.EXECUTION_ID_ = e.ID_ AND v.NAME_ = 'order'), "
        f"(SELECT {agg('t.DESCRIPTION_', 't.ID_')} FROM ACT_RU_TASK t WHERE t.EXECUTION_ID_ = e.ID_), "
        f"(SELECT {agg('j.HANDLER_CFG_', 'j.ID_')} FROM ACT_RU_JOB j WHERE j.PROCESS_INSTANCE_ID_ = e.ID_ "
        "AND j.HANDLER_TYPE_ = 'async-continuation'), "
        f"(SELECT {agg(hist, 'h.SEQUENCE_COUNTER_, h.ID_')} FROM ACT_HI_ACTINST h WHERE h.PROC_INST_ID_ = e.ID_), "
        "(SELECT COUNT(*) FROM ACT_RU_EXECUTION e2 WHERE e2.BUSINESS_KEY_ = e.BUSINESS_KEY_) "
        "FROM ACT_RU_EXECUTION e WHERE e.BUSINESS_KEY_ = %s ORDER BY e.ID_ LIMIT 1")


def sid_of(activity_instance) -> int | None:
    """'userTask:123' / 'serviceTask:123#2' -> 123: which write made it."""
    if not isinstance(activity_instance, str) or ":" not in activity_instance:
        return None
    tail = activity_instance.split(":", 1)[1].split("#", 1)[0]
    return int(tail) if tail.isdigit() else None


def parse_resume_row(row) -> dict | None:
    if row is None:
        return None
    eid, rev, seq, act, var, order, tasks, jobs, hist, n = row

    def one_or_all(text):
        vs = text.split(",") if text is not None else []
        return vs[0] if len(vs) == 1 else (vs or None)

    pairs = []
    for p in (hist.split(",") if hist else []):
        q, _, hid = p.partition("|")
        pairs.append([int(q), sid_of(hid)])
    return {"exec": str(eid), "rev": int(rev), "seq": int(seq), "act": act, "var": one_or_all(var),
            "order": one_or_all(order), "tasks": tasks.split(",") if tasks else [],
            "jobs": jobs.split(",") if jobs else [], "hist": pairs, "n_exec": int(n)}


# The ops a session sends (also played by testing/engine_sim.py).
def start_op(i, sid, e, unique) -> dict:
    return {"f": "start", "value": {"key": i, "sid": sid, "engine": e, "unique": unique},
            "instance": i, "engine": e}


def resume_op(i, e, worker) -> dict:
    # routing hints: `instance` (sticky), `readonly` (may be served by a standby), `engine` (local)
    return {"f": "resume", "value": {"key": i, "engine": e}, "instance": i, "readonly": True,
            "engine": e, "session": worker}


def redeploy_ops(worker, revision) -> list[dict]:
    """A new revision from one engine: the history cleanup job scheduled, then the deployment."""
    return [{"f": "schedule-cleanup", "value": {"engine": worker, "together": ["cleanup", revision]},
             "engine": worker, "key": f"engine-{worker}"},
            {"f": "deploy", "value": {"engine": worker, "resource": f"revision {revision}",
                                      "together": ["redeploy", revision]},
             "engine": worker, "key": f"engine-{worker}"}]


class Engine:
    """One engine node: its id generator and which instances its job threads are executing."""

    def __init__(self, k: int, ids):
        self.k, self.ids = k, ids
        self.owner = f"engine-{k}"
        self._busy: set = set()
        self._lock = threading.Lock()

    def claim(self, instance) -> bool:
        with self._lock:
            if instance in self._busy:
                return False
            self._busy.add(instance)
            return True

    def release(self, instance) -> None:
        with self._lock:
            self._busy.discard(instance)


class SaveResume(Workload):
    name = "save-resume"
    checker = "save-resume"
    defaults = {
        "instances": 8,        # process instances (business keys) in use at a time
        "generation_ops": 250,  # a session's ops per generation of instances (then fresh keys)
        "engines": 2,          # engine nodes, each with its own id generator and job executor
        "idgen": "db",         # db (blocks from next.dbid, Camunda's default) | uuid
        "id_block": 100,       # ids per block (idBlockSize)
        "lb": "request",       # users reach an engine per request | per session
        "lease": 2.0,          # job lock duration (lockTimeInMillis), seconds
        "job_every": 3,        # every n-th step is a pair of async service tasks
        "jobs_per_step": 2,    # exclusive jobs per service step (a parallel gateway's branches)
        "unique": True,        # the application's unique index on the business key
        "jobs_per_acquire": 3,
        "deploy_every": 5.0,   # seconds between redeploys of a new revision by every engine
        "clash_every": 0.1,    # seconds between clashes: all engines at one instant (0: none)
        "parse_ms": 30,        # time a deployment spends parsing the BPMN while it holds the lock
        "restart_fraction": 0.02,  # ops that try to start an instance again (a double-clicked start)
        "resume_after_save": 0.5,  # chance a save is followed by the same user's resume
        "settle": 10.0,        # final read: seconds to wait for the nodes to agree
    }

    def __init__(self, opts=None):
        try:
            super().__init__(opts)
        except ValueError as e:
            raise UsageError(str(e)) from None
        o = self.opts
        self.instances = _int(o, "instances", 1, 100000)
        self.engines = _int(o, "engines", 1, 100)
        self.id_block = _int(o, "id_block", 1, 10 ** 9)
        self.job_every = _int(o, "job_every", 2, 1000000)
        self.jobs_per_step = _int(o, "jobs_per_step", 1, 10)
        self.jobs_per_acquire = _int(o, "jobs_per_acquire", 1, 1000)
        self.generation_ops = _int(o, "generation_ops", 1, 10 ** 9)
        self.deploy_every = _num(o, "deploy_every", 0.1, 86400)
        self.parse_ms = _num(o, "parse_ms", 0.0, 60000)
        self.clash_every = _num(o, "clash_every", 0.0, 86400)
        self.lease = _num(o, "lease", 0.001, 86400)
        self.settle = _num(o, "settle", 0.0, 3600)
        self.restart_fraction = _num(o, "restart_fraction", 0.0, 1.0)
        self.resume_after_save = _num(o, "resume_after_save", 0.0, 1.0)
        self.idgen = _choice(o, "idgen", engine_ids.GENERATORS)
        self.lb = _choice(o, "lb", LB_MODES)
        if isinstance(o["unique"], str) and o["unique"].lower() in ("true", "false", "1", "0", "yes", "no"):
            o["unique"] = o["unique"].lower() in ("true", "1", "yes")
        if not isinstance(o["unique"], bool):
            raise UsageError(f"save-resume: unique must be true or false, not {o['unique']!r}")
        self.unique = o["unique"]
        self.cluster = None
        self.engine_nodes: list[Engine] = [Engine(k, engine_ids.make(self.idgen, self.id_block))
                                    for k in range(self.engines)]
        self._rendezvous: dict = {}
        self._rendezvous_lock = threading.Lock()

    def together(self, what) -> None:
        """Wait (at most 2 s) until every engine's deployer has reached the same command `what`, so
        that they run it at the same moment, as engines do when a cluster starts or is redeployed."""
        with self._rendezvous_lock:
            barrier = self._rendezvous.setdefault(what, threading.Barrier(self.engines, timeout=2.0))
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()

    def check_opts(self):
        """The exposure window: what the run measured replication to take (checkers.exposure)."""
        return {"lag_ms": self.measured_lag_ms or 0.0}

    def setup(self, cluster):
        self.cluster = cluster
        run_ddl(cluster, ddl(cluster.dialect, self.unique))

    # --- generators ----------------------------------------------------------------------------
    def generator(self, rng):
        """One stream per worker: each worker is a user session (and, for jobs, an executor thread)
        whose ops run one after the other, so a user's resume begins after their save returned."""
        return EachWorker(self.session_ops, rng.randrange(2 ** 31))

    def session_ops(self, worker: int, rng):
        """Worker `worker`'s ops. Workers 0..engines-1 are also their engine's deployer: at the start
        they schedule the history cleanup and deploy (all engines at once, as a cluster starts), and
        every `deploy_every` seconds they do it again with the next revision of the process (a
        redeploy of the cluster), meeting at the same moment (see `together`).
        Instances come in generations: after `generation_ops` of its ops a session moves on to fresh
        business keys, so every instance's history stays short. A session starts an instance the first
        time it touches it (whoever is first wins; the others get "exists")."""
        sid = (worker + 1) * SID_BLOCK
        started = set()
        weights = {"save": 35, "resume": 22, "acquire": 15, "execute": 20, "correlate": 8}
        fs = list(weights)
        deployer = worker < self.engines
        revision = 0

        def engine():
            return worker % self.engines if self.lb == "session" else rng.randrange(self.engines)

        t0 = time.monotonic()
        clashes = 0
        for n in itertools.count():
            if deployer and time.monotonic() - t0 >= revision * self.deploy_every:
                revision += 1
                yield from redeploy_ops(worker, revision)
            # every clash that is due, back to back (the paced op below must not slow the clashes down)
            while deployer and self.clash_every and time.monotonic() - t0 >= (clashes + 1) * self.clash_every:
                clashes += 1
                yield from self.clash(worker, clashes, started)
            base = (n // self.generation_ops) * self.instances
            i = base + rng.randrange(self.instances)
            if rng.random() < self.restart_fraction:
                sid += 1
                yield self._start(i, sid, engine())
                continue
            f = rng.choices(fs, weights=[weights[x] for x in fs])[0]
            if f in ("save", "resume", "correlate") and i not in started:
                started.add(i)
                sid += 1
                yield self._start(i, sid, engine())
            if f in ("save", "correlate"):
                sid += 1
                e = engine()
                yield {"f": f, "value": {"key": i, "sid": sid, "engine": e}, "instance": i, "engine": e,
                       "session": worker}
                if f == "save" and rng.random() < self.resume_after_save:
                    # the user's next request, at once, reaches the other engine (machine B)
                    yield {**resume_op(i, (e + 1) % self.engines if self.lb == "request" else e, worker),
                           "follow_up": True}
            elif f == "resume":
                yield resume_op(i, engine(), worker)
            else:
                k = rng.randrange(self.engines)
                v = {"owner": f"engine-{k}", "engine": k}
                if f == "execute":
                    sid += 1
                    v["sid"] = sid
                yield {"f": f, "value": v, "key": f"engine-{k}", "engine": k}

    def clash(self, worker, k, started):
        """Clash k: every engine's deployer, at one instant (see `together`), completes the task of one
        shared instance (and resumes it at once through the other engine), acquires jobs, takes an id
        block and deploys a new revision: the situations
        where a database that does not serialise the engines breaks them (checkers/exposure.py counts
        them). The instances clashed on are their own business keys (CLASH_KEYS of them, in turn)."""
        i = CLASH_BASE + k % CLASH_KEYS
        sid = CLASH_SID + k * 1000 + worker * 10  # unique: workers < 10 deploy, one clash per k
        if i not in started:
            started.add(i)
            yield self._start(i, sid, worker)
        for f, v, extra in (("save", {"key": i, "sid": sid + 1}, {"instance": i}),
                            ("acquire", {"owner": f"engine-{worker}"}, {"key": f"engine-{worker}"}),
                            ("id-block", {}, {"key": f"engine-{worker}"}),
                            ("deploy", {"resource": f"clash {k}"}, {"key": f"engine-{worker}"})):
            yield {"f": f, "value": {**v, "engine": worker, "together": [f, k]}, "engine": worker,
                   "follow_up": True, **extra}
            if f == "save":  # and the user looks again at once, through the other machine
                yield {**resume_op(i, (worker + 1) % self.engines, worker), "follow_up": True}

    def _start(self, i, sid, e):
        return start_op(i, sid, e, self.unique)

    def final_generator(self, rng):
        return [{"f": "final", "value": {}, "readonly": True, "once": True}]   # it reads every node itself

    # --- the client ----------------------------------------------------------------------------
    COMMANDS = ("schedule-cleanup", "deploy", "start", "save", "resume", "correlate", "acquire", "execute",
                "id-block")

    def invoke(self, conn, dialect, op):
        f, v = op["f"], dict(op.get("value") or {})
        if f == "final":
            return self.final_read(v)
        if f not in self.COMMANDS:
            raise Abort(f"save-resume: unknown op {f!r}")
        engine = self.engine_nodes[int(v.get("engine", 0)) % self.engines]
        if v.get("together") is not None:
            self.together(tuple(v["together"]))
        cmd = Command(self, engine, conn, dialect, op.get("node"), v)
        getattr(cmd, f.replace("-", "_"))()
        if cmd.blocks:
            v["id_blocks"] = cmd.blocks
        if cmd.created:
            v["created"] = cmd.created
        return "ok", v, {}

    # --- the final read: every node, until they agree ------------------------------------------
    def final_read(self, v):
        """Every node's dump until they agree (or `settle` passes), their replication status and a
        returning user's resume of every instance on each node. One worker performs it (the final
        op is marked "once")."""
        t0 = time.monotonic()
        while True:
            dumps = {n.name: self._dump_node(n) for n in self.cluster.nodes}
            tables = [d.get("tables") for d in dumps.values()]
            agree = all(t is not None for t in tables) and all(t == tables[0] for t in tables)
            waited = round(time.monotonic() - t0, 3)
            if agree or waited >= self.settle:
                break
            time.sleep(0.5)
        if all(d.get("tables") is None for d in dumps.values()):
            raise Abort("final read: no node answered: " + "; ".join(
                f"{n}: {d.get('error')}" for n, d in dumps.items()))
        for name, status in self._replication().items():
            dumps[name]["replication"] = status
        keys = sorted({r[2] for d in dumps.values() for r in (d.get("tables") or {}).get(
            "ACT_RU_EXECUTION", [])}, key=str)
        resumes = {n.name: self._resume_all(n, keys) for n in self.cluster.nodes}
        v.update({"nodes": dumps, "columns": DUMP, "settled": agree, "waited": waited, "resumes": resumes})
        return "ok", v, {}

    def _replication(self) -> dict:
        """Each node's status as the cluster reports it (replication threads and last error, Galera
        state, standby receiver): the evidence behind replication-halted."""
        try:
            return {st["name"]: {k: v for k, v in st.items() if k not in ("name", "ip", "pid")}
                    for st in self.cluster.status()}
        except Exception as e:
            return {n.name: {"error": describe(e)} for n in self.cluster.nodes}

    def _connected(self, node):
        return self.cluster.connect(node, timeout=10.0, autocommit=True)

    def _dump_node(self, node) -> dict:
        dialect = self.cluster.dialect
        try:
            conn = self._connected(node)
        except Exception as e:  # a node that is down has no dump; the others are still compared
            return {"tables": None, "error": describe(e)}
        try:
            cur = conn.cursor()
            out = {"tables": {}}
            for statement in dialects.get(dialect).SNAPSHOT_READ:
                cur.execute(statement)
            for table, cols in DUMP.items():
                cur.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {', '.join(cols[:2])}")
                out["tables"][table] = [[_plain(c) for c in r] for r in cur.fetchall()]
            cur.execute("COMMIT")
            return out
        except Exception as e:
            return {"tables": None, "error": describe(e)}
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _resume_all(self, node, keys) -> dict:
        """The next day: a returning user opens every instance on this node."""
        try:
            conn = self._connected(node)
        except Exception as e:
            return {"error": describe(e)}
        try:
            cur = conn.cursor()
            if self.cluster.dialect == "mysql":
                cur.execute("SET SESSION group_concat_max_len = 4194304")
            out = {}
            for bkey in keys:
                cur.execute(resume_sql(self.cluster.dialect), (bkey,))
                out[bkey] = parse_resume_row(cur.fetchone())
            return out
        except Exception as e:
            return {"error": describe(e)}
        finally:
            with contextlib.suppress(Exception):
                conn.close()


class Command:
    """One engine command on one connection: ids first (their own transactions), then one
    transaction of the command's statements."""

    def __init__(self, wl: SaveResume, engine: Engine, conn, dialect, node, v):
        self.wl, self.engine, self.conn, self.dialect, self.node, self.v = wl, engine, conn, dialect, node, v
        self.blocks: list = []
        self.created: list = []

    def ids(self, n) -> list[str]:
        return self.engine.ids.take(self.conn, self.dialect, n, self.blocks)

    def insert(self, cur, table, row: dict):
        cols = ", ".join(row)
        cur.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(row))})", tuple(row.values()))
        if "ID_" in row:
            self.created.append([table, row["ID_"]])

    @staticmethod
    def expect_one(cur, what):
        if cur.rowcount != 1:
            raise Abort(f"optimistic lock: {what}")

    def expect_execution(self, cur, eid, rev):
        """The REV_-checked update of the execution hit its row; else the failure is recorded with the
        revision read, so the checker sees a compare-and-set whose compare did not match."""
        if cur.rowcount != 1:
            raise Abort(f"optimistic lock: execution {eid} is no longer at revision {rev}",
                        value={**self.v, "exec": eid, "rev": rev, "conflict": "execution"})

    def instance(self, cur):
        """The running instance of the op's business key (the first, as the engine's query does)."""
        cur.execute("SELECT ID_ FROM ACT_RU_EXECUTION WHERE BUSINESS_KEY_ = %s ORDER BY ID_",
                    (business_key(self.v["key"]),))
        rows = cur.fetchall()
        if not rows:
            raise Abort("no instance with this business key")
        return str(rows[0][0])

    # --- the engine's commands -----------------------------------------------------------------
    def schedule_cleanup(self):
        (new_id,) = self.ids(1)
        with transaction(self.conn, self.dialect) as cur:
            cur.execute("SELECT VALUE_ FROM ACT_GE_PROPERTY WHERE NAME_ = 'history.cleanup.job.lock' FOR UPDATE")
            cur.fetchall()
            cur.execute("SELECT ID_ FROM ACT_RU_JOB WHERE HANDLER_TYPE_ = 'history-cleanup' ORDER BY ID_")
            existing = [str(r[0]) for r in cur.fetchall()]
            if not existing:
                self.insert(cur, "ACT_RU_JOB", {
                    "ID_": new_id, "REV_": 1, "TYPE_": "ever-living", "EXCLUSIVE_": True, "RETRIES_": 3,
                    "DUEDATE_": db_time(now_ms()) + CLEANUP_DUE, "HANDLER_TYPE_": "history-cleanup",
                    "HANDLER_CFG_": "{}", "SUSPENSION_STATE_": 1, "PRIORITY_": 0})
        self.v.update({"job": None if existing else new_id, "existing": existing})

    def id_block(self):
        """GetNextIdBlockCmd on its own: the engine's block is used up and it takes the next."""
        self.engine.ids.refill(self.conn, self.dialect, self.blocks)

    def deploy(self):
        dep_id, res_id, def_seq = self.ids(3)
        content = f"<bpmn:definitions> {PROC_KEY} {self.v['resource']} </bpmn:definitions>".encode()
        now = db_time(now_ms())
        with transaction(self.conn, self.dialect) as cur:
            cur.execute("SELECT VALUE_ FROM ACT_GE_PROPERTY WHERE NAME_ = 'deployment.lock' FOR UPDATE")
            cur.fetchall()
            cur.execute("SELECT b.BYTES_ FROM ACT_GE_BYTEARRAY b JOIN ACT_RE_DEPLOYMENT d ON b.DEPLOYMENT_ID_ = d.ID_ "
                        "WHERE d.NAME_ = %s AND b.NAME_ = %s ORDER BY d.DEPLOY_TIME_ DESC, d.ID_ DESC LIMIT 1",
                        (DEPLOYMENT_NAME, RESOURCE))
            row = cur.fetchone()
            cur.execute("SELECT MAX(VERSION_) FROM ACT_RE_PROCDEF WHERE KEY_ = %s", (PROC_KEY,))
            latest = cur.fetchone()[0]
            latest = int(latest) if latest is not None else 0
            if row is not None and bytes(row[0]) == content:  # duplicate filtering: nothing changed
                self.v.update({"deployed": False, "version": latest})
                return
            time.sleep(self.wl.parse_ms / 1000)  # parsing the new BPMN, under the lock
            version = latest + 1
            def_id = f"{PROC_KEY}:{version}:{def_seq}"
            self.insert(cur, "ACT_RE_DEPLOYMENT", {"ID_": dep_id, "NAME_": DEPLOYMENT_NAME, "DEPLOY_TIME_": now})
            self.insert(cur, "ACT_GE_BYTEARRAY", {"ID_": res_id, "REV_": 1, "NAME_": RESOURCE,
                                                  "DEPLOYMENT_ID_": dep_id, "BYTES_": content,
                                                  "GENERATED_": False, "TYPE_": 1, "CREATE_TIME_": now})
            self.insert(cur, "ACT_RE_PROCDEF", {"ID_": def_id, "REV_": 1, "KEY_": PROC_KEY, "VERSION_": version,
                                                "DEPLOYMENT_ID_": dep_id, "RESOURCE_NAME_": RESOURCE,
                                                "SUSPENSION_STATE_": 1})
        self.v.update({"deployed": True, "version": version, "def": def_id, "latest_seen": latest})

    def start(self):
        x = self.v["sid"]
        eid, var_step, var_order, ba, task, sub = self.ids(6)
        now = db_time(now_ms())
        act = f"userTask:{x}"
        with transaction(self.conn, self.dialect) as cur:
            cur.execute("SELECT ID_ FROM ACT_RE_PROCDEF WHERE KEY_ = %s ORDER BY VERSION_ DESC, ID_ LIMIT 1",
                        (PROC_KEY,))
            row = cur.fetchone()
            if row is None:
                raise Abort("no process definition deployed yet")
            def_id = row[0]
            cur.execute("SELECT ID_ FROM ACT_RU_EXECUTION WHERE BUSINESS_KEY_ = %s", (business_key(self.v["key"]),))
            if cur.fetchall():
                raise Abort("exists: an instance with this business key is running")
            self.insert(cur, "ACT_RU_EXECUTION", {
                "ID_": eid, "REV_": 1, "PROC_INST_ID_": eid, "BUSINESS_KEY_": business_key(self.v["key"]),
                "PROC_DEF_ID_": def_id, "ACT_ID_": "userTask", "ACT_INST_ID_": act, "IS_ACTIVE_": True,
                "IS_SCOPE_": True, "SUSPENSION_STATE_": 1, "SEQUENCE_COUNTER_": 0})
            self.insert(cur, "ACT_GE_BYTEARRAY", {"ID_": ba, "REV_": 1, "NAME_": "order", "BYTES_": f"0:{x}".encode(),
                                                  "GENERATED_": False, "TYPE_": 2, "CREATE_TIME_": now})
            self.insert(cur, "ACT_RU_VARIABLE", {"ID_": var_step, "REV_": 1, "TYPE_": "string", "NAME_": "step",
                                                 "EXECUTION_ID_": eid, "PROC_INST_ID_": eid, "TEXT_": f"0:{x}",
                                                 "VAR_SCOPE_": eid, "SEQUENCE_COUNTER_": 0})
            self.insert(cur, "ACT_RU_VARIABLE", {"ID_": var_order, "REV_": 1, "TYPE_": "serializable",
                                                 "NAME_": "order", "EXECUTION_ID_": eid, "PROC_INST_ID_": eid,
                                                 "BYTEARRAY_ID_": ba, "VAR_SCOPE_": eid, "SEQUENCE_COUNTER_": 0})
            self.history(cur, eid, def_id, "userTask", x, 0, task, now)
            self.insert(cur, "ACT_RU_TASK", {"ID_": task, "REV_": 1, "EXECUTION_ID_": eid, "PROC_INST_ID_": eid,
                                             "PROC_DEF_ID_": def_id, "NAME_": "Review order", "DESCRIPTION_": act,
                                             "TASK_DEF_KEY_": "userTask", "CREATE_TIME_": now,
                                             "SUSPENSION_STATE_": 1})
            self.subscribe(cur, sub, eid, now)
        self.v.update({"exec": eid, "seq": 0, "def": def_id})

    def history(self, cur, eid, def_id, act_id, x, q, task_id, now):
        self.insert(cur, "ACT_HI_ACTINST", {"ID_": f"{act_id}:{x}", "PROC_DEF_KEY_": PROC_KEY, "PROC_DEF_ID_": def_id,
                                            "PROC_INST_ID_": eid, "EXECUTION_ID_": eid, "ACT_ID_": act_id,
                                            "TASK_ID_": task_id, "ACT_TYPE_": act_id, "START_TIME_": now,
                                            "SEQUENCE_COUNTER_": q})

    def subscribe(self, cur, sub, eid, now):
        self.insert(cur, "ACT_RU_EVENT_SUBSCR", {"ID_": sub, "REV_": 1, "EVENT_TYPE_": "message",
                                                 "EVENT_NAME_": "payment", "EXECUTION_ID_": eid,
                                                 "PROC_INST_ID_": eid, "ACTIVITY_ID_": "paymentReceived",
                                                 "CREATED_": now})

    def advance(self, cur, eid, act_id, successor_ids, now):
        """Move the instance one step (save, or the join of a service step): read the execution, its
        variables, byte array and history; REV_-checked updates; the history row; the successor
        (one task, or `jobs_per_step` exclusive jobs). Returns (rev read, new step, step list)."""
        x = self.v["sid"]
        cur.execute("SELECT REV_, SEQUENCE_COUNTER_, PROC_DEF_ID_ FROM ACT_RU_EXECUTION WHERE ID_ = %s", (eid,))
        row = cur.fetchone()
        if row is None:
            raise Abort(f"no execution {eid}")
        rev, q, def_id = int(row[0]), int(row[1]) + 1, row[2]
        cur.execute("SELECT ID_, REV_, NAME_, BYTEARRAY_ID_ FROM ACT_RU_VARIABLE WHERE EXECUTION_ID_ = %s "
                    "ORDER BY NAME_, ID_", (eid,))
        variables = {r[2]: r for r in cur.fetchall()}
        cur.execute("SELECT ID_ FROM ACT_HI_ACTINST WHERE PROC_INST_ID_ = %s ORDER BY SEQUENCE_COUNTER_, ID_", (eid,))
        steps = [sid_of(r[0]) for r in cur.fetchall()]
        cur.execute("UPDATE ACT_RU_EXECUTION SET REV_ = REV_ + 1, ACT_ID_ = %s, ACT_INST_ID_ = %s, "
                    "SEQUENCE_COUNTER_ = %s WHERE ID_ = %s AND REV_ = %s", (act_id, f"{act_id}:{x}", q, eid, rev))
        self.expect_execution(cur, eid, rev)
        if "step" in variables:
            vid, vrev = variables["step"][0], int(variables["step"][1])
            cur.execute("UPDATE ACT_RU_VARIABLE SET REV_ = REV_ + 1, TEXT_ = %s, SEQUENCE_COUNTER_ = %s "
                        "WHERE ID_ = %s AND REV_ = %s", (f"{q}:{x}", q, vid, vrev))
            self.expect_one(cur, f"variable {vid} is no longer at revision {vrev}")
        if "order" in variables:
            vid, vrev, ba = variables["order"][0], int(variables["order"][1]), variables["order"][3]
            cur.execute("UPDATE ACT_RU_VARIABLE SET REV_ = REV_ + 1, SEQUENCE_COUNTER_ = %s "
                        "WHERE ID_ = %s AND REV_ = %s", (q, vid, vrev))
            self.expect_one(cur, f"variable {vid} is no longer at revision {vrev}")
            cur.execute("SELECT REV_ FROM ACT_GE_BYTEARRAY WHERE ID_ = %s", (ba,))
            brow = cur.fetchone()
            if brow is None:
                raise Abort(f"byte array {ba} of variable {vid} is missing")
            cur.execute("UPDATE ACT_GE_BYTEARRAY SET REV_ = REV_ + 1, BYTES_ = %s WHERE ID_ = %s AND REV_ = %s",
                        (f"{q}:{x}".encode(), ba, int(brow[0])))
            self.expect_one(cur, f"byte array {ba} is no longer at revision {brow[0]}")
        if act_id == "userTask":
            task = successor_ids[0]
            self.history(cur, eid, def_id, act_id, x, q, task, now)
            self.insert(cur, "ACT_RU_TASK", {"ID_": task, "REV_": 1, "EXECUTION_ID_": eid, "PROC_INST_ID_": eid,
                                             "PROC_DEF_ID_": def_id, "NAME_": "Review order",
                                             "DESCRIPTION_": f"userTask:{x}", "TASK_DEF_KEY_": "userTask",
                                             "CREATE_TIME_": now, "SUSPENSION_STATE_": 1})
        else:
            self.history(cur, eid, def_id, act_id, x, q, None, now)
            for b, job in enumerate(successor_ids, 1):
                self.insert(cur, "ACT_RU_JOB", {
                    "ID_": job, "REV_": 1, "TYPE_": "message", "EXCLUSIVE_": True, "EXECUTION_ID_": eid,
                    "PROCESS_INSTANCE_ID_": eid, "PROCESS_DEF_KEY_": PROC_KEY, "RETRIES_": 3,
                    "HANDLER_TYPE_": "async-continuation", "HANDLER_CFG_": f"serviceTask:{x}#{b}",
                    "SUSPENSION_STATE_": 1, "PRIORITY_": 0})
        return rev, q, steps

    def save(self):
        n = self.wl.jobs_per_step
        successor_ids = self.ids(n)
        now = db_time(now_ms())
        with transaction(self.conn, self.dialect) as cur:
            eid = self.instance(cur)
            cur.execute("SELECT ID_, REV_ FROM ACT_RU_TASK WHERE EXECUTION_ID_ = %s ORDER BY ID_", (eid,))
            tasks = cur.fetchall()
            if not tasks:
                raise Abort("no task: the instance waits for its jobs")
            task_id, task_rev = tasks[0][0], int(tasks[0][1])
            cur.execute("SELECT SEQUENCE_COUNTER_ FROM ACT_RU_EXECUTION WHERE ID_ = %s", (eid,))
            q = int(cur.fetchone()[0]) + 1
            service = q % self.wl.job_every == 0
            rev, q, steps = self.advance(cur, eid, "serviceTask" if service else "userTask",
                                         successor_ids if service else successor_ids[:1], now)
            cur.execute("DELETE FROM ACT_RU_TASK WHERE ID_ = %s AND REV_ = %s", (task_id, task_rev))
            self.expect_one(cur, f"task {task_id} was completed by someone else")
        self.v.update({"exec": eid, "rev": rev, "seq": q, "list": steps, "next": "job" if service else "task"})

    def resume(self):
        cur = self.conn.cursor()
        try:
            if self.dialect == "mysql":
                cur.execute("SET SESSION group_concat_max_len = 4194304")
            cur.execute(resume_sql(self.dialect), (business_key(self.v["key"]),))
            self.v["state"] = parse_resume_row(cur.fetchone())
        finally:
            with contextlib.suppress(Exception):
                cur.close()

    def correlate(self):
        x = self.v["sid"]
        (new_sub,) = self.ids(1)
        now = db_time(now_ms())
        with transaction(self.conn, self.dialect) as cur:
            eid = self.instance(cur)
            cur.execute("SELECT ID_, REV_ FROM ACT_RU_EVENT_SUBSCR WHERE EVENT_TYPE_ = 'message' AND "
                        "EVENT_NAME_ = 'payment' AND PROC_INST_ID_ = %s ORDER BY ID_ FOR UPDATE", (eid,))
            subs = cur.fetchall()
            if not subs:
                raise Abort("no subscription for message 'payment'")
            sub, sub_rev = str(subs[0][0]), int(subs[0][1])
            self.effect(cur, "message", sub, x)
            cur.execute("DELETE FROM ACT_RU_EVENT_SUBSCR WHERE ID_ = %s AND REV_ = %s", (sub, sub_rev))
            self.expect_one(cur, f"subscription {sub} was consumed by someone else")
            self.subscribe(cur, new_sub, eid, now)
        self.v.update({"exec": eid, "subscription": sub})

    def effect(self, cur, kind, target, x):
        self.insert(cur, "HARNESS_EFFECT", {"ID_": f"{kind}:{target}:{x}", "KIND_": kind, "TARGET_": target,
                                            "ATTEMPT_": x, "NODE_": self.node})

    def acquire(self):
        now = now_ms()
        exp = now + int(self.wl.lease * 1000)
        t_now, t_exp = db_time(now), db_time(exp)
        got = []
        with transaction(self.conn, self.dialect) as cur:
            free = "(RES.LOCK_OWNER_ IS NULL OR RES.LOCK_EXP_TIME_ < %s)"
            cur.execute(
                "SELECT RES.ID_, RES.REV_, RES.PROCESS_INSTANCE_ID_, RES.EXCLUSIVE_ FROM ACT_RU_JOB RES "
                f"WHERE RES.RETRIES_ > 0 AND (RES.DUEDATE_ IS NULL OR RES.DUEDATE_ <= %s) AND {free} "
                "AND RES.SUSPENSION_STATE_ = 1 AND (RES.EXCLUSIVE_ = FALSE OR NOT EXISTS ("
                "SELECT J2.ID_ FROM ACT_RU_JOB J2 WHERE J2.PROCESS_INSTANCE_ID_ = RES.PROCESS_INSTANCE_ID_ "
                "AND J2.EXCLUSIVE_ = TRUE AND J2.LOCK_OWNER_ IS NOT NULL AND J2.LOCK_EXP_TIME_ >= %s)) "
                "ORDER BY RES.PRIORITY_ DESC, RES.DUEDATE_, RES.ID_ LIMIT %s",
                (t_now, t_now, t_now, self.wl.jobs_per_acquire))
            batch = {str(r[0]): (int(r[1]), str(r[2])) for r in cur.fetchall()}
            # an instance's exclusive jobs are acquired together, so one executor runs them in turn
            exclusive = sorted({inst for _, (_, inst) in batch.items()})
            if exclusive:
                cur.execute(f"SELECT RES.ID_, RES.REV_, RES.PROCESS_INSTANCE_ID_ FROM ACT_RU_JOB RES WHERE "
                            f"RES.PROCESS_INSTANCE_ID_ IN ({', '.join(['%s'] * len(exclusive))}) AND "
                            f"RES.EXCLUSIVE_ = TRUE AND RES.RETRIES_ > 0 AND {free}", (*exclusive, t_now))
                batch.update({str(r[0]): (int(r[1]), str(r[2])) for r in cur.fetchall()})
            for job in sorted(batch):  # one global order: no deadlock between two acquirers
                rev, inst = batch[job]
                cur.execute("UPDATE ACT_RU_JOB SET REV_ = REV_ + 1, LOCK_OWNER_ = %s, LOCK_EXP_TIME_ = %s "
                            "WHERE ID_ = %s AND REV_ = %s", (self.v["owner"], t_exp, job, rev))
                if cur.rowcount == 1:
                    got.append({"job": job, "rev": rev, "exec": inst})
        self.v.update({"now": now, "exp": exp, "lease": self.wl.lease, "jobs": got})

    def execute(self):
        (task,) = self.ids(1)
        now = now_ms()
        t_now = db_time(now)
        with transaction(self.conn, self.dialect) as cur:
            cur.execute("SELECT ID_, REV_, PROCESS_INSTANCE_ID_ FROM ACT_RU_JOB WHERE LOCK_OWNER_ = %s AND "
                        "LOCK_EXP_TIME_ > %s AND HANDLER_TYPE_ = 'async-continuation' ORDER BY ID_",
                        (self.v["owner"], t_now))
            held = [(str(r[0]), int(r[1]), str(r[2])) for r in cur.fetchall()]
            job = next((j for j in held if self.engine.claim(j[2])), None)
            if job is None:
                raise Abort(f"no job locked by {self.v['owner']} that no other of its threads runs")
            try:
                self._execute(cur, *job, task, now, t_now)
            finally:
                self.engine.release(job[2])

    def _execute(self, cur, job_id, job_rev, eid, task, now, t_now):
        cur.execute("SELECT REV_, BUSINESS_KEY_ FROM ACT_RU_EXECUTION WHERE ID_ = %s", (eid,))
        row = cur.fetchone()
        if row is None:
            raise Abort(f"no execution {eid} for job {job_id}")
        rev, bkey = int(row[0]), row[1]
        key = int(bkey[3:]) if isinstance(bkey, str) and bkey[3:].isdigit() else bkey
        self.v.update({"now": now, "job": job_id, "job_rev": job_rev, "key": key, "exec": eid, "rev": rev})
        self.effect(cur, "job", job_id, self.v["sid"])
        cur.execute("DELETE FROM ACT_RU_JOB WHERE ID_ = %s AND REV_ = %s", (job_id, job_rev))
        self.expect_one(cur, f"job {job_id} is no longer at revision {job_rev} (lease lost)")
        cur.execute("SELECT COUNT(*) FROM ACT_RU_JOB WHERE PROCESS_INSTANCE_ID_ = %s AND "
                    "HANDLER_TYPE_ = 'async-continuation'", (eid,))
        if int(cur.fetchone()[0]) == 0:  # the last branch joins: on to the next user task
            rev, q, steps = self.advance(cur, eid, "userTask", [task], t_now)
            self.v.update({"joined": True, "rev": rev, "seq": q, "list": steps})
        else:  # a branch ended: the scope execution changes (concurrent branches conflict here)
            cur.execute("UPDATE ACT_RU_EXECUTION SET REV_ = REV_ + 1 WHERE ID_ = %s AND REV_ = %s", (eid, rev))
            self.expect_execution(cur, eid, rev)
            self.v["joined"] = False


def _plain(c):
    if c is None or isinstance(c, (int, str)):
        return c
    if isinstance(c, (bytes, bytearray, memoryview)):
        return bytes(c).decode("utf-8", "replace")
    return int(c) if hasattr(c, "__int__") else str(c)


def _int(o, name, lo, hi) -> int:
    val = o[name]
    if isinstance(val, str) and val.strip().lstrip("-").isdigit():
        val = int(val)
    if isinstance(val, bool) or not isinstance(val, int) or not lo <= val <= hi:
        raise UsageError(f"save-resume: {name} must be an integer from {lo} to {hi}, not {val!r}")
    return val


def _num(o, name, lo, hi) -> float:
    val = o[name]
    if isinstance(val, str):
        with contextlib.suppress(ValueError):
            val = float(val)
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not lo <= val <= hi:
        raise UsageError(f"save-resume: {name} must be a number from {lo} to {hi}, not {val!r}")
    return float(val)


def _choice(o, name, allowed) -> str:
    if o[name] not in allowed:
        raise UsageError(f"save-resume: {name} must be one of {', '.join(allowed)}, not {o[name]!r}")
    return o[name]
