"""The engine checker on hand-written histories: each invariant is shown by a history that breaks it
and NOT reported for a near twin that does not (no false positives, nothing resting on info ops)."""
import pytest

from checkers import save_resume as sr
from workloads.engine_schema import DUMP


class H:
    """Builds a history: op(...) appends an invoke and its completion (or none for info)."""

    def __init__(self):
        self.ops = []

    def op(self, process, f, value, done, t0, t1=None, node="n1", type_="ok", error=None):
        inv_value = {k: v for k, v in value.items() if k in ("key", "sid", "owner", "unique")}
        self.ops.append({"index": len(self.ops), "time": int(t0 * 1e9), "type": "invoke",
                         "process": process, "f": f, "value": inv_value, "node": node})
        if type_ == "info" and t1 is None:
            return self
        out = {"index": len(self.ops), "time": int((t1 if t1 is not None else t0 + 0.01) * 1e9),
               "type": type_, "process": process, "f": f,
               "value": {**value, **(done or {})} if type_ == "ok" else inv_value, "node": node}
        if error:
            out["error"] = error
        self.ops.append(out)
        return self

    # engine ops -------------------------------------------------------------------------------
    def start(self, p, key, sid, t0, **kw):
        return self.op(p, "start", {"key": key, "sid": sid, "unique": True}, {"exec": f"pi-{key}-{sid}"}, t0, **kw)

    def save(self, p, key, sid, rev, seq, lst, t0, exec_sid=None, **kw):
        ex = f"pi-{key}-{exec_sid if exec_sid is not None else lst[0] if lst else 1}"
        return self.op(p, "save", {"key": key, "sid": sid},
                       {"exec": ex, "rev": rev, "seq": seq, "list": lst, "next": "task"}, t0, **kw)

    def resume(self, p, key, state, t0, **kw):
        return self.op(p, "resume", {"key": key}, {"state": state}, t0, **kw)

    def final(self, p, nodes, t0, settled=True, resumes=None, **kw):
        return self.op(p, "final", {}, {"nodes": nodes, "columns": DUMP, "settled": settled, "waited": 0.0,
                                        "resumes": resumes or {}}, t0, **kw)


def state(key, steps, exec_sid=None, var=None, tasks=None, jobs=None, act=None, n_exec=1):
    """A whole state of instance `key` whose history is steps = [(seq, sid), ...]; override parts
    to make it torn. At a service step (jobs given) the activity is serviceTask."""
    steps = [list(s) for s in steps]
    q, x = max(steps)
    ex = f"pi-{key}-{exec_sid if exec_sid is not None else steps[0][1]}"
    return {"exec": ex, "rev": q + 1, "seq": q, "act": act or f"{'serviceTask' if jobs else 'userTask'}:{x}",
            "var": var if var is not None else f"{q}:{x}", "order": var if var is not None else f"{q}:{x}",
            "tasks": tasks if tasks is not None else ([] if jobs else [f"userTask:{x}"]),
            "jobs": jobs or [], "hist": steps, "n_exec": n_exec}


def tables(instances: dict, effects=(), extra=None):
    """A node's final dump (rows in DUMP's column order) from {key: state}; effects are
    (kind, target, attempt, node) rows of HARNESS_EFFECT."""
    t = {k: [] for k in DUMP}
    for key, st in instances.items():
        e = st["exec"]
        t["ACT_RU_EXECUTION"].append([e, st["rev"], f"bk-{key}", st["act"], st["seq"]])
        t["ACT_RU_VARIABLE"].append([f"v-{e}", st["rev"], e, "step", st["var"], None])
        t["ACT_RU_VARIABLE"].append([f"o-{e}", st["rev"], e, "order", None, f"b-{e}"])
        t["ACT_GE_BYTEARRAY"].append([f"b-{e}", st["rev"], "order", st["order"]])
        for i, task in enumerate(st["tasks"]):
            t["ACT_RU_TASK"].append([f"task-{e}-{i}", 1, e, task])
        for i, job in enumerate(st["jobs"]):
            t["ACT_RU_JOB"].append([f"job-{e}-{i}", 1, e, "async-continuation", job, None])
        for seq, sid in st["hist"]:
            t["ACT_HI_ACTINST"].append([f"userTask:{sid}", e, seq, "userTask"])
    t["HARNESS_EFFECT"] = [[f"{k}:{tg}:{a}", k, tg, a, n] for k, tg, a, n in effects]
    for table, rows in (extra or {}).items():
        t[table] = t.get(table, []) + rows
    return t


def findings(h):
    return sr.engine_findings(h.ops)


