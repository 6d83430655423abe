"""The engine checker on hand-written histories: each invariant is shown by a history that breaks it
and NOT reported for a near twin that does not (no false positives, nothing resting on info ops)."""
import pytest

from checkers import save_resume as sr


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

    def final(self, p, nodes, t0, settled=True, **kw):
        return self.op(p, "final", {}, {"nodes": nodes, "settled": settled, "waited": 0.0}, t0, **kw)


def state(key, steps, exec_sid=None, var=None, tasks=None, jobs=None, act=None, n_exec=1):
    """A whole state of instance `key` whose history is steps = [(seq, sid), ...]; override parts
    to make it torn."""
    steps = [list(s) for s in steps]
    q, x = max(steps)
    ex = f"pi-{key}-{exec_sid if exec_sid is not None else steps[0][1]}"
    return {"exec": ex, "rev": q + 1, "seq": q, "act": act or f"step-{q}-{x}",
            "var": var if var is not None else f"{q}:{x}",
            "tasks": tasks if tasks is not None else ([] if jobs else [f"t-{x}"]),
            "jobs": jobs or [], "hist": steps, "n_exec": n_exec}


def tables(instances: dict, job_effect=()):
    """A node's final dump from {key: state}."""
    t = {k: [] for k in sr_tables()}
    for key, st in instances.items():
        t["ru_execution"].append([st["exec"], st["rev"], f"bk-{key}", st["act"], st["seq"]])
        t["ru_variable"].append([f"v-{st['exec']}", st["rev"], st["exec"], "step", st["var"]])
        for task in st["tasks"]:
            t["ru_task"].append([task, 1, st["exec"], f"task-{st['seq']}"])
        for job in st["jobs"]:
            t["ru_job"].append([job, 1, st["exec"], None, None, 3, 0])
        for seq, sid in st["hist"]:
            t["hi_actinst"].append([sid, st["exec"], seq, f"step-{seq}-{sid}", "n1"])
    t["job_effect"] = [list(r) for r in job_effect]
    return t


def sr_tables():
    return ["ru_execution", "ru_variable", "ru_task", "ru_job", "hi_actinst", "job_effect"]


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
    assert list(f) == ["stale-resume"]
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
    assert list(f) == ["double-win"]
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
    st["act"], st["var"], st["tasks"] = "step-1-3", "1:3", ["t-3"]
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
    ({"var": "1:2"}, "variable says"),
    ({"tasks": []}, "nothing"),
    ({"tasks": ["t-3", "t-2"]}, "task t-2, task t-3"),
    ({"act": "step-2-9"}, "history's last entry"),
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
    h.resume(2, 0, state(0, [(0, 1), (1, 2)], jobs=["j-2"]), 2.0)
    assert findings(h) == {}


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
             {"job": "j-5", "job_rev": 2, "key": 0, "exec": "pi-0-1", "rev": 3, "seq": 3 + p, "list": []},
             1.0 + p, node=node)
    f = findings(h)
    assert "double-execution" in f
    assert "j-5" in f["double-execution"][0]["explanation"]


def test_job_effects_in_final_state():
    h = H()
    st = state(0, [(0, 1)])
    h.final(3, {"n1": {"tables": tables({0: st}, job_effect=[("j-5", 7, "n1"), ("j-5", 8, "n2")])}}, 3.0)
    f = findings(h)
    assert list(f) == ["double-execution"]
    h2 = H()
    h2.final(3, {"n1": {"tables": tables({0: st}, job_effect=[("j-5", 7, "n1"), ("j-6", 8, "n2")])}}, 3.0)
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
                "n2": {"tables": tables({0: b}), "replication": "replica IO=Yes SQL=No error: 1062"}},
            3.0, settled=False)
    f = findings(h)
    assert list(f) == ["divergence"]
    d = f["divergence"]
    assert {x["table"] for x in d} == {"ru_execution", "ru_variable"}
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
