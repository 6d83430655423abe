"""The engine checker: would real process instances have survived this history?

Judges histories of the save-resume workload (workloads/save_resume.py documents the op encoding).
Each finding breaks one engine invariant, is explained in plain words (instance, nodes, times) and
carries the isolation anomaly behind it. The invariants (what each means, what in a history shows
it, the anomaly behind it, the models it rules out) are entries of checkers/anomalies.py: lost-save,
double-win, stale-resume, double-execution, duplicate-instance, torn-state and divergence are
checked here; duplicate-id, duplicate-definition, exclusive-overlap, duplicate-cleanup-job,
replication-halted and next-day-resume from ids, locks and replication (checkers/engine_locks.py);
rev-nonlinearizable from each execution row's REV_ checked as a linearizable compare-and-set register
(checkers/engine_registers.py). A broken invariant makes the history invalid under every model.

Beside those, every instance's step list is encoded as a list-append key (each start/save/execute
appends its save id, every read reads the list) and judged by checkers.list_append: anomalies the
model forbids make the history invalid; the others are reported under `context`.

No finding rests on an `info` op having or not having happened: an info write counts as committed
only when some read shows its save id, and its completion time is never used.
"""
from __future__ import annotations

import math
from collections import defaultdict

from checkers.anomalies import BY_NAME as _ANOMALIES
from checkers.history import line_of, source_of
from checkers.pairing import pair

WRITE_FS = ("start", "save", "execute")
DEFAULT_MODEL = "read-committed"
FINAL_PROCESS_BASE = 10 ** 6  # list-append process numbers of the final reads' per-node dumps


# --- pairing invokes with completions --------------------------------------------------------------

class Txns(list):
    """The paired operations of a history; caches what several invariants derive from them."""
    observations = None
    registers = None  # facts of the REV_ register check (checkers.engine_registers)


def pair_ops(history: list[dict]) -> "Txns":
    """One record per client operation (checkers.pairing's rules): f, type, value (the completion's
    when it has one), node, process, t0 (invoke time), t1 (completion time; inf for info), invoke,
    done (the ops). A completion without invoke (a truncated prefix) is judged as it stands."""
    ops = [op for op in history if op.get("f") is not None]
    keep = range(len(history)) if len(ops) == len(history) else \
        [i for i, op in enumerate(history) if op.get("f") is not None]
    txns = Txns()
    for pr in pair(ops, source_of(history), lambda i: line_of(history, keep[i]) or keep[i] + 1):
        inv, op = pr.invoke, pr.done
        if inv is not None:
            rec = {"f": inv.get("f"), "type": "info", "value": inv.get("value"), "node": inv.get("node"),
                   "process": inv.get("process"), "t0": inv.get("time", 0), "t1": math.inf, "invoke": inv,
                   "done": None}
        else:
            rec = {"f": op.get("f"), "process": op.get("process"), "t0": op.get("time", 0), "invoke": None}
        txns.append(rec)
        if op is None:
            continue
        rec["type"] = op.get("type")
        rec["done"] = op
        rec["node"] = op.get("node") or rec.get("node")
        if op.get("type") == "ok" or op.get("value") is not None:
            rec["value"] = op.get("value") if op.get("value") is not None else rec.get("value")
        rec["t1"] = op.get("time", rec["t0"]) if op.get("type") != "info" else math.inf
    return txns


def _v(rec) -> dict:
    return rec["value"] if isinstance(rec.get("value"), dict) else {}


def _secs(t) -> str:
    return "never acknowledged" if t == math.inf else f"{t / 1e9:.3f} s"


def _idx(rec) -> list[int]:
    return [o["index"] for o in (rec.get("invoke"), rec.get("done")) if o and "index" in o]


def _who(rec) -> str:
    """'save #12 (process 3, on n2, 1.234 s -> 1.240 s)'"""
    v = _v(rec)
    sid = v.get("sid")
    name = f"{rec['f']} #{sid}" if sid is not None else rec["f"]
    return (f"{name} (process {rec['process']}, on {rec.get('node') or '?'}, "
            f"invoked {_secs(rec['t0'])}, {rec['type']} {_secs(rec.get('t1', math.inf))})")


# --- states: what a read saw of one instance -------------------------------------------------------

def rows(final_txn, dump: dict, table: str) -> list[dict]:
    """A final dump's rows of `table` as column -> value (the final op names its columns)."""
    cols = (_v(final_txn).get("columns") or {}).get(table) or []
    return [dict(zip(cols, r)) for r in (dump.get("tables") or {}).get(table) or []]