def clean_run():
    """Instance 0: start (sid 1), saves 2 and 3 in sequence, resumes that see them, a final read."""
    h = H()
    h.start(0, 0, 1, 0.0)
    h.save(1, 0, 2, rev=1, seq=1, lst=[1], t0=1.0)
    h.resume(2, 0, state(0, [(0, 1), (1, 2)]), 1.5, node="n2")
    h.save(1, 0, 3, rev=2, seq=2, lst=[1, 2], t0=2.0)
    h.resume(2, 0, state(0, [(0, 1), (1, 2), (2, 3)]), 2.5, node="n2")
    return h


def test_clean_history_has_no_findings():
    h = clean_run()
    st = state(0, [(0, 1), (1, 2), (2, 3)])
    h.final(3, {"n1": {"tables": tables({0: st})}, "n2": {"tables": tables({0: st})}}, 3.0)
    assert findings(h) == {}


# --- stale-resume ----------------------------------------------------------------------------------

def test_stale_resume_after_acknowledged_save():
    h = clean_run()
    # began at 2.2 s, after save #3 was acknowledged (2.01 s), but shows step 1
    h.resume(4, 0, state(0, [(0, 1), (1, 2)]), 2.2, node="n2")
    f = findings(h)
    assert set(f) == {"stale-resume", "rev-nonlinearizable"}  # REV_ read 2 after the cas 2 -> 3
    (x,) = f["stale-resume"]
    assert x["instance"] == 0 and x["returned"] == 1 and x["expected_at_least"] == 2
    assert "n2" in x["explanation"] and "save #3" in x["explanation"] and "2.200 s" in x["explanation"]
    assert "stale read" in x["isolation"]


def test_concurrent_resume_may_see_older_step():
    h = clean_run()
    # began at 2.005 s, BEFORE save #3's acknowledgement at 2.01 s: concurrent, may see step 1
    h.resume(4, 0, state(0, [(0, 1), (1, 2)]), 2.005, node="n2")
    assert findings(h) == {}


def test_resume_going_backwards():
    h = H()
    h.start(0, 0, 1, 0.0)
    h.save(1, 0, 2, rev=1, seq=1, lst=[1], t0=1.0, type_="info")  # never acknowledged
    h.resume(2, 0, state(0, [(0, 1), (1, 2)]), 2.0)                 # shows it: committed
    h.resume(3, 0, state(0, [(0, 1)]), 3.0, node="n2")             # later, older
    f = findings(h)
    assert list(f) == ["stale-resume"]
    assert "reads went backwards" in f["stale-resume"][0]["explanation"]


def test_info_save_never_raises_the_floor():
    h = H()
    h.start(0, 0, 1, 0.0)
    h.save(1, 0, 2, rev=1, seq=1, lst=[1], t0=1.0, type_="info")
    h.resume(2, 0, state(0, [(0, 1)]), 5.0)  # the info save may never have happened
    assert findings(h) == {}


def test_resume_that_sees_no_instance_after_acknowledged_start():
    h = H()
    h.start(0, 0, 1, 0.0)
    h.resume(1, 0, None, 1.0, node="n2")
    f = findings(h)
    assert list(f) == ["stale-resume"] and "no instance at all" in f["stale-resume"][0]["explanation"]


# --- double-win / lost-save ------------------------------------------------------------------------

def test_double_win_from_two_acknowledged_saves_of_one_revision():
    h = H()
    h.start(0, 0, 1, 0.0)
    h.save(1, 0, 2, rev=1, seq=1, lst=[1], t0=1.0, node="n1")
    h.save(2, 0, 3, rev=1, seq=1, lst=[1], t0=1.0, node="n2")
    f = findings(h)
    assert set(f) == {"double-win", "rev-nonlinearizable"}  # two cas 1 -> 2 on one register
    x = f["double-win"][0]
    assert x["revision"] == 1 and x["nodes"] == ["n1", "n2"] and "save #2" in x["explanation"]


def test_one_of_two_saves_from_one_revision_failed_is_fine():
    h = H()
    h.start(0, 0, 1, 0.0)
    h.save(1, 0, 2, rev=1, seq=1, lst=[1], t0=1.0, node="n1")
    h.save(2, 0, 3, rev=1, seq=1, lst=[1], t0=1.0, node="n2", type_="fail", error="optimistic lock")
    assert findings(h) == {}


