"""A simulated save-resume run: the workload's ops against ONE atomic in-memory engine database.

`simulate(n_ops, seed, ...)` plays workloads/save_resume.py's ops (schedule-cleanup, deploy, start,
save, resume, correlate, acquire, execute, final) with its encoding: Camunda's tables (the columns
workloads.engine_schema.DUMP names), `engines` engine nodes each with its own DbIdGenerator-style id
blocks from the one 'next.dbid' row, `sessions` user sessions each running its ops one after the
other. Every op takes effect at one instant between its invoke and its completion, in a single
copy of the database, so the history is correct: the checker must find nothing. ~`info_rate` of
the ops end `info` (their effect applied or not, at random; the process then gets a new number).
Engine k's statements go to database node n<k+1> (routing `local`); the final read dumps both nodes,
identical, with their replication status and the next-day resume of every instance on each.

`faults` plants what a broken cluster does, to prove detection:
    "stale"           a resume reads the instance as it was `stale_ms` earlier (a lagging replica)
    "double-win"      a second save from the same revision commits too (another node's copy), 3 times
    "lose"            n2's final state lacks the history row of one acknowledged save (not the last
                      step of its instance)
    "shared-ids"      engine-1 reads a stale 'next.dbid' once: its block overlaps engine-0's; the one
                      database's primary keys still reject colliding rows (those commands fail)
    "unlocked-deploy" the deployment lock does not serialise: both engines insert the new version
    "exclusive"       3 times an acquisition takes one exclusive job of an instance and the other
                      engine, at once, the instance's other one (NOT EXISTS missed the lock)
    "halted"          n2's replication stops half way: its dump (and its next-day resumes) are the
                      state at that moment; its status says SQL thread No with an error
"""
from __future__ import annotations

import copy
import heapq
import random
from collections import defaultdict

from workloads.engine_schema import DUMP, SEED_PROPERTIES, TABLES
from workloads.save_resume import (DEPLOYMENT_NAME, PROC_KEY, RESOURCE, SID_BLOCK, business_key, redeploy_ops,
                                   resume_op, sid_of, start_op)

MS = 1_000_000  # ns
FAULTS = ("stale", "double-win", "lose", "shared-ids", "unlocked-deploy", "exclusive", "halted")
HEALTHY = {"io_running": "Yes", "sql_running": "Yes", "last_error": ""}
STOPPED = {"io_running": "Yes", "sql_running": "No",
           "last_error": "Could not execute Write_rows_v1 event on table engine.ACT_RU_TASK; "
                         "Duplicate entry '4711' for key 'PRIMARY', Error_code: 1062"}
# which column each table is looked up by, besides its primary key
INDEXED = {"ACT_RU_EXECUTION": "BUSINESS_KEY_", "ACT_RU_VARIABLE": "EXECUTION_ID_", "ACT_RU_TASK": "EXECUTION_ID_",
           "ACT_RU_JOB": "PROCESS_INSTANCE_ID_", "ACT_RU_EVENT_SUBSCR": "PROC_INST_ID_",
           "ACT_HI_ACTINST": "PROC_INST_ID_"}


class Fail(Exception):
    """The command rolled back: recorded `fail` (an optimistic-locking failure, a unique key, ...)."""


# --- the database ----------------------------------------------------------------------------------

class Table:
    def __init__(self, db, name):
        self.db, self.name = db, name
        self.pk = TABLES[name][0][0]
        self.col = INDEXED.get(name)
        self.rows: dict = {}
        self.by = defaultdict(dict)

    def insert(self, row: dict):
        rid = row[self.pk]
        if rid in self.rows:
            raise Fail(f"1062: Duplicate entry '{rid}' for key 'PRIMARY' ({self.name})")
        self.rows[rid] = row
        if self.col:
            self.by[row.get(self.col)][rid] = row
        self.db.journal.append(lambda: self._remove(rid))
        if self.pk == "ID_":
            self.db.created.append([self.name, rid])

    def update(self, rid, **changes):
        row = self.rows[rid]
        old = {k: row.get(k) for k in changes}
        row.update(changes)
        self.db.journal.append(lambda: row.update(old))

    def delete(self, rid):
        row = self._remove(rid)
        self.db.journal.append(lambda: self._put(row))

    def where(self, value) -> list[dict]:
        """Rows whose indexed column is `value`, ORDER BY ID_ (varchar order)."""
        return [r for _, r in sorted(self.by.get(value, {}).items())]

    def _remove(self, rid):
        row = self.rows.pop(rid)
        if self.col:
            self.by[row.get(self.col)].pop(rid, None)
        return row

    def _put(self, row):
        self.rows[row[self.pk]] = row
        if self.col:
            self.by[row.get(self.col)][row[self.pk]] = row