def states_of_dump(final_txn, dump: dict) -> dict[int, list[dict]]:
    """Instance key -> list of execution states (one per execution row of the business key), from one
    node's final dump, in the shape a resume returns."""
    var, order, bytes_of = defaultdict(list), defaultdict(list), {}
    for b in rows(final_txn, dump, "ACT_GE_BYTEARRAY"):
        bytes_of[b["ID_"]] = b["BYTES_"]
    for r in rows(final_txn, dump, "ACT_RU_VARIABLE"):
        if r["NAME_"] == "step":
            var[r["EXECUTION_ID_"]].append(r["TEXT_"])
        elif r["NAME_"] == "order":
            order[r["EXECUTION_ID_"]].append(bytes_of.get(r["BYTEARRAY_ID_"]))
    tasks, jobs, hist = defaultdict(list), defaultdict(list), defaultdict(list)
    for r in rows(final_txn, dump, "ACT_RU_TASK"):
        tasks[r["EXECUTION_ID_"]].append(r["DESCRIPTION_"])
    for r in rows(final_txn, dump, "ACT_RU_JOB"):
        if r["HANDLER_TYPE_"] == "async-continuation":
            jobs[r["PROCESS_INSTANCE_ID_"]].append(r["HANDLER_CFG_"])
    for r in rows(final_txn, dump, "ACT_HI_ACTINST"):
        hist[r["PROC_INST_ID_"]].append([r["SEQUENCE_COUNTER_"], sid_of(r["ID_"])])
    out = defaultdict(list)
    for e in rows(final_txn, dump, "ACT_RU_EXECUTION"):
        eid = e["ID_"]
        out[key_of_business_key(e["BUSINESS_KEY_"])].append({
            "exec": eid, "rev": e["REV_"], "seq": e["SEQUENCE_COUNTER_"], "act": e["ACT_INST_ID_"],
            "var": _one_or_all(var.get(eid)), "order": _one_or_all(order.get(eid)),
            "tasks": sorted(tasks.get(eid, []), key=str), "jobs": sorted(jobs.get(eid, []), key=str),
            "hist": sorted(hist.get(eid, []), key=_hist_order), "n_exec": None})
    for states in out.values():
        for s in states:
            s["n_exec"] = len(states)
    return dict(out)


def _one_or_all(values):
    return values[0] if values and len(values) == 1 else (values or None)


def key_of_business_key(bkey) -> int | str:
    """'bk-7' -> 7 (the workload's business keys); anything else stays as it is."""
    if isinstance(bkey, str) and bkey.startswith("bk-") and bkey[3:].isdigit():
        return int(bkey[3:])
    return bkey


def sid_of(activity_instance) -> int | None:
    """'userTask:123' / 'serviceTask:123#2' -> 123: the save id of the write that made it."""
    if not isinstance(activity_instance, str) or ":" not in activity_instance:
        return None
    tail = activity_instance.split(":", 1)[1].split("#", 1)[0]
    return int(tail) if tail.isdigit() else None


def _hist_order(entry):
    seq, sid = entry
    return (seq if isinstance(seq, int) else -1, sid if isinstance(sid, int) else -1)


def hist_list(state) -> list[int]:
    """The instance's step list as list-append sees it: save ids in (seq, id) order."""
    return [sid for _, sid in sorted(state.get("hist") or [], key=_hist_order)]


# --- the reads of a history ------------------------------------------------------------------------

def reads(txns) -> list[tuple[dict, int | str, dict | None, str]]:
    """Every observation of an instance: (txn, key, state or None, node). From ok resumes (state may
    be None: no instance visible) and ok final reads (one per instance present on the node)."""
    if getattr(txns, "observations", None) is not None:
        return txns.observations
    out = []
    for t in txns:
        if t["type"] != "ok":
            continue
        v = _v(t)
        if t["f"] == "resume":
            out.append((t, v.get("key"), v.get("state"), v.get("node") or t.get("node")))
    for t, node, dump in final_dumps(txns):
        for key, states in states_of_dump(t, dump).items():
            out.append((t, key, primary_state(states), node))
    if isinstance(txns, Txns):
        txns.observations = out
    return out


def final_dumps(txns) -> list[tuple[dict, str, dict]]:
    """(final txn, node, dump) for every node an ok final read dumped. A final op's value is
    {"nodes": {node: {"tables": {...}, "replication": text|None}}, "settled": bool, ...}."""
    out = []
    for t in txns:
        if t["type"] == "ok" and t["f"] == "final":
            for node, dump in sorted((_v(t).get("nodes") or {}).items()):
                if isinstance(dump, dict) and dump.get("tables") is not None:
                    out.append((t, node, dump))
    return out


def primary_state(states: list[dict]) -> dict | None:
    """The execution ops act on when a key has several (the smallest id), as the workload does."""
    return min(states, key=lambda s: str(s["exec"])) if states else None


def observed_sids(txns) -> dict[int, tuple[dict, str]]:
    """save id -> (a txn that read it, node): proof that the write committed."""
    seen = {}
    for t, key, state, node in reads(txns):
        for _, sid in (state or {}).get("hist") or []:
            seen.setdefault(sid, (t, node))
    for t in txns:  # the step lists saves/executes read before appending are reads too
        if t["type"] == "ok" and t["f"] in ("save", "execute"):
            for sid in _v(t).get("list") or []:
                seen.setdefault(sid, (t, t.get("node")))
    for t, node, dump in final_dumps(txns):
        for r in rows(t, dump, "HARNESS_EFFECT"):
            seen.setdefault(r["ATTEMPT_"], (t, node))
    return seen