def test_duplicate_step_in_history_is_double_win_and_lost_save_even_from_info_saves():
    h = H()
    h.start(0, 0, 1, 0.0)
    h.save(1, 0, 2, rev=1, seq=1, lst=[1], t0=1.0, node="n1", type_="info")
    h.save(2, 0, 3, rev=1, seq=1, lst=[1], t0=1.0, node="n2", type_="info")
    st = state(0, [(0, 1), (1, 2), (1, 3)])
    st["act"], st["var"], st["order"], st["tasks"] = "userTask:3", "1:3", "1:3", ["userTask:3"]
    h.resume(3, 0, st, 2.0)
    f = findings(h)
    assert set(f) == {"double-win", "lost-save"}
    assert "save #2" in f["double-win"][0]["explanation"] and "save #3" in f["double-win"][0]["explanation"]
    assert "carries save #3" in f["lost-save"][0]["explanation"]


def test_gap_in_history_is_lost_save():
    h = clean_run()
    h.resume(4, 0, state(0, [(0, 1), (2, 3)]), 3.0, node="n2")
    f = findings(h)
    assert "lost-save" in f
    assert f["lost-save"][0]["steps"] == [1]


def test_final_state_lacking_an_acknowledged_save():
    h = clean_run()
    full = state(0, [(0, 1), (1, 2), (2, 3)])
    short = state(0, [(0, 1), (1, 2)])
    h.final(3, {"n1": {"tables": tables({0: full})}, "n2": {"tables": tables({0: short})}}, 3.0)
    f = findings(h)
    assert "lost-save" in f and "divergence" in f
    (lost,) = f["lost-save"]
    assert "n2" in lost["explanation"] and "save #3" in lost["explanation"] and lost["steps"] == [2]


def test_final_state_may_lack_an_info_save():
    h = clean_run()
    h.save(1, 0, 4, rev=3, seq=3, lst=[1, 2, 3], t0=2.8, type_="info")
    st = state(0, [(0, 1), (1, 2), (2, 3)])
    h.final(3, {"n1": {"tables": tables({0: st})}}, 3.0)
    assert findings(h) == {}


def test_save_acknowledged_after_final_read_began_is_not_owed():
    h = clean_run()
    h.save(1, 0, 4, rev=3, seq=3, lst=[1, 2, 3], t0=2.8, t1=3.5)
    st = state(0, [(0, 1), (1, 2), (2, 3)])
    h.final(3, {"n1": {"tables": tables({0: st})}}, 3.0, t1=3.2)
    assert findings(h) == {}


# --- torn-state ------------------------------------------------------------------------------------

@pytest.mark.parametrize("override,needle", [
    ({"var": "1:2"}, "variable 'step' says"),
    ({"order": "1:2"}, "serialized variable 'order' says"),
    ({"tasks": []}, "nothing"),
    ({"tasks": ["userTask:2", "userTask:3"]}, "task userTask:2, task userTask:3"),
    ({"act": "userTask:9"}, "history's last entry"),
    ({"act": "serviceTask:3", "tasks": []}, "no job will ever move it on"),
])
def test_torn_resume(override, needle):
    h = clean_run()
    st = {**state(0, [(0, 1), (1, 2), (2, 3)]), **override}
    h.resume(4, 0, st, 3.0)
    f = findings(h)
    assert list(f) == ["torn-state"]
    assert needle in f["torn-state"][0]["explanation"]


def test_job_successor_is_whole():
    h = H()
    h.start(0, 0, 1, 0.0)
    h.save(1, 0, 2, rev=1, seq=1, lst=[1], t0=1.0)
    h.resume(2, 0, state(0, [(0, 1), (1, 2)], jobs=["serviceTask:2#1", "serviceTask:2#2"]), 2.0)
    h.resume(2, 0, state(0, [(0, 1), (1, 2)], jobs=["serviceTask:2#2"]), 2.5)  # one branch done
    assert findings(h) == {}
    h.resume(2, 0, state(0, [(0, 1), (1, 2)], jobs=["serviceTask:1#2"]), 3.0)  # an older step's job
    assert list(findings(h)) == ["torn-state"]


# --- double-execution ------------------------------------------------------------------------------

def acquire(h, p, owner, now, exp, jobs, t0, node="n1", type_="ok"):
    return h.op(p, "acquire", {"owner": owner},
                {"now": now, "exp": exp, "lease": (exp - now) / 1000, "jobs": jobs}, t0, node=node, type_=type_)


def test_overlapping_leases_of_different_owners():
    h = H()
    acquire(h, 1, "engine-0", 1000, 3000, [{"job": "j-5", "rev": 1, "key": 0}], 1.0)
    acquire(h, 2, "engine-1", 1500, 3500, [{"job": "j-5", "rev": 2, "key": 0}], 1.5, node="n2")
    f = findings(h)
    assert list(f) == ["double-execution"]
    assert "overlap" in f["double-execution"][0]["explanation"]