class Database:
    """The one copy. `command()` runs a function as one transaction: a Fail undoes its writes."""

    def __init__(self):
        self.journal: list = []
        self.created: list = []
        self.t = {name: Table(self, name) for name in TABLES}
        for name, value in SEED_PROPERTIES:
            self.t["ACT_GE_PROPERTY"].rows[name] = {"NAME_": name, "VALUE_": value, "REV_": 1}

    def command(self, fn, *args, **kw):
        self.journal, self.created = [], []
        try:
            return fn(*args, **kw)
        except Fail:
            for undo in reversed(self.journal):
                undo()
            raise
        finally:
            self.journal = []

    def dump(self) -> dict:
        """Every DUMP table in DUMP's column order, ORDER BY its first column (as the final read)."""
        return {table: [[r.get(c) for c in cols] for _, r in sorted(self.t[table].rows.items())]
                for table, cols in DUMP.items()}

    def snapshot(self) -> "Database":
        return copy.deepcopy(self)


def resume_state(db: Database, bkey: str) -> dict | None:
    """What the workload's resume SELECT returns for one business key (workloads.save_resume.resume_sql)."""
    execs = db.t["ACT_RU_EXECUTION"].where(bkey)
    if not execs:
        return None
    e = execs[0]
    eid = e["ID_"]
    variables = db.t["ACT_RU_VARIABLE"].where(eid)
    steps = [v["TEXT_"] for v in variables if v["NAME_"] == "step"]
    orders = [db.t["ACT_GE_BYTEARRAY"].rows[v["BYTEARRAY_ID_"]] for v in variables if v["NAME_"] == "order"]
    orders = [b["BYTES_"] for b in sorted(orders, key=lambda b: b["ID_"])]
    jobs = [j["HANDLER_CFG_"] for j in db.t["ACT_RU_JOB"].where(eid) if j["HANDLER_TYPE_"] == "async-continuation"]
    hist = sorted(db.t["ACT_HI_ACTINST"].where(eid), key=lambda h: (h["SEQUENCE_COUNTER_"], h["ID_"]))

    def one_or_all(vs):
        return vs[0] if len(vs) == 1 else (vs or None)

    return {"exec": eid, "rev": e["REV_"], "seq": e["SEQUENCE_COUNTER_"], "act": e["ACT_INST_ID_"],
            "var": one_or_all(steps), "order": one_or_all(orders),
            "tasks": [t["DESCRIPTION_"] for t in db.t["ACT_RU_TASK"].where(eid)], "jobs": jobs,
            "hist": [[h["SEQUENCE_COUNTER_"], sid_of(h["ID_"])] for h in hist], "n_exec": len(execs)}


def resume_all(db: Database, bkeys) -> dict:
    return {k: resume_state(db, k) for k in bkeys}


# --- the engine's commands -------------------------------------------------------------------------

class IdBlocks:
    """One engine's DbIdGenerator: blocks of `block` ids from 'next.dbid' (its own transaction)."""

    def __init__(self, db, block):
        self.db, self.block = db, block
        self.next = self.end = 0
        self.stale = None  # "shared-ids": the next fetch reads this value of next.dbid instead

    def take(self, n, record) -> list[str]:
        out = []
        while len(out) < n:
            if self.next >= self.end:
                prop = self.db.t["ACT_GE_PROPERTY"].rows["next.dbid"]
                first, rev = int(prop["VALUE_"]), prop["REV_"]
                if self.stale is not None:
                    first, self.stale = self.stale, None
                prop.update(VALUE_=str(max(first + self.block, int(prop["VALUE_"]))), REV_=rev + 1)
                self.next, self.end = first, first + self.block
                record.append([first, self.end, rev])
            out.append(str(self.next))
            self.next += 1
        return out