def makes_step(t) -> bool:
    """Did this write (if it took effect) move its instance one step: a start, a save, or the execute
    of a service step's last job (the join)? An earlier branch's execute only bumps REV_."""
    return t["f"] in ("start", "save") or (t["f"] == "execute" and _v(t).get("joined") is not False)


def writes(txns) -> dict[int, dict]:
    """save id -> the start/save/execute txn that carries it (any outcome)."""
    out = {}
    for t in txns:
        if t["f"] in WRITE_FS:
            sid = _v(t).get("sid")
            if sid is not None:
                out[sid] = t
    return out


# --- the invariants --------------------------------------------------------------------------------

def _finding(kind, explanation, recs, **extra) -> dict:
    ops = sorted({i for r in recs if r for i in _idx(r)})
    return {"explanation": explanation, "isolation": _ANOMALIES[kind].behind, "ops": ops, **extra}


def check_history_sequences(txns, by_sid) -> tuple[list, list]:
    """lost-save (gaps, duplicates) and double-win (duplicates of committed saves) from every read."""
    lost, double = [], []
    seen_gap, seen_dup = set(), set()
    for t, key, state, node in reads(txns):
        if not state:
            continue
        by_seq = defaultdict(list)
        for seq, sid in state.get("hist") or []:
            by_seq[seq].append(sid)
        if not by_seq:
            continue
        top = max(by_seq)
        missing = [s for s in range(0, top + 1) if s not in by_seq]
        if missing and (key, node, tuple(missing)) not in seen_gap:
            seen_gap.add((key, node, tuple(missing)))
            lost.append(_finding(
                "lost-save",
                f"Instance {key}: {t['f']} on {node} at {_secs(t['t0'])} shows a history with step(s) "
                f"{', '.join(map(str, missing))} missing out of 0..{top}: the save(s) that made those "
                f"steps are gone although later steps built on them.",
                [t], instance=key, nodes=[node], steps=missing))
        for seq, sids in sorted(by_seq.items()):
            if len(sids) < 2:
                continue
            sig = (key, seq, tuple(sorted(sids)))
            if sig in seen_dup:
                continue
            seen_dup.add(sig)
            writers = [by_sid.get(s) for s in sorted(sids)]
            names = "; ".join(_who(w) if w else f"save #{s} (not in this history)"
                              for s, w in zip(sorted(sids), writers))
            kept = sid_of(state.get("act"))
            keep_txt = (f" The execution row on {node} carries save #{kept}'s step; the other "
                        f"save's work is lost." if state.get("seq") == seq and kept in sids else
                        " At most one of them can be the instance's real history; the others' work is lost.")
            lost.append(_finding(
                "lost-save",
                f"Instance {key}: step {seq} was recorded {len(sids)} times ({t['f']} on {node} at "
                f"{_secs(t['t0'])}): by {names}.{keep_txt}",
                [t] + [w for w in writers if w], instance=key, nodes=[node], steps=[seq]))
            double.append(_finding(
                "double-win",
                f"Instance {key}: {len(sids)} saves both committed step {seq}, i.e. both updated the "
                f"execution from the same revision: {names}. The optimistic lock (UPDATE ... WHERE "
                f"rev=?) should have let exactly one win. Seen by {t['f']} on {node} at {_secs(t['t0'])}.",
                [t] + [w for w in writers if w], instance=key, nodes=sorted(
                    {node} | {w.get("node") for w in writers if w and w.get("node")}), steps=[seq]))
    return lost, double


def check_double_win_acks(txns, already: set) -> list:
    """double-win from acknowledgements alone: two ok writes from the same (execution, revision)."""
    groups = defaultdict(list)
    for t in txns:
        v = _v(t)
        if t["type"] == "ok" and t["f"] in ("save", "execute") and v.get("rev") is not None:
            groups[(v.get("key"), v.get("exec"), v["rev"])].append(t)
    out = []
    for (key, eid, rev), ts in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if len(ts) < 2:
            continue
        seqs = {_v(t).get("seq") for t in ts}
        if any((key, s) in already for s in seqs):
            continue  # already explained from a read that shows the duplicate step
        out.append(_finding(
            "double-win",
            f"Instance {key} (execution {eid}): {len(ts)} writes were acknowledged from the same "
            f"revision {rev}: " + "; ".join(_who(t) for t in ts) + ". The optimistic lock "
            f"(UPDATE ... WHERE rev={rev}) should have let exactly one of them win.",
            ts, instance=key, nodes=sorted({t.get("node") for t in ts if t.get("node")}),
            revision=rev))
    return out


def check_final_missing(txns) -> list:
    """lost-save: an acknowledged write missing from a node's final state."""
    out = []
    acked = [t for t in txns if t["type"] == "ok" and t["f"] in WRITE_FS and makes_step(t)
             and _v(t).get("sid") is not None]
    for f, node, dump in final_dumps(txns):
        states = states_of_dump(f, dump)
        present = defaultdict(set)
        for key, ss in states.items():
            for s in ss:
                present[key].update(sid for _, sid in s.get("hist") or [])
        for w in acked:
            wv = _v(w)
            if w["t1"] >= f["t0"]:
                continue  # acknowledged after this final read began: not yet owed
            key = wv.get("key")
            if wv["sid"] in present.get(key, set()):
                continue
            st = primary_state(states.get(key, []))
            now = (f"is at step {st['seq']} and its history of {len(st['hist'])} steps does not include "
                   f"save #{wv['sid']}" if st else "has no execution for it at all")
            out.append(_finding(
                "lost-save",
                f"Instance {key}: {_who(w)} made step {wv.get('seq', 0)}, but {node}'s final state "
                f"(read at {_secs(f['t0'])}) {now}: the acknowledged step is missing.",
                [w, f], instance=key, nodes=sorted({node, w.get("node")} - {None}),
                steps=[wv.get("seq", 0)]))
    return out