def test_reacquire_after_lease_expired_is_fine():
    h = H()
    acquire(h, 1, "engine-0", 1000, 3000, [{"job": "j-5", "rev": 1, "key": 0}], 1.0)
    acquire(h, 2, "engine-1", 3001, 5001, [{"job": "j-5", "rev": 2, "key": 0}], 3.0)
    acquire(h, 3, "engine-1", 1200, 3200, [], 1.2)  # found nothing
    acquire(h, 4, "engine-1", 1300, 3300, [{"job": "j-5", "rev": 1, "key": 0}], 1.3, type_="info")
    assert findings(h) == {}


def test_two_acknowledged_executions_of_one_job():
    h = H()
    for p, sid, node in ((1, 7, "n1"), (2, 8, "n2")):
        h.op(p, "execute", {"owner": f"engine-{p}", "sid": sid},
             {"job": "j-5", "job_rev": 2, "key": 0, "exec": "pi-0-1", "rev": 3, "joined": True, "seq": 3 + p,
              "list": []},
             1.0 + p, node=node)
    f = findings(h)
    assert "double-execution" in f
    assert "j-5" in f["double-execution"][0]["explanation"]


def test_job_effects_in_final_state():
    h = H()
    st = state(0, [(0, 1)])
    h.final(3, {"n1": {"tables": tables({0: st}, effects=[("job", "j-5", 7, "n1"), ("job", "j-5", 8, "n2")])}}, 3.0)
    f = findings(h)
    assert list(f) == ["double-execution"]
    h2 = H()
    h2.final(3, {"n1": {"tables": tables({0: st}, effects=[("job", "j-5", 7, "n1"), ("job", "j-6", 8, "n2")])}},
             3.0)
    assert findings(h2) == {}


# --- duplicate-instance ----------------------------------------------------------------------------

def test_two_committed_starts_of_one_business_key():
    h = H()
    h.start(0, 0, 1, 0.0, node="n1")
    h.start(1, 0, 2, 0.0, node="n2")
    f = findings(h)
    assert "duplicate-instance" in f and "bk-0" in f["duplicate-instance"][0]["explanation"]


def test_second_start_failing_is_fine_and_unknown_one_is_not_assumed():
    h = H()
    h.start(0, 0, 1, 0.0, node="n1")
    h.start(1, 0, 2, 0.0, node="n2", type_="fail", error="1062: Duplicate entry")
    h.start(2, 0, 3, 0.0, node="n2", type_="info")
    assert findings(h) == {}


def test_read_sees_two_instances():
    h = H()
    h.start(0, 0, 1, 0.0)
    h.resume(1, 0, state(0, [(0, 1)], n_exec=2), 1.0)
    assert list(findings(h)) == ["duplicate-instance"]


def test_duplicate_instance_not_checked_without_unique_index():
    h = H()
    h.op(0, "start", {"key": 0, "sid": 1, "unique": False}, {"exec": "pi-0-1"}, 0.0)
    h.op(1, "start", {"key": 0, "sid": 2, "unique": False}, {"exec": "pi-0-2"}, 0.0)
    assert "duplicate-instance" not in findings(h)


# --- divergence ------------------------------------------------------------------------------------

def test_divergence_names_table_nodes_and_replication_error():
    h = clean_run()
    a = state(0, [(0, 1), (1, 2), (2, 3)])
    b = {**a, "rev": 9}
    h.final(3, {"n1": {"tables": tables({0: a})},
                "n2": {"tables": tables({0: b}), "replication": {"io_running": "Yes", "sql_running": "No",
                                                                "last_error": "1062: Duplicate entry"}}},
            3.0, settled=False)
    f = findings(h)
    assert set(f) == {"divergence", "replication-halted"}
    d = f["divergence"]
    assert {x["table"] for x in d} == {"ACT_RU_EXECUTION", "ACT_RU_VARIABLE", "ACT_GE_BYTEARRAY"}
    assert "1062" in d[0]["explanation"] and d[0]["nodes"] == ["n1", "n2"]


def test_only_the_last_final_read_counts_for_divergence():
    h = clean_run()
    a = state(0, [(0, 1), (1, 2), (2, 3)])
    h.final(3, {"n1": {"tables": tables({0: a})}, "n2": {"tables": tables({0: {**a, "rev": 9}})}}, 3.0)
    h.final(4, {"n1": {"tables": tables({0: a})}, "n2": {"tables": tables({0: a})}}, 4.0)
    assert "divergence" not in findings(h)