class Engine:
    """The commands of workloads.save_resume.Command, on the in-memory database. Each returns the
    fields an ok completion adds, or raises Fail."""

    def __init__(self, db, jobs_per_step, job_every, jobs_per_acquire, lease_ms):
        self.db, self.t = db, db.t
        self.jobs_per_step, self.job_every = jobs_per_step, job_every
        self.jobs_per_acquire, self.lease_ms = jobs_per_acquire, lease_ms

    def instance(self, key) -> dict:
        execs = self.t["ACT_RU_EXECUTION"].where(business_key(key))
        if not execs:
            raise Fail("no instance with this business key")
        return execs[0]

    def schedule_cleanup(self, v, ids, now, node):
        (new_id,) = ids(1)
        existing = sorted(j["ID_"] for j in self.t["ACT_RU_JOB"].rows.values()
                          if j["HANDLER_TYPE_"] == "history-cleanup")
        if not existing:
            self.t["ACT_RU_JOB"].insert({"ID_": new_id, "REV_": 1, "PROCESS_INSTANCE_ID_": None, "EXCLUSIVE_": True,
                                         "HANDLER_TYPE_": "history-cleanup", "HANDLER_CFG_": "{}", "RETRIES_": 3,
                                         "LOCK_OWNER_": None, "LOCK_EXP_TIME_": None, "DUEDATE_": now + 86_400_000})
        return {"job": None if existing else new_id, "existing": existing}

    def deploy(self, v, ids, now, node, unlocked=False):
        """`unlocked`: the lock did not make this deployment wait for a concurrent one of the same
        resource, so it read the state before that one (its version is the latest's again)."""
        dep_id, res_id, def_seq = ids(3)
        content = f"<bpmn:definitions> {PROC_KEY} {v['resource']} </bpmn:definitions>"
        deps = sorted(self.t["ACT_RE_DEPLOYMENT"].rows.values(), key=lambda d: (d["DEPLOY_TIME_"], d["ID_"]))
        latest_dep = deps[-1] if deps else None
        res = [b for b in self.t["ACT_GE_BYTEARRAY"].rows.values()
               if latest_dep and b.get("DEPLOYMENT_ID_") == latest_dep["ID_"] and b["NAME_"] == RESOURCE]
        versions = [d["VERSION_"] for d in self.t["ACT_RE_PROCDEF"].rows.values() if d["KEY_"] == PROC_KEY]
        latest = max(versions, default=0)
        if res and res[0]["BYTES_"] == content:
            if not unlocked:
                return {"deployed": False, "version": latest}
            latest -= 1  # it did not see the other engine's deployment of this resource
        version = latest + 1
        def_id = f"{PROC_KEY}:{version}:{def_seq}"
        self.t["ACT_RE_DEPLOYMENT"].insert({"ID_": dep_id, "NAME_": DEPLOYMENT_NAME, "DEPLOY_TIME_": now})
        self.t["ACT_GE_BYTEARRAY"].insert({"ID_": res_id, "REV_": 1, "NAME_": RESOURCE, "DEPLOYMENT_ID_": dep_id,
                                           "BYTES_": content})
        self.t["ACT_RE_PROCDEF"].insert({"ID_": def_id, "REV_": 1, "KEY_": PROC_KEY, "VERSION_": version,
                                         "DEPLOYMENT_ID_": dep_id})
        return {"deployed": True, "version": version, "def": def_id, "latest_seen": latest}

    def start(self, v, ids, now, node):
        x = v["sid"]
        eid, var_step, var_order, ba, task, sub = ids(6)
        defs = sorted(self.t["ACT_RE_PROCDEF"].rows.values(), key=lambda d: (-d["VERSION_"], d["ID_"]))
        if not defs:
            raise Fail("no process definition deployed yet")
        if self.t["ACT_RU_EXECUTION"].where(business_key(v["key"])):
            raise Fail("exists: an instance with this business key is running")
        def_id = defs[0]["ID_"]
        self.t["ACT_RU_EXECUTION"].insert({"ID_": eid, "REV_": 1, "BUSINESS_KEY_": business_key(v["key"]),
                                           "PROC_DEF_ID_": def_id, "ACT_INST_ID_": f"userTask:{x}",
                                           "SEQUENCE_COUNTER_": 0})
        self.t["ACT_GE_BYTEARRAY"].insert({"ID_": ba, "REV_": 1, "NAME_": "order", "BYTES_": f"0:{x}"})
        self.t["ACT_RU_VARIABLE"].insert({"ID_": var_step, "REV_": 1, "EXECUTION_ID_": eid, "NAME_": "step",
                                          "TEXT_": f"0:{x}", "BYTEARRAY_ID_": None})
        self.t["ACT_RU_VARIABLE"].insert({"ID_": var_order, "REV_": 1, "EXECUTION_ID_": eid, "NAME_": "order",
                                          "TEXT_": None, "BYTEARRAY_ID_": ba})
        self.history(eid, "userTask", x, 0)
        self.t["ACT_RU_TASK"].insert({"ID_": task, "REV_": 1, "EXECUTION_ID_": eid, "DESCRIPTION_": f"userTask:{x}"})
        self.subscribe(sub, eid)
        return {"exec": eid, "seq": 0, "def": def_id}

    def history(self, eid, act_id, x, q):
        self.t["ACT_HI_ACTINST"].insert({"ID_": f"{act_id}:{x}", "PROC_INST_ID_": eid, "SEQUENCE_COUNTER_": q,
                                         "ACT_ID_": act_id})

    def subscribe(self, sub, eid):
        self.t["ACT_RU_EVENT_SUBSCR"].insert({"ID_": sub, "REV_": 1, "PROC_INST_ID_": eid, "EVENT_NAME_": "payment"})

    def advance(self, e, act_id, successors, x):
        """One step of the instance (a save, or a service step's join): the REV_-checked updates, the
        history row, the successor task or jobs. Returns (rev read, new step, step list read)."""
        eid, rev, q = e["ID_"], e["REV_"], e["SEQUENCE_COUNTER_"] + 1
        hist = sorted(self.t["ACT_HI_ACTINST"].where(eid), key=lambda h: (h["SEQUENCE_COUNTER_"], h["ID_"]))
        steps = [sid_of(h["ID_"]) for h in hist]
        self.t["ACT_RU_EXECUTION"].update(eid, REV_=rev + 1, ACT_INST_ID_=f"{act_id}:{x}", SEQUENCE_COUNTER_=q)
        for var in self.t["ACT_RU_VARIABLE"].where(eid):
            if var["NAME_"] == "step":
                self.t["ACT_RU_VARIABLE"].update(var["ID_"], REV_=var["REV_"] + 1, TEXT_=f"{q}:{x}")
            elif var["NAME_"] == "order":
                self.t["ACT_RU_VARIABLE"].update(var["ID_"], REV_=var["REV_"] + 1)
                ba = self.t["ACT_GE_BYTEARRAY"].rows[var["BYTEARRAY_ID_"]]
                self.t["ACT_GE_BYTEARRAY"].update(ba["ID_"], REV_=ba["REV_"] + 1, BYTES_=f"{q}:{x}")
        self.history(eid, act_id, x, q)
        if act_id == "userTask":
            self.t["ACT_RU_TASK"].insert({"ID_": successors[0], "REV_": 1, "EXECUTION_ID_": eid,
                                          "DESCRIPTION_": f"userTask:{x}"})
        else:
            for b, job in enumerate(successors, 1):
                self.t["ACT_RU_JOB"].insert({"ID_": job, "REV_": 1, "PROCESS_INSTANCE_ID_": eid, "EXCLUSIVE_": True,
                                             "HANDLER_TYPE_": "async-continuation",
                                             "HANDLER_CFG_": f"serviceTask:{x}#{b}", "RETRIES_": 3,
                                             "LOCK_OWNER_": None, "LOCK_EXP_TIME_": None, "DUEDATE_": None})
        return rev, q, steps

    def save(self, v, ids, now, node):
        successors = ids(self.jobs_per_step)
        e = self.instance(v["key"])
        tasks = self.t["ACT_RU_TASK"].where(e["ID_"])
        if not tasks:
            raise Fail("no task: the instance waits for its jobs")
        service = (e["SEQUENCE_COUNTER_"] + 1) % self.job_every == 0
        rev, q, steps = self.advance(e, "serviceTask" if service else "userTask",
                                     successors if service else successors[:1], v["sid"])
        self.t["ACT_RU_TASK"].delete(tasks[0]["ID_"])
        return {"exec": e["ID_"], "rev": rev, "seq": q, "list": steps, "next": "job" if service else "task"}

    def correlate(self, v, ids, now, node):
        (new_sub,) = ids(1)
        e = self.instance(v["key"])
        subs = self.t["ACT_RU_EVENT_SUBSCR"].where(e["ID_"])
        if not subs:
            raise Fail("no subscription for message 'payment'")
        sub = subs[0]["ID_"]
        self.effect("message", sub, v["sid"], node)
        self.t["ACT_RU_EVENT_SUBSCR"].delete(sub)
        self.subscribe(new_sub, e["ID_"])
        return {"exec": e["ID_"], "subscription": sub}

    def effect(self, kind, target, x, node):
        self.t["HARNESS_EFFECT"].insert({"ID_": f"{kind}:{target}:{x}", "KIND_": kind, "TARGET_": target,
                                         "ATTEMPT_": x, "NODE_": node})

    @staticmethod
    def free(j, now):
        return j["LOCK_OWNER_"] is None or j["LOCK_EXP_TIME_"] < now

    def acquirable(self, now) -> list[dict]:
        """The acquisition's first SELECT: due, unlocked or expired, no locked exclusive sibling."""
        locked = {j["PROCESS_INSTANCE_ID_"] for j in self.t["ACT_RU_JOB"].rows.values()
                  if j["EXCLUSIVE_"] and j["LOCK_OWNER_"] is not None and j["LOCK_EXP_TIME_"] >= now}
        ok = [j for _, j in sorted(self.t["ACT_RU_JOB"].rows.items())
              if j["RETRIES_"] > 0 and (j["DUEDATE_"] is None or j["DUEDATE_"] <= now) and self.free(j, now)
              and not (j["EXCLUSIVE_"] and j["PROCESS_INSTANCE_ID_"] in locked)]
        return ok[:self.jobs_per_acquire]

    def lock(self, jobs, owner, exp) -> list[dict]:
        got = []
        for j in sorted(jobs, key=lambda j: j["ID_"]):
            got.append({"job": j["ID_"], "rev": j["REV_"], "exec": j["PROCESS_INSTANCE_ID_"]})
            self.t["ACT_RU_JOB"].update(j["ID_"], REV_=j["REV_"] + 1, LOCK_OWNER_=owner, LOCK_EXP_TIME_=exp)
        return got

    def siblings(self, inst, now) -> list[dict]:
        return [j for j in self.t["ACT_RU_JOB"].where(inst) if j["EXCLUSIVE_"] and j["RETRIES_"] > 0
                and self.free(j, now)]

    def acquire(self, v, ids, now, node, split=None):
        """`split` (the "exclusive" fault): a list that receives the siblings this acquisition left
        out of one instance, for another engine to take at once."""
        batch = {j["ID_"]: j for j in self.acquirable(now)}
        for inst in sorted({j["PROCESS_INSTANCE_ID_"] for j in batch.values()}):
            sib = self.siblings(inst, now)
            if split is not None and not split and len(sib) > 1:
                split.extend(sib[1:])
                sib = sib[:1]
                batch = {k: j for k, j in batch.items() if j["PROCESS_INSTANCE_ID_"] != inst}
            batch.update({j["ID_"]: j for j in sib})
        exp = now + self.lease_ms
        return {"now": now, "exp": exp, "lease": self.lease_ms / 1000,
                "jobs": self.lock(batch.values(), v["owner"], exp)}

    def execute(self, v, ids, now, node):
        (task,) = ids(1)
        held = [j for _, j in sorted(self.t["ACT_RU_JOB"].rows.items())
                if j["LOCK_OWNER_"] == v["owner"] and j["LOCK_EXP_TIME_"] > now
                and j["HANDLER_TYPE_"] == "async-continuation"]
        if not held:
            raise Fail(f"no job locked by {v['owner']} that no other of its threads runs")
        job = held[0]
        eid = job["PROCESS_INSTANCE_ID_"]
        e = self.t["ACT_RU_EXECUTION"].rows[eid]
        out = {"now": now, "job": job["ID_"], "job_rev": job["REV_"], "key": int(e["BUSINESS_KEY_"][3:]),
               "exec": eid, "rev": e["REV_"]}
        self.effect("job", job["ID_"], v["sid"], node)
        self.t["ACT_RU_JOB"].delete(job["ID_"])
        if not any(j["HANDLER_TYPE_"] == "async-continuation" for j in self.t["ACT_RU_JOB"].where(eid)):
            rev, q, steps = self.advance(e, "userTask", [task], v["sid"])
            out.update({"joined": True, "rev": rev, "seq": q, "list": steps})
        else:
            self.t["ACT_RU_EXECUTION"].update(eid, REV_=e["REV_"] + 1)
            out["joined"] = False
        return out