def check_stale_resumes(txns) -> list:
    """stale-resume: a resume returned an older step than one acknowledged (by a write or an earlier
    resume) before it began."""
    # completions in time order, resumes' invocations in time order; sweep
    events = []
    for t in txns:
        v = _v(t)
        if t["type"] != "ok":
            continue
        seq = v.get("seq", 0 if t["f"] == "start" else None)
        if t["f"] in WRITE_FS and seq is not None:
            events.append((t["t1"], 1, t, seq, v.get("exec")))
        elif t["f"] == "resume":
            st = v.get("state")
            events.append((t["t1"], 1, t, st["seq"] if st else -1, st["exec"] if st else None))
            events.append((t["t0"], 0, t, None, None))
    events.sort(key=lambda e: (e[0], e[1]))  # invocations before completions at the same instant
    floor: dict = {}  # key -> (seq, txn, exec) highest step known to be acknowledged
    out = []
    for time, kind, t, seq, eid in events:
        key = _v(t).get("key")
        if kind == 1:
            if seq is not None and seq >= 0 and (key not in floor or seq > floor[key][0]):
                floor[key] = (seq, t, eid)
            continue
        if key not in floor:
            continue
        fseq, witness, feid = floor[key]
        st = _v(t).get("state")
        got = st["seq"] if st else None
        if st and feid is not None and st.get("exec") != feid:
            continue  # another execution of the same key (duplicate-instance reports that)
        if got is not None and got >= fseq:
            continue
        saw = f"step {got}" if st else "no instance at all"
        why = (f"had made step {fseq} and was acknowledged before the resume began"
               if witness["f"] in WRITE_FS else
               f"had already shown step {fseq} and ended before this resume began (reads went backwards)")
        out.append(_finding(
            "stale-resume",
            f"Instance {key}: resume on {t.get('node') or '?'} (process {t['process']}, began "
            f"{_secs(t['t0'])}) returned {saw}, but {_who(witness)} {why}. A user logging in would "
            f"see their work undone.",
            [t, witness], instance=key, nodes=sorted({t.get("node"), witness.get("node")} - {None}),
            returned=got, expected_at_least=fseq))
    return out


def effects(txns, seen, kind: str, f: str, target: str) -> dict:
    """target (a job, a subscription) -> {attempt save id: txn} of every effect that certainly took
    place: ok `f` ops naming the target in value[`target`], open ones whose save id a read shows, and
    HARNESS_EFFECT rows of `kind` in any node's final state (attributed to the final read)."""
    out = defaultdict(dict)
    for t in txns:
        v = _v(t)
        if t["f"] == f and v.get(target) is not None and (
                t["type"] == "ok" or (t["type"] == "info" and v.get("sid") in seen)):
            out[v[target]][v["sid"]] = t
    for fin, node, dump in final_dumps(txns):
        for r in rows(fin, dump, "HARNESS_EFFECT"):
            if r["KIND_"] == kind:
                out[r["TARGET_"]].setdefault(r["ATTEMPT_"], fin)
    return out


def check_double_execution(txns, seen) -> list:
    out = []
    # (a) more than one committed effect per job
    for job, attempts in sorted(effects(txns, seen, "job", "execute", "job").items(), key=lambda kv: str(kv[0])):
        if len(attempts) < 2:
            continue
        recs = list(attempts.values())
        out.append(_finding(
            "double-execution",
            f"Job {job} took effect {len(attempts)} times (attempts "
            f"{', '.join('#' + str(a) for a in sorted(attempts))}): "
            + "; ".join(_who(r) for r in recs if r["f"] == "execute")
            + (". Its effect rows (HARNESS_EFFECT) in a final state prove it." if any(r["f"] == "final" for r in recs)
               else ".") + " A service task would have run twice (e.g. a payment charged twice).",
            recs, job=job, nodes=sorted({r.get("node") for r in recs if r.get("node")})))
    # (b) overlapping live leases held by different owners / two leases from one job revision
    leases = defaultdict(list)
    for t in txns:
        v = _v(t)
        if t["type"] == "ok" and t["f"] == "acquire":
            for j in v.get("jobs") or []:
                leases[j["job"]].append((v["now"], v["exp"], v["owner"], j.get("rev"), t))
    for job, ls in sorted(leases.items()):
        ls.sort(key=lambda x: x[0])
        for i in range(len(ls)):
            for k in range(i + 1, len(ls)):
                a, b = ls[i], ls[k]
                overlap = a[2] != b[2] and b[0] < a[1] and a[0] < b[1]
                same_rev = a[3] is not None and a[3] == b[3]
                if not (overlap or same_rev):
                    continue
                what = (f"both acquired it from revision {a[3]}" if same_rev else
                        f"their leases overlap: {a[2]} held it from {a[0]} until {a[1]} (ms, client "
                        f"clock) and {b[2]} from {b[0]} until {b[1]}")
                out.append(_finding(
                    "double-execution",
                    f"Job {job}: {a[2]} and {b[2]} {what}. Acquisitions: {_who(a[4])}; {_who(b[4])}. "
                    f"Two job executors would run the same job at once.",
                    [a[4], b[4]], job=job, nodes=sorted({a[4].get("node"), b[4].get("node")} - {None})))
    return out