def test_node_that_did_not_answer_is_not_compared():
    h = clean_run()
    a = state(0, [(0, 1), (1, 2), (2, 3)])
    h.final(3, {"n1": {"tables": tables({0: a})}, "n2": {"tables": None, "error": "2003: refused"}}, 3.0)
    assert findings(h) == {}


# --- list-append encoding and verdict --------------------------------------------------------------

def test_list_append_encoding():
    h = clean_run()
    st = state(0, [(0, 1), (1, 2), (2, 3)])
    h.final(3, {"n1": {"tables": tables({0: st})}, "n2": {"tables": tables({0: st})}}, 3.0)
    la = sr.list_append_history(h.ops)
    idx = [o["index"] for o in la]
    assert idx == sorted(idx) and set(idx) <= {o["index"] for o in h.ops}
    oks = [o["value"] for o in la if o["type"] == "ok"]
    assert oks[0] == [["append", 0, 1]]
    assert oks[1] == [["r", 0, [1]], ["append", 0, 2]]
    assert oks[2] == [["r", 0, [1, 2]]]
    assert oks[-1] == oks[-2] == [["r", 0, [1, 2, 3]]]
    invokes = [o["value"] for o in la if o["type"] == "invoke"]
    assert invokes[1] == [["r", 0, None], ["append", 0, 2]]
    finals = [o for o in la if o.get("node") in ("n1", "n2") and o["process"] >= sr.FINAL_PROCESS_BASE]
    assert len({o["process"] for o in finals}) == 2


def test_info_execute_is_encoded_only_when_a_read_reveals_its_instance():
    h = clean_run()
    h.op(5, "execute", {"owner": "engine-0", "sid": 9}, None, 2.6, type_="info")
    h.op(6, "execute", {"owner": "engine-0", "sid": 10}, None, 2.6, type_="info")
    h.resume(4, 0, state(0, [(0, 1), (1, 2), (2, 3), (3, 9)]), 3.0)
    la = sr.list_append_history(h.ops)
    appended = [m[2] for o in la for m in o["value"] if m[0] == "append"]
    assert 9 in appended and 10 not in appended


def test_verdict_shapes():
    pytest.importorskip("checkers.list_append")
    h = clean_run()
    st = state(0, [(0, 1), (1, 2), (2, 3)])
    h.final(3, {"n1": {"tables": tables({0: st})}}, 3.0)
    ok = sr.check(h.ops)
    assert ok["valid"] is True and ok["anomaly_types"] == [] and ok["model"] == "read-committed"
    h.resume(4, 0, state(0, [(0, 1)]), 3.5, node="n2")
    bad = sr.check(h.ops)
    assert bad["valid"] is False and "stale-resume" in bad["anomaly_types"]
    assert "stale-resume" in bad["engine_mapping"] and bad["not"]


def test_an_engine_invariant_the_model_allows_still_makes_the_history_invalid():
    """torn-state rules out monotonic-atomic-view and up, yet breaks the engine at read committed
    too: invalid, with `not` naming the models it rules out and no unknown reason."""
    pytest.importorskip("checkers.list_append")
    h = clean_run()
    h.resume(4, 0, {**state(0, [(0, 1), (1, 2), (2, 3)]), "var": "1:2"}, 3.0)
    bad = sr.check(h.ops, "read-committed")
    assert bad["valid"] is False and bad["anomaly_types"] == ["torn-state"] and "unknown_reason" not in bad
    assert bad["not"] == ["monotonic-atomic-view"] and "read-committed" not in bad["also_not"]
    assert bad["engine_mapping"] == {"torn-state": "fractured read / read skew (G-single): one read saw parts "
                                                   "of different transactions"}


def test_empty_history_is_unknown():
    pytest.importorskip("checkers.list_append")
    assert sr.check([])["valid"] == "unknown"


def test_missing_final_read_is_said():
    pytest.importorskip("checkers.list_append")
    r = sr.check(clean_run().ops)
    assert r["valid"] is True and "no final read" in r["notes"][0]


@pytest.mark.parametrize("mutate,needle", [
    (lambda ops: ops[1].update(value=[1, 2]), "value must be an object"),
    (lambda ops: ops[3]["value"].pop("rev"), "value.rev missing"),
    (lambda ops: ops[5]["value"]["state"].update(hist="0:1"), "value.state.hist missing"),
    (lambda ops: [o.update(f="txn") for o in ops], "another workload's history"),
])
def test_unusable_histories_are_one_line_errors_with_the_line(tmp_path, mutate, needle):
    from checkers.history import HistoryError, read_history, write_history
    ops = clean_run().ops
    mutate(ops)
    path = tmp_path / "history.jsonl"
    write_history(path, ops)
    with pytest.raises(HistoryError) as e:
        sr.validate(read_history(path))
    assert needle in str(e.value) and str(e.value).startswith(str(path)) and "\n" not in str(e.value)