# --- the users: workloads.save_resume.SaveResume.session_ops with simulated time ------------------

def session_ops(worker, rng, clock, engines, instances, gen_ops, deploy_every_ms, restart_fraction=0.02,
                resume_after_save=0.5):
    sid = (worker + 1) * SID_BLOCK
    started = set()
    weights = {"save": 35, "resume": 22, "acquire": 15, "execute": 20, "correlate": 8}
    fs, ws = list(weights), list(weights.values())
    deployer, revision = worker < engines, 0
    n = 0

    def resume(i, e):
        return resume_op(i, e, worker)

    def start(i, e):
        return start_op(i, sid, e, True)

    while True:
        if deployer and clock[0] >= revision * deploy_every_ms * MS:
            revision += 1
            yield from redeploy_ops(worker, revision)
        i = (n // gen_ops) * instances + rng.randrange(instances)
        n += 1
        if rng.random() < restart_fraction:
            sid += 1
            yield start(i, rng.randrange(engines))
            continue
        f = rng.choices(fs, weights=ws)[0]
        if f in ("save", "resume", "correlate") and i not in started:
            started.add(i)
            sid += 1
            yield start(i, rng.randrange(engines))
        if f in ("save", "correlate"):
            sid += 1
            e = rng.randrange(engines)
            yield {"f": f, "value": {"key": i, "sid": sid, "engine": e}, "instance": i, "engine": e, "session": worker}
            if f == "save" and rng.random() < resume_after_save:
                yield {**resume(i, (e + 1) % engines), "follow_up": True}
        elif f == "resume":
            yield resume(i, rng.randrange(engines))
        else:
            k = rng.randrange(engines)
            v = {"owner": f"engine-{k}", "engine": k}
            if f == "execute":
                sid += 1
                v["sid"] = sid
            yield {"f": f, "value": v, "key": f"engine-{k}", "engine": k}


# --- the run ---------------------------------------------------------------------------------------

def node_of(engine) -> str:
    return f"n{engine + 1}"


class Run:
    def __init__(self, seed, sessions, engines, instances, gen_ops, job_every, jobs_per_step, id_block,
                 lease_ms, deploy_every_ms, info_rate, faults, stale_ms):
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)} (known: {', '.join(FAULTS)})")
        self.rng = random.Random(seed)
        self.sessions, self.engines, self.info_rate = sessions, engines, info_rate
        self.faults, self.stale_ms = set(faults), stale_ms
        self.db = Database()
        self.engine = Engine(self.db, jobs_per_step, job_every, 3, lease_ms)
        self.ids = [IdBlocks(self.db, id_block) for _ in range(engines)]
        self.clock = [0]
        self.streams = [session_ops(w, self.rng, self.clock, engines, instances, gen_ops, deploy_every_ms)
                        for w in range(sessions)]
        self.hist: list[dict] = []
        self.versions = defaultdict(list)  # business key -> [(time, state)] for "stale"
        self.ghosts = 0                    # double-win / exclusive planted so far
        self.deployed_by = {}              # resource -> engine that deployed it ("unlocked-deploy")
        self.shared_pending = "shared-ids" in self.faults
        self.halt_at = None                # "halted": n2's copy when its replication stopped

    def record(self, op):
        self.hist.append(op)

    # one op's effect at instant t: (type, fields an ok adds)
    def apply(self, op, t):
        f, v = op["f"], op["value"]
        now = t // MS
        k = v.get("engine", 0)
        blocks = []

        def ids(n):
            if self.shared_pending and k == 1 and self.ids[1].next >= self.ids[1].end and self.ids[0].end:
                self.ids[1].stale = self.ids[0].end - self.ids[0].block  # engine-0's current block
            return self.ids[k].take(n, blocks)

        if f == "resume":
            return "ok", {"state": self.resume(v["key"], t)}
        kw = {}
        if f == "deploy" and "unlocked-deploy" in self.faults:
            other = self.deployed_by.get(v["resource"])
            kw["unlocked"] = other is not None and other != k
        split = [] if f == "acquire" and "exclusive" in self.faults and self.ghosts < 3 else None
        if split is not None:
            kw["split"] = split
        try:
            extra = self.db.command(getattr(self.engine, f.replace("-", "_")), v, ids, now, node_of(k), **kw)
        except Fail as e:
            return "fail", {"error": str(e)}
        if blocks:
            extra["id_blocks"] = blocks
            if self.shared_pending and k == 1 and any(b[0] < self.ids[0].end and self.ids[0].end - self.ids[0].block
                                                      < b[1] for b in blocks):
                self.shared_pending = False
        if self.db.created:
            extra["created"] = self.db.created
        if f == "deploy" and extra.get("deployed"):
            self.deployed_by.setdefault(v["resource"], k)
        if split:
            self.steal(split, t, k)
        return "ok", extra

    def steal(self, jobs, t, k):
        """The "exclusive" fault: the other engine acquires the siblings at once (both locks held)."""
        other = (k + 1) % self.engines
        owner, now = f"engine-{other}", t // MS
        exp = now + self.engine.lease_ms
        got = self.db.command(self.engine.lock, jobs, owner, exp)
        p = 2 * 10 ** 5 + self.ghosts
        self.ghosts += 1
        base = {"process": p, "f": "acquire", "node": node_of(other), "key": owner, "engine": other}
        self.record({**base, "time": t + 1, "type": "invoke", "value": {"owner": owner, "engine": other}})
        self.record({**base, "time": t + 2, "type": "ok",
                     "value": {"owner": owner, "engine": other, "now": now, "exp": exp,
                               "lease": self.engine.lease_ms / 1000, "jobs": got}})

    def resume(self, key, t):
        bkey = business_key(key)
        if "stale" in self.faults and self.rng.random() < 0.5:
            old = [st for ts, st in self.versions.get(bkey, []) if ts <= t - self.stale_ms * MS]
            if old:
                return old[-1]
        return resume_state(self.db, bkey)

    def double_win(self, op, t):
        """A second save of the same revision commits as well, on n2 (it read its own copy)."""
        v = op["value"]
        execs = self.db.t["ACT_RU_EXECUTION"].where(business_key(v["key"]))
        if not execs or not self.db.t["ACT_RU_TASK"].where(execs[0]["ID_"]):
            return
        e = execs[0]
        hist = sorted(self.db.t["ACT_HI_ACTINST"].where(e["ID_"]), key=lambda h: (h["SEQUENCE_COUNTER_"], h["ID_"]))
        ghost = {"key": v["key"], "sid": v["sid"] + 10 ** 6, "engine": 1}
        p = 10 ** 5 + self.ghosts
        self.ghosts += 1
        self.record({"time": t - 2, "type": "invoke", "process": p, "f": "save", "value": dict(ghost), "node": "n2"})
        self.record({"time": t - 1, "type": "ok", "process": p, "f": "save", "node": "n2",
                     "value": {**ghost, "exec": e["ID_"], "rev": e["REV_"], "seq": e["SEQUENCE_COUNTER_"] + 1,
                               "list": [sid_of(h["ID_"]) for h in hist], "next": "task"}})
        self.db.command(self.engine.history, e["ID_"], "userTask", ghost["sid"], e["SEQUENCE_COUNTER_"] + 1)

    def play(self, n_ops):
        rng, heap = self.rng, []
        proc = list(range(self.sessions))
        for w in range(self.sessions):
            heapq.heappush(heap, (rng.randrange(5 * MS), 0, w, None))
        issued, last_time = 0, 0
        while heap:
            t, kind, w, data = heapq.heappop(heap)
            self.clock[0] = last_time = max(last_time, t)
            if kind == 0:  # invoke
                if issued >= n_ops:
                    continue
                issued += 1
                op = next(self.streams[w])
                op = {**op, "value": dict(op["value"]), "node": node_of(op.get("engine", 0))}
                self.record({"time": t, "type": "invoke", "process": proc[w], **op, "value": dict(op["value"])})
                heapq.heappush(heap, (t + rng.randrange(1, 8 * MS), 1, w, op))
                continue
            if kind == 2:  # completion
                op, typ, extra = data
                done = {"time": t, "type": typ, "process": proc[w], **op, "value": op["value"]}
                if typ == "ok":
                    done["value"] = {**op["value"], **extra}
                else:
                    done["error"] = extra["error"]
                self.record(done)
                heapq.heappush(heap, (t + rng.randrange(1, 5 * MS), 0, w, None))
                continue
            op = data  # effect
            info = rng.random() < self.info_rate
            applied = not info or rng.random() < 0.5
            if applied:
                if "double-win" in self.faults and op["f"] == "save" and self.ghosts < 3 and rng.random() < 0.05:
                    self.double_win(op, t)
                typ, extra = self.apply(op, t)
                if typ == "ok" and op["f"] in ("start", "save", "execute") and "stale" in self.faults:
                    bkey = business_key(extra.get("key", op["value"].get("key")))
                    self.versions[bkey].append((t, resume_state(self.db, bkey)))
                    del self.versions[bkey][:-50]
                if "halted" in self.faults and self.halt_at is None and issued >= n_ops // 2:
                    self.halt_at = self.db.snapshot()
            if info:
                self.record({"time": t + 1, "type": "info", "process": proc[w], **op, "value": op["value"],
                             "error": f"simulated timeout ({'applied' if applied else 'not applied'})"})
                proc[w] += self.sessions
                heapq.heappush(heap, (t + rng.randrange(1, 5 * MS), 0, w, None))
            else:
                heapq.heappush(heap, (t + rng.randrange(1, 4 * MS), 2, w, (op, typ, extra)))
        self.final(last_time + 10 * MS)
        self.hist.sort(key=lambda o: o["time"])
        for i, o in enumerate(self.hist):
            o["index"] = i
        return self.hist

    def final(self, t):
        n1, n2 = self.db, self.db
        status2, settled = HEALTHY, True
        if self.halt_at is not None:
            n2, status2, settled = self.halt_at, STOPPED, False
        dumps = {"n1": n1.dump(), "n2": n2.dump()}
        if "lose" in self.faults:
            self.lose(dumps["n2"])
            n2 = self.db.snapshot()
            n2.t["ACT_HI_ACTINST"].delete(self.lost)
        bkeys = sorted({r[2] for d in dumps.values() for r in d["ACT_RU_EXECUTION"]}, key=str)
        value = {"nodes": {"n1": {"tables": dumps["n1"], "replication": dict(HEALTHY)},
                           "n2": {"tables": dumps["n2"], "replication": dict(status2)}},
                 "columns": DUMP, "settled": settled, "waited": 0.0 if settled else 10.0,
                 "resumes": {"n1": resume_all(n1, bkeys), "n2": resume_all(n2, bkeys)}}
        base = {"process": 0, "f": "final", "node": "n1", "readonly": True, "final": True}
        self.record({**base, "time": t, "type": "invoke", "value": {}})
        self.record({**base, "time": t + MS, "type": "ok", "value": value})

    def lose(self, dump):
        """Drop from n2's dump the history row of an acknowledged save that a later acknowledged step
        of its instance follows (so the loss is a gap, not a torn top)."""
        done = [o for o in self.hist if o["type"] == "ok" and o["f"] in ("start", "save", "execute")
                and o["value"].get("seq") is not None]
        top = defaultdict(int)
        for o in done:
            top[o["value"]["key"]] = max(top[o["value"]["key"]], o["value"]["seq"])
        saves = [o for o in done if o["f"] == "save" and o["value"]["seq"] < top[o["value"]["key"]]]
        victim = saves[len(saves) // 2]["value"]
        rid = next(r[0] for r in dump["ACT_HI_ACTINST"] if sid_of(r[0]) == victim["sid"])
        dump["ACT_HI_ACTINST"] = [r for r in dump["ACT_HI_ACTINST"] if r[0] != rid]
        self.lost = rid


def simulate(n_ops: int, seed: int = 1, instances: int = 8, sessions: int = 10, job_every: int = 3,
             info_rate: float = 0.01, lease_ms: int = 2000, faults=(), stale_ms: int = 50, gen_ops: int = 250,
             engines: int = 2, jobs_per_step: int = 2, id_block: int = 100, deploy_every_ms: int = 500) -> list[dict]:
    """A history (ops in time order, indexed) of `n_ops` client ops plus the final read."""
    return Run(seed, sessions, engines, instances, gen_ops, job_every, jobs_per_step, id_block, lease_ms,
               deploy_every_ms, info_rate, faults, stale_ms).play(n_ops)