def check_duplicate_instances(txns, seen) -> list:
    unique = any(_v(t).get("unique") for t in txns if t["f"] == "start")
    if not unique:
        return []
    out = []
    exec_of_first_step = {}  # save id of a start -> the execution whose history begins with it
    for t, key, state, node in reads(txns):
        for seq, sid in (state or {}).get("hist") or []:
            if seq == 0:
                exec_of_first_step.setdefault(sid, state["exec"])
    starts = defaultdict(dict)
    for t in txns:
        v = _v(t)
        if t["f"] != "start":
            continue
        eid = v.get("exec") if t["type"] == "ok" else exec_of_first_step.get(v.get("sid"))
        if eid is not None and (t["type"] == "ok" or v.get("sid") in seen):
            starts[v.get("key")][eid] = t
    reported = set()
    for key, ex in sorted(starts.items(), key=lambda kv: str(kv[0])):
        if len(ex) > 1:
            reported.add(key)
            out.append(_finding(
                "duplicate-instance",
                f"Business key bk-{key}: {len(ex)} instances were started and committed ("
                + "; ".join(_who(t) for t in ex.values()) + ") although a unique index on the business "
                "key should allow only one.",
                list(ex.values()), instance=key, nodes=sorted({t.get("node") for t in ex.values()} - {None})))
    for t, key, state, node in reads(txns):
        if key in reported or not state:
            continue
        n = state.get("n_exec") or 1
        if n > 1:
            reported.add(key)
            out.append(_finding(
                "duplicate-instance",
                f"Business key bk-{key}: {t['f']} on {node} at {_secs(t['t0'])} saw {n} running "
                f"instances although a unique index on the business key should allow only one.",
                [t], instance=key, nodes=[node]))
    return out


def torn_reasons(state: dict) -> list[str]:
    """Why one read of an instance is internally inconsistent ([] when it is whole). A whole state
    names one latest write X at step q everywhere: execution ACT_INST_ID_ '<activity>:X' and
    SEQUENCE_COUNTER_ q, variable 'step' 'q:X', the serialized variable's bytes 'q:X', history's top
    entry (q, X), and its successor: at a user task exactly task 'userTask:X'; at the service step one
    or more of its jobs 'serviceTask:X#b' (the branches not yet executed) and no task."""
    reasons = []
    q, act = state.get("seq"), state.get("act")
    x = sid_of(act)
    if x is None:
        return [f"the execution's activity instance {act!r} names no write"]
    for what, field in (("variable 'step'", "var"), ("serialized variable 'order'", "order")):
        if state.get(field) != f"{q}:{x}":
            reasons.append(f"the execution is at step {q} by write #{x} but the {what} says {state.get(field)!r}")
    hist = sorted(state.get("hist") or [], key=_hist_order)
    # the history's last step must be q and include write X (two writes at one step are a double-win,
    # reported as such, not a fractured read)
    if not hist or hist[-1][0] != q or [q, x] not in hist:
        top = hist[-1] if hist else None
        reasons.append(f"the execution is at step {q} by write #{x} but the history's last entry is "
                       + (f"step {top[0]} by write #{top[1]}" if top else "missing"))
    tasks, jobs = list(state.get("tasks") or []), list(state.get("jobs") or [])
    have = ", ".join([f"task {t}" for t in tasks] + [f"job {j}" for j in jobs]) or "nothing"
    if str(act).startswith("serviceTask:"):
        if tasks or not jobs or any(sid_of(j) != x for j in jobs) or len(set(jobs)) != len(jobs):
            reasons.append(f"write #{x} left the instance waiting for its service jobs (serviceTask:{x}#...), "
                           f"but the read shows {have}" + (": no job will ever move it on" if not jobs else ""))
    elif tasks != [f"userTask:{x}"] or jobs:
        reasons.append(f"write #{x} left one user task (userTask:{x}) but the read shows {have}")
    return reasons


def check_torn(txns) -> list:
    out, seen = [], set()
    for t, key, state, node in reads(txns):
        if not state:
            continue
        reasons = torn_reasons(state)
        if not reasons:
            continue
        sig = (key, node, t["f"], tuple(reasons))
        if sig in seen:
            continue
        seen.add(sig)
        out.append(_finding(
            "torn-state",
            f"Instance {key}: {t['f']} on {node} (process {t['process']}, {_secs(t['t0'])}) read a state "
            f"no single transaction left: " + "; ".join(reasons) + ".",
            [t], instance=key, nodes=[node]))
    return out