# --- ids, locks, replication (checkers/engine_locks.py) --------------------------------------------

def cmd(h, p, f, value, done, t0, node="n1", **kw):
    return h.op(p, f, value, done, t0, node=node, **kw)


def test_overlapping_id_blocks_are_duplicate_ids():
    h = H()
    cmd(h, 0, "deploy", {"engine": 0, "resource": "r1"}, {"deployed": False, "version": 0,
                                                         "id_blocks": [[1, 101, 1]]}, 0.0)
    cmd(h, 1, "deploy", {"engine": 1, "resource": "r1"}, {"deployed": False, "version": 0,
                                                         "id_blocks": [[1, 101, 1]]}, 0.0, node="n2")
    f = findings(h)
    assert list(f) == ["duplicate-id"] and f["duplicate-id"][0]["ids"] == [1, 100]
    assert "engine-0" in f["duplicate-id"][0]["explanation"] and "engine-1" in f["duplicate-id"][0]["explanation"]
    twin = H()
    cmd(twin, 0, "deploy", {"engine": 0, "resource": "r1"}, {"deployed": False, "version": 0,
                                                            "id_blocks": [[1, 101, 1]]}, 0.0)
    cmd(twin, 1, "deploy", {"engine": 1, "resource": "r1"}, {"deployed": False, "version": 0,
                                                            "id_blocks": [[101, 201, 2]]}, 0.0, node="n2")
    assert findings(twin) == {}


def test_two_acknowledged_rows_with_one_id():
    h = clean_run()
    h.ops[1]["value"]["created"] = [["ACT_RU_EXECUTION", "7"]]
    h.ops[3]["value"]["created"] = [["ACT_RU_TASK", "7"]]
    f = findings(h)
    assert list(f) == ["duplicate-id"] and f["duplicate-id"][0]["id"] == "7"
    h.ops[3]["value"]["created"] = [["ACT_RU_TASK", "8"]]
    assert findings(h) == {}


def deploy(h, p, version, def_id, t0, deployed=True, node="n1"):
    return cmd(h, p, "deploy", {"engine": p, "resource": "r2"},
               {"deployed": deployed, "version": version, "def": def_id if deployed else None}, t0, node=node)


def test_two_deployments_of_one_version():
    h = H()
    deploy(h, 0, 2, "order-process:2:11", 1.0)
    deploy(h, 1, 2, "order-process:2:21", 1.0, node="n2")
    f = findings(h)
    assert list(f) == ["duplicate-definition"] and f["duplicate-definition"][0]["version"] == 2
    twin = H()
    deploy(twin, 0, 2, "order-process:2:11", 1.0)
    deploy(twin, 1, 2, None, 1.1, deployed=False, node="n2")  # duplicate filtering: nothing new
    assert findings(twin) == {}


def test_final_state_with_two_definitions_of_one_version():
    h = H()
    st = state(0, [(0, 1)])
    defs = [["order-process:1:5", "order-process", 1, "4"], ["order-process:1:9", "order-process", 1, "8"]]
    h.final(3, {"n1": {"tables": tables({0: st}, extra={"ACT_RE_PROCDEF": defs})}}, 3.0)
    assert list(findings(h)) == ["duplicate-definition"]
    h2 = H()
    h2.final(3, {"n1": {"tables": tables({0: st}, extra={"ACT_RE_PROCDEF": defs[:1]})}}, 3.0)
    assert findings(h2) == {}


def acq(h, p, owner, jobs, t0, t1=None, lease=2.0, node="n1"):
    now = int(t0 * 1000)
    return h.op(p, "acquire", {"owner": owner}, {"now": now, "exp": now + int(lease * 1000), "lease": lease,
                                                 "jobs": jobs}, t0, t1=t1, node=node)


def test_exclusive_jobs_of_one_instance_held_by_two_executors():
    h = H()
    acq(h, 1, "engine-0", [{"job": "j1", "rev": 1, "exec": "pi-0-1"}], 1.0)
    acq(h, 2, "engine-1", [{"job": "j2", "rev": 1, "exec": "pi-0-1"}], 1.5, node="n2")
    f = findings(h)
    assert list(f) == ["exclusive-overlap"] and f["exclusive-overlap"][0]["exec"] == "pi-0-1"