def check_divergence(txns) -> list:
    """Compare the nodes' dumps of the last ok final read, table by table."""
    dumps = final_dumps(txns)
    if not dumps:
        return []
    last_t = max((t for t, _, _ in dumps), key=lambda t: t["t0"])
    last = {node: dump for t, node, dump in dumps if t is last_t}
    if len(last) < 2:
        return []
    nodes = sorted(last)
    settled = _v(last_t).get("settled")
    waited = _v(last_t).get("waited")
    out = []
    for table in sorted({name for d in last.values() for name in d["tables"]}):
        rows = {n: {tuple(r) for r in last[n]["tables"].get(table) or []} for n in nodes}
        union = set().union(*rows.values())
        differing = sorted((r for r in union if any(r not in rows[n] for n in nodes)), key=str)
        if not differing:
            continue
        examples = [f"{list(r)} only on {', '.join(n for n in nodes if r in rows[n])}" for r in differing[:6]]
        notes = "; ".join(f"{n}: {status_text(last[n]['replication'])}" for n in nodes if last[n].get("replication"))
        out.append(_finding(
            "divergence",
            f"Table {table}: after the faults were healed the nodes {', '.join(nodes)} disagree on "
            f"{len(differing)} row(s) in the final read that began at {_secs(last_t['t0'])}"
            + (f" (still different after waiting {waited} s for replication to catch up)"
               if not settled and waited is not None else "")
            + ". e.g. " + "; ".join(examples) + "." + (f" Replication status: {notes}." if notes else ""),
            [last_t], table=table, nodes=nodes, rows=len(differing)))
    return out


def status_text(status) -> str:
    """A node's replication status in a few words (a dict from the cluster, or text)."""
    if not isinstance(status, dict):
        return str(status)
    keys = ("io_running", "sql_running", "last_error", "state", "receiver", "replay_lag_s", "error")
    return ", ".join(f"{k}={status[k]}" for k in keys if status.get(k) not in (None, ""))


def engine_findings(history: list[dict], txns: Txns | None = None) -> dict[str, list[dict]]:
    """Every engine invariant violation in the history, by anomaly name (only non-empty ones)."""
    txns = txns if txns is not None else pair_ops(history)
    by_sid = writes(txns)
    seen = observed_sids(txns)
    lost, double = check_history_sequences(txns, by_sid)
    dup_steps = {(d["instance"], d["steps"][0]) for d in double}
    found = {
        "lost-save": lost + check_final_missing(txns),
        "double-win": double + check_double_win_acks(txns, dup_steps),
        "stale-resume": check_stale_resumes(txns),
        "double-execution": check_double_execution(txns, seen),
        "duplicate-instance": check_duplicate_instances(txns, seen),
        "torn-state": check_torn(txns),
        "divergence": check_divergence(txns),
    }
    from checkers import engine_locks, engine_registers
    found.update(engine_locks.findings(txns, seen))
    found["rev-nonlinearizable"], txns.registers = engine_registers.check_rev_registers(txns)
    return {k: v for k, v in found.items() if v}


# --- the list-append encoding ----------------------------------------------------------------------

def list_append_history(history: list[dict], txns: Txns | None = None) -> list[dict]:
    """The same history as list-append transactions: one key per instance (its business-key number),
    the values the save ids of its steps; reads read the step list. Invokes get the completion's
    micro-ops with reads unknown (None). An execute's instance is chosen inside its transaction: an
    indeterminate execute whose key no read reveals is dropped (nothing observable rests on it)."""
    txns = txns if txns is not None else pair_ops(history)
    seen_key = {}
    for t, key, state, node in reads(txns):
        for _, sid in (state or {}).get("hist") or []:
            seen_key.setdefault(sid, key)
    out = []
    for t in txns:
        v, done = _v(t), t["type"] == "ok"
        f = t["f"]
        key = v.get("key")
        if f == "start" and v.get("sid") is not None:
            mops = [["append", key, v["sid"]]]
        elif f in ("save", "execute") and v.get("sid") is not None:
            if f == "execute" and not (done and v.get("joined")):
                # only the joining execute touches the step list; an open one counts once a read shows it
                key = None if done else seen_key.get(v["sid"])
            if key is None:
                continue
            lst = v.get("list") if done else None
            mops = [["r", key, list(lst) if lst is not None else None], ["append", key, v["sid"]]]
        elif f == "resume" and done:
            st = v.get("state")
            mops = [["r", key, hist_list(st) if st else []]]
        elif f == "final" and done:
            for i, (node, dump) in enumerate(sorted((v.get("nodes") or {}).items())):
                if not isinstance(dump, dict) or dump.get("tables") is None:
                    continue
                states = states_of_dump(t, dump)
                mops = [["r", k, hist_list(primary_state(s))] for k, s in sorted(states.items(), key=str)]
                # each node's dump is its own read-only transaction, by a process of its own
                p = FINAL_PROCESS_BASE + 100 * (t["process"] if isinstance(t["process"], int) else 0) + i
                t1 = t["done"].get("time", t["t0"])
                out.append((t["t0"], _order(t["invoke"]), {"process": p, "f": "txn", "node": node,
                            "type": "invoke", "time": t["t0"], "value": [[m[0], m[1], None] for m in mops]}))
                out.append((t1, _order(t["done"]), {"process": p, "f": "txn", "node": node, "type": "ok",
                            "time": t1, "value": mops}))
            continue
        else:
            continue  # resume/final that did not complete: a read with no result tells nothing
        if t["type"] == "fail" and f != "start" and key is None:
            continue
        base = {"process": t["process"], "f": "txn"}
        if t.get("node"):
            base["node"] = t["node"]
        inv = {**base, "type": "invoke", "time": t["t0"],
               "value": [[m[0], m[1], None if m[0] == "r" else m[2]] for m in mops]}
        out.append((t["t0"], _order(t["invoke"]), inv))  # (time, original index, op)
        if t.get("done") is not None:
            done_op = {**base, "type": t["type"], "time": t["done"].get("time", t["t0"]), "value": mops}
            if t["done"].get("error"):
                done_op["error"] = t["done"]["error"]
            out.append((done_op["time"], _order(t["done"]), done_op))
    out.sort(key=lambda x: (x[1], x[0]))
    # each derived op keeps the index of the op it came from, so a cycle's "T123" names line 124 of
    # history.jsonl (a final read's per-node dumps share the final op's index; their node tells them apart)
    return [dict(op, index=pos) if pos != math.inf else op for pos, _, op in
            ((p, t, o) for t, p, o in out)]


def _order(op) -> float:
    return op.get("index", math.inf) if op else math.inf


# --- input validation ------------------------------------------------------------------------------

ENGINE_FS = ("schedule-cleanup", "deploy", "start", "save", "resume", "correlate", "acquire", "execute",
             "id-block", "final")
_INT = (int,)
# fields an ok completion must carry, with their types (None allowed where the tuple has type(None))
_OK_FIELDS = {
    "schedule-cleanup": {"existing": (list,)},
    "id-block": {},
    "deploy": {"version": _INT},
    "start": {"key": _INT, "sid": _INT},
    "save": {"key": _INT, "sid": _INT, "exec": (str,), "rev": _INT, "seq": _INT, "list": (list,)},
    "resume": {"key": _INT, "state": (dict, type(None))},
    "correlate": {"key": _INT, "sid": _INT, "exec": (str,), "subscription": (str,)},
    "acquire": {"owner": (str,), "now": _INT, "exp": _INT, "jobs": (list,)},
    "execute": {"sid": _INT, "job": (str,), "key": _INT, "exec": (str,), "rev": _INT},
    "final": {},
}
_OK_FLAGS = {"deploy": "deployed", "execute": "joined"}  # booleans an ok completion must carry
_JOINED_FIELDS = {"seq": _INT, "list": (list,)}           # an execute that joined moved a step
_STATE_FIELDS = {"exec": (str,), "rev": _INT, "seq": _INT, "hist": (list,), "tasks": (list,), "jobs": (list,)}


def validate(history) -> None:
    """Raise HistoryError (FILE:LINE: what is wrong) for a history the engine checker cannot read."""
    from checkers.history import HistoryError, line_of, source_of
    seen_engine_op = False

    def bad(pos, msg):
        line = line_of(history, pos)
        raise HistoryError(source_of(history), line if line is not None else pos + 1, msg)

    for pos, op in enumerate(history):
        if not isinstance(op, dict):
            bad(pos, "an operation must be a JSON object")
        f, typ, v = op.get("f"), op.get("type"), op.get("value")
        if op.get("process") == "nemesis" or f not in ENGINE_FS:
            continue
        seen_engine_op = True
        if not isinstance(v, dict):
            bad(pos, f"{f} op: value must be an object (the save-resume encoding), not {type(v).__name__}")
        if typ != "ok":
            continue
        flag = _OK_FLAGS.get(f)
        if flag and not isinstance(v.get(flag), bool):
            bad(pos, f"ok {f} op: value.{flag} missing or not true/false")
        fields = {**_OK_FIELDS[f], **(_JOINED_FIELDS if f == "execute" and v.get("joined") else {})}
        for field, types in fields.items():
            if field not in v or isinstance(v[field], bool) or not isinstance(v[field], types):
                bad(pos, f"ok {f} op: value.{field} missing or not {'/'.join(t.__name__ for t in types)}")
        st = v.get("state") if f == "resume" else None
        if st is not None:
            for field, types in _STATE_FIELDS.items():
                if not isinstance(st.get(field), types):
                    bad(pos, f"ok resume op: value.state.{field} missing or not {types[0].__name__}")
            if not all(isinstance(h, list) and len(h) == 2 and all(type(x) is int for x in h)
                       for h in st["hist"]):
                bad(pos, "ok resume op: value.state.hist must be [seq, save id] pairs of integers")
        if f == "acquire" and not all(isinstance(j, dict) and "job" in j for j in v["jobs"]):
            bad(pos, "ok acquire op: value.jobs must be objects with a job id")
        if f == "final":
            nodes = v.get("nodes", {})
            if not isinstance(nodes, dict):
                bad(pos, "ok final op: value.nodes must be an object of node -> dump")
            if nodes and not (isinstance(v.get("columns"), dict) and all(
                    isinstance(c, list) and all(isinstance(x, str) for x in c) for c in v["columns"].values())):
                bad(pos, "ok final op: value.columns must map table names to lists of column names")
            if not isinstance(v.get("resumes", {}), dict) or not all(
                    isinstance(r, dict) for r in v.get("resumes", {}).values()):
                bad(pos, "ok final op: value.resumes must map node -> {business key: state}")
            for node, dump in nodes.items():
                tables = dump.get("tables") if isinstance(dump, dict) else 0
                if tables is not None and not (isinstance(tables, dict) and all(
                        isinstance(rows, list) and all(isinstance(r, list) for r in rows)
                        for rows in tables.values())):
                    bad(pos, f"ok final op: value.nodes.{node}.tables must map table names to lists of rows")
    if history and not seen_engine_op:
        raise HistoryError(source_of(history), None, "no save-resume operations (f " + ", ".join(ENGINE_FS)
                           + "): is this another workload's history?")