def test_exclusive_jobs_in_turn_are_fine():
    h = H()
    acq(h, 1, "engine-0", [{"job": "j1", "rev": 1, "exec": "pi-0-1"}], 1.0)
    # j1 executed (deleted) at 1.2 s, so engine-0's lock ended then, before engine-1 took j2
    h.op(3, "execute", {"owner": "engine-0", "sid": 5},
         {"job": "j1", "job_rev": 2, "key": 0, "exec": "pi-0-1", "rev": 4, "joined": False}, 1.2)
    acq(h, 2, "engine-1", [{"job": "j2", "rev": 1, "exec": "pi-0-1"}], 1.5, node="n2")
    acq(h, 4, "engine-1", [{"job": "j3", "rev": 1, "exec": "pi-0-1"}], 3.2, node="n2")  # after expiry
    assert findings(h) == {}


def test_an_open_execute_may_have_ended_the_lock():
    h = H()
    acq(h, 1, "engine-0", [{"job": "j1", "rev": 1, "exec": "pi-0-1"}], 1.0)
    h.op(3, "execute", {"owner": "engine-0", "sid": 5}, None, 1.2, type_="info")
    acq(h, 2, "engine-1", [{"job": "j2", "rev": 1, "exec": "pi-0-1"}], 1.5, node="n2")
    assert findings(h) == {}


def correlate(h, p, sid, sub, t0, node="n1", type_="ok"):
    return h.op(p, "correlate", {"key": 0, "sid": sid, "engine": 0},
                {"exec": "pi-0-1", "subscription": sub}, t0, node=node, type_=type_)


def test_one_message_correlated_twice():
    h = H()
    correlate(h, 1, 5, "s1", 1.0)
    correlate(h, 2, 6, "s1", 1.0, node="n2")
    f = findings(h)
    assert list(f) == ["exclusive-overlap"] and f["exclusive-overlap"][0]["subscription"] == "s1"
    twin = H()
    correlate(twin, 1, 5, "s1", 1.0)
    correlate(twin, 2, 6, "s1", 1.0, node="n2", type_="fail")
    correlate(twin, 3, 7, "s2", 2.0)
    assert findings(twin) == {}


def test_two_history_cleanup_jobs():
    h = H()
    cmd(h, 0, "schedule-cleanup", {"engine": 0}, {"job": "c1", "existing": []}, 0.0)
    cmd(h, 1, "schedule-cleanup", {"engine": 1}, {"job": "c2", "existing": []}, 0.0, node="n2")
    assert list(findings(h)) == ["duplicate-cleanup-job"]
    twin = H()
    cmd(twin, 0, "schedule-cleanup", {"engine": 0}, {"job": "c1", "existing": []}, 0.0)
    cmd(twin, 1, "schedule-cleanup", {"engine": 1}, {"job": None, "existing": ["c1"]}, 0.1, node="n2")
    assert findings(twin) == {}


def test_halted_replication_names_the_first_write_the_node_never_got():
    h = clean_run()
    h.ops[3]["value"]["created"] = [["ACT_HI_ACTINST", "userTask:2"]]  # save #2, on n1
    st = state(0, [(0, 1), (1, 2), (2, 3)])
    stuck = {"io_running": "Yes", "sql_running": "No", "last_error": "1062: Duplicate entry 'bk-7'"}
    h.final(3, {"n1": {"tables": tables({0: st})},
                "n2": {"tables": tables({0: state(0, [(0, 1)])}), "replication": stuck}}, 3.0)
    f = findings(h)
    (x,) = f["replication-halted"]
    assert x["nodes"] == ["n2"] and "1062" in x["error"] and "save #2" in x["explanation"] and x["missed"] == 1
    running = {"io_running": "Yes", "sql_running": "Yes"}
    h2 = clean_run()
    h2.final(3, {"n1": {"tables": tables({0: st})}, "n2": {"tables": tables({0: st}), "replication": running}}, 3.0)
    assert findings(h2) == {}