# --- the verdict -----------------------------------------------------------------------------------

def check(history: list[dict], model: str | None = DEFAULT_MODEL, **opts) -> dict:
    """The DESIGN check object. Valid iff no engine invariant is broken and the list-append
    encoding shows no anomaly `model` (default read-committed) forbids; anomalies the model allows
    are listed under `context`. `not`/`also_not` count every anomaly found, context included."""
    from checkers import models
    from checkers.api import build_result
    model = models.canonical(model or DEFAULT_MODEL)
    validate(history)
    txns = pair_ops(history)
    engine = engine_findings(history, txns)
    la = _list_append_result(history, model, txns)
    la_anoms = la.get("anomalies") or {}
    banned = models.forbidden_by(model)
    forbidden = {k: v for k, v in la_anoms.items() if k in banned}
    allowed = {k: v for k, v in la_anoms.items() if k not in banned}
    times = [op.get("time", 0) for op in history]
    stats = {
        "txns": len(txns),
        "ok": sum(t["type"] == "ok" for t in txns),
        "fail": sum(t["type"] == "fail" for t in txns),
        "info": sum(t["type"] == "info" for t in txns),
        "seconds": round((max(times) - min(times)) / 1e9, 3) if times else 0.0,
        "by_f": _by_f(txns),
        # which nodes' final states were compared (lost saves and divergence need them)
        "final_nodes": sorted({node for _, node, _ in final_dumps(txns)}),
    }
    unknown = None
    if la.get("valid") == "unknown":
        unknown = "list-append check: " + str(la.get("unknown_reason") or la.get("error") or "unknown")
    if not any(t["type"] == "ok" and t["f"] in WRITE_FS for t in txns):
        unknown = "no acknowledged start, save or execute: nothing to judge"
    result = build_result(
        {**forbidden, **engine}, model, stats, unknown_reason=unknown,
        checked_model=model,
        context={"anomaly_types": sorted(allowed), "anomalies": allowed,
                 "note": f"anomalies {model} allows, found in the instances' step lists"},
        engine_mapping={k: _ANOMALIES[k].behind for k in engine})
    result["model"] = model
    if txns.registers is not None:
        result["registers"] = txns.registers
    from checkers import exposure
    window_ms = max(float(opts.get("lag_ms") or 0.0), exposure.WINDOW_FLOOR_MS)
    result["exposure"] = {"window_ms": window_ms, "risks": exposure.count(txns, window_ms * 1e6)}
    if not stats["final_nodes"]:
        result["notes"] = ["no final read of the nodes' states: lost saves in the final state and "
                           "divergence between nodes could not be checked"]
    if engine:
        result["first_violation"] = first_violation(engine, history)  # and invalid at any model
    _, result["not"], result["also_not"] = models.verdict(sorted(set(result["anomaly_types"]) | set(allowed)),
                                                          model)
    return result


def first_violation(engine: dict, history) -> dict:
    """The engine finding proven earliest: its type and when its last cited op was recorded (s)."""
    time_of = {op.get("index"): op.get("time", 0) for op in history}
    best = None
    for kind, items in engine.items():
        for x in items:
            t = max((time_of.get(i, 0) for i in x.get("ops") or []), default=0)
            if best is None or t < best[0]:
                best = (t, kind)
    return {"type": best[1], "at_s": round(best[0] / 1e9, 3)} if best else {}


def _by_f(txns) -> dict:
    out = defaultdict(lambda: {"ok": 0, "fail": 0, "info": 0})
    for t in txns:
        if t["type"] in ("ok", "fail", "info"):
            out[t["f"]][t["type"]] += 1
    return {k: dict(v) for k, v in sorted(out.items())}


def _list_append_result(history, model, txns=None) -> dict:
    import importlib
    try:
        list_append = importlib.import_module("checkers.list_append")
    except ModuleNotFoundError as e:
        if e.name != "checkers.list_append":
            raise
        from checkers.api import unknown_result
        return unknown_result("the list-append checker is not installed", key="unknown_reason")
    return list_append.check(list_append_history(history, txns), model)