def test_next_day_resume_counts_wrong_instances_per_node():
    h = clean_run()
    h.start(5, 1, 11, 0.0)
    now, old = state(0, [(0, 1), (1, 2), (2, 3)]), state(0, [(0, 1), (1, 2)])
    one = state(1, [(0, 11)])
    h.final(3, {"n1": {"tables": tables({0: now, 1: one})}, "n2": {"tables": tables({0: now, 1: one})}}, 3.0,
            resumes={"n1": {"bk-0": now, "bk-1": one}, "n2": {"bk-0": old, "bk-1": None}})
    f = findings(h)
    (x,) = f["next-day-resume"]
    assert x["nodes"] == ["n2"] and x["wrong"] == 2 and x["instances"] == 2
    assert "step 1 instead of 2" in x["explanation"] and "no such instance" in x["explanation"]
    h2 = clean_run()
    h2.final(3, {"n1": {"tables": tables({0: now})}}, 3.0, resumes={"n1": {"bk-0": now}, "n2": {"bk-0": now}})
    assert findings(h2) == {}


# --- REV_ as a compare-and-set register (checkers/engine_registers.py) ----------------------------

def test_rev_register_failed_compare_and_open_saves():
    h = clean_run()
    h.op(3, "save", {"key": 0, "sid": 4}, None, 2.2, type_="fail", error="optimistic lock: execution pi-0-1 ...")
    h.ops[-1]["value"].update(exec="pi-0-1", rev=2, conflict="execution")  # read 2 after the cas 2 -> 3: a
    assert findings(h) == {}                                             # mismatch that is right
    h.ops[-1]["value"]["rev"] = 3  # but the register held 3 all along: a compare with 3 cannot fail
    (x,) = findings(h)["rev-nonlinearizable"]
    assert x["exec"] == "pi-0-1" and "REV_" in x["explanation"] and x["ops"]


def test_rev_register_leaves_out_instances_an_open_save_may_have_moved():
    h = clean_run()
    h.save(1, 0, 4, rev=3, seq=3, lst=[1, 2, 3], t0=2.6, type_="info")
    h.resume(4, 0, state(0, [(0, 1), (1, 2), (2, 3)]), 3.0)
    h.resume(5, 0, {**state(0, [(0, 1), (1, 2), (2, 3)]), "rev": 9}, 3.5)  # moved by the open save?
    from checkers.engine_registers import register_ops
    ops, blind = register_ops(sr.pair_ops(h.ops))
    assert blind == {"pi-0-1"} and ops == []
    assert "rev-nonlinearizable" not in findings(h)


def test_a_later_open_execute_ends_the_lock_though_an_earlier_one_did_not():
    """engine-0's first open execute (0.5 s) predates its lock on j1 (1.0 s); a second one (1.2 s) may
    have executed j1 before engine-1 took j2 (1.5 s). The checker once kept only each owner's FIRST
    open execute, so the second was ignored and this correct history was an exclusive-overlap."""
    h = H()
    h.op(5, "execute", {"owner": "engine-0", "sid": 4}, None, 0.5, type_="info")
    acq(h, 1, "engine-0", [{"job": "j1", "rev": 1, "exec": "pi-0-1"}], 1.0)
    h.op(3, "execute", {"owner": "engine-0", "sid": 5}, None, 1.2, type_="info")
    acq(h, 2, "engine-1", [{"job": "j2", "rev": 1, "exec": "pi-0-1"}], 1.5, node="n2")
    assert findings(h) == {}
    twin = H()  # without the second open execute nothing ended engine-0's lock: a real overlap
    twin.op(5, "execute", {"owner": "engine-0", "sid": 4}, None, 0.5, type_="info")
    acq(twin, 1, "engine-0", [{"job": "j1", "rev": 1, "exec": "pi-0-1"}], 1.0)
    acq(twin, 2, "engine-1", [{"job": "j2", "rev": 1, "exec": "pi-0-1"}], 1.5, node="n2")
    assert list(findings(twin)) == ["exclusive-overlap"]


def test_an_open_execute_invoked_before_the_lock_whose_effect_shows_ended_it():
    """engine-0's execute is invoked at 0.9 s, engine-0 locks j1 at 1.0 s, and the execute (still
    running) takes j1 and commits: its effect row on j1 is in the final state. engine-1's lock on j2
    at 1.5 s is then no overlap. An effect row on ANOTHER job proves the execute left j1 alone."""
    def run(effect_target):
        h = H()
        h.op(5, "execute", {"owner": "engine-0", "sid": 4}, None, 0.9, type_="info")
        acq(h, 1, "engine-0", [{"job": "j1", "rev": 1, "exec": "pi-0-1"}], 1.0)
        acq(h, 2, "engine-1", [{"job": "j2", "rev": 1, "exec": "pi-0-1"}], 1.5, node="n2")
        h.final(9, {"n1": {"tables": tables({}, effects=[("job", effect_target, 4, "n1")])}}, 3.0)
        return findings(h)
    assert run("j1") == {}
    assert list(run("j0")) == ["exclusive-overlap"]
