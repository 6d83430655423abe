"""The engine invariants that rest on ids, locks and replication (the save-resume checker's second half):
duplicate-id, duplicate-definition, exclusive-overlap, duplicate-cleanup-job, replication-halted and
next-day-resume; checkers/anomalies.py says what each means and what in a history shows it.
Each finding has the shape of every engine finding (explanation, isolation, ops, instance/nodes...).
No finding rests on an `info` op having happened: an open command counts only where a read shows it.
"""
from __future__ import annotations

import bisect
from collections import defaultdict

from checkers.save_resume import (
    _finding, _secs, _v, _who, effects, final_dumps, makes_step, rows, torn_reasons)

# tables whose rows the engine never deletes: a row missing from a node was never received there
NEVER_DELETED = ("ACT_HI_ACTINST", "ACT_RE_PROCDEF", "HARNESS_EFFECT", "ACT_RU_EXECUTION", "ACT_RU_VARIABLE")


def check_duplicate_ids(txns) -> list:
    out = []
    blocks = []  # (first, end, txn)
    for t in txns:
        for b in _v(t).get("id_blocks") or []:
            if isinstance(b, list) and len(b) >= 2 and all(isinstance(x, int) for x in b[:2]):
                blocks.append((b[0], b[1], t))
    blocks.sort(key=lambda b: b[0])
    for i, (lo, hi, t) in enumerate(blocks):
        for lo2, hi2, t2 in blocks[i + 1:]:
            if lo2 >= hi:
                break
            e1, e2 = _v(t).get("engine"), _v(t2).get("engine")
            out.append(_finding(
                "duplicate-id",
                f"Ids {max(lo, lo2)}..{min(hi, hi2) - 1} were handed out twice: engine-{e1} took block "
                f"{lo}..{hi - 1} of 'next.dbid' during {_who(t)} and engine-{e2} took {lo2}..{hi2 - 1} during "
                f"{_who(t2)}. Each engine read the property row, added the block size and wrote it back "
                f"WHERE REV_ = ?, and both writes succeeded: the rows every engine inserts with those ids "
                f"collide.", [t, t2], nodes=sorted({t.get("node"), t2.get("node")} - {None}),
                ids=[max(lo, lo2), min(hi, hi2) - 1]))
    by_id = defaultdict(list)
    for t in txns:
        if t["type"] == "ok":
            for table, rid in _v(t).get("created") or []:
                by_id[rid].append((table, t))
    for rid, made in sorted(by_id.items(), key=lambda kv: str(kv[0])):
        if len({id(t) for _, t in made}) < 2:
            continue
        out.append(_finding(
            "duplicate-id",
            f"ID_ {rid} was given to {len(made)} rows by acknowledged commands: "
            + "; ".join(f"{table} by {_who(t)}" for table, t in made)
            + ". On one database the second insert would fail on the primary key; here both committed, "
              "so every node that receives both has a conflict (MySQL replication stops on error 1062).",
            [t for _, t in made], id=rid, nodes=sorted({t.get("node") for _, t in made} - {None})))
    return out


def check_duplicate_definitions(txns) -> list:
    out = []
    acked = defaultdict(dict)  # version -> {definition id: txn}
    for t in txns:
        v = _v(t)
        if t["f"] == "deploy" and t["type"] == "ok" and v.get("deployed"):
            acked[v.get("version")][v.get("def")] = t
    for version, defs in sorted(acked.items(), key=lambda kv: str(kv[0])):
        if len(defs) > 1:
            out.append(_finding(
                "duplicate-definition",
                f"Version {version} of process definition 'order-process' was deployed {len(defs)} times: "
                + "; ".join(f"{d} by {_who(t)}" for d, t in sorted(defs.items())) + ". Each deployment "
                "held the deployment lock (SELECT ... FROM ACT_GE_PROPERTY WHERE NAME_ = 'deployment.lock' "
                "FOR UPDATE), read the latest version and inserted the next: the lock did not make them "
                "wait for each other. New instances now start on either definition at random.",
                list(defs.values()), version=version,
                nodes=sorted({t.get("node") for t in defs.values()} - {None})))
    reported = {v for v, d in acked.items() if len(d) > 1}
    for f, node, dump in final_dumps(txns):
        by_version = defaultdict(list)
        for r in rows(f, dump, "ACT_RE_PROCDEF"):
            by_version[(r["KEY_"], r["VERSION_"])].append(r["ID_"])
        for (key, version), ids in sorted(by_version.items(), key=str):
            if len(ids) > 1 and version not in reported:
                reported.add(version)
                out.append(_finding(
                    "duplicate-definition",
                    f"{node}'s final state holds {len(ids)} definitions of '{key}' with VERSION_ {version}: "
                    f"{', '.join(sorted(map(str, ids)))}. The deployment lock did not serialise their "
                    f"deployments.", [f], version=version, nodes=[node]))
    return out


def definite_leases(txns) -> dict:
    """instance execution -> [(from, until, owner, job, acquire txn)]: the time (ns, the history's
    clock) during which each acquired lock was certainly held: from the acquisition's completion until
    the lease ran out (lease seconds after the acquisition was invoked at the earliest) or the job may
    have been deleted: the invoke of an ok execute of it, or of an open execute whose effect row a final
    state shows on it (invoked before or after the lock), or of the first open execute no read shows
    that one of its owners invoked after this lock's acquisition was invoked. An open execute no read
    shows, invoked before the acquisition, is taken not to have run over this lock (its effect row would
    be in the final state)."""
    owners, deleted = defaultdict(set), defaultdict(lambda: float("inf"))
    for t in txns:
        if t["type"] == "ok" and t["f"] == "acquire":
            for j in _v(t).get("jobs") or []:
                if isinstance(j, dict):
                    owners[j.get("job")].add(_v(t).get("owner"))
    # an open execute whose effect row a final state shows deleted the job that row names (the effect
    # and the DELETE are one transaction), whenever it ran: also after a lock taken after its invoke
    target = {}
    for f, _node, dump in final_dumps(txns):
        for r in rows(f, dump, "HARNESS_EFFECT"):
            if r.get("KIND_") == "job":
                target.setdefault(r.get("ATTEMPT_"), r.get("TARGET_"))
    open_by_owner = defaultdict(list)  # owner -> invoke times of its open executes no read shows
    for t in txns:
        v = _v(t)
        if t["f"] != "execute":
            continue
        if t["type"] == "ok":
            deleted[v.get("job")] = min(deleted[v.get("job")], t["t0"])
        elif t["type"] == "info" and v.get("sid") in target:
            deleted[target[v["sid"]]] = min(deleted[target[v["sid"]]], t["t0"])
        elif t["type"] == "info":
            open_by_owner[v.get("owner")].append(t["t0"])
    for times in open_by_owner.values():
        times.sort()
    out = defaultdict(list)
    for t in txns:
        v = _v(t)
        if t["type"] != "ok" or t["f"] != "acquire" or not isinstance(v.get("lease"), (int, float)):
            continue
        for j in v.get("jobs") or []:
            if not isinstance(j, dict) or j.get("exec") is None:
                continue
            job = j.get("job")
            # an open execute only ends leases it may have taken over: those invoked after this lock
            # (the first one invoked after this lock's, per owner: not the owner's first ever, which
            # may predate this lock while a later one deleted the job)
            gone = min([deleted[job]] + [_first_after(open_by_owner[o], t["t0"]) for o in owners[job]])
            until = min(t["t0"] + v["lease"] * 1e9, gone)
            if until > t["t1"]:
                out[j["exec"]].append((t["t1"], until, v.get("owner"), job, t))
    return out


def _first_after(times, t0) -> float:
    """The first of the ascending `times` later than t0 (inf if none)."""
    i = bisect.bisect_right(times, t0)
    return times[i] if i < len(times) else float("inf")


def check_exclusive_overlap(txns, seen) -> list:
    """Locks on an instance's exclusive jobs certainly held by different owners at one moment, and
    subscriptions consumed twice."""
    out = []
    for inst, ls in sorted(definite_leases(txns).items(), key=lambda kv: str(kv[0])):
        ls.sort(key=lambda x: x[0])
        for i, a in enumerate(ls):
            for b in ls[i + 1:]:
                if b[0] >= a[1]:
                    break
                if a[2] == b[2] or a[3] == b[3]:
                    continue  # one executor; or one job (double-execution reports that)
                out.append(_finding(
                    "exclusive-overlap",
                    f"Instance execution {inst}: exclusive jobs {a[3]} and {b[3]} were locked at the same time by "
                    f"{a[2]} and {b[2]} (both locks certainly held between {_secs(b[0])} and "
                    f"{_secs(min(a[1], b[1]))}): {_who(a[4])}; {_who(b[4])}. The acquisition's NOT EXISTS "
                    f"(a locked exclusive job of the same instance) did not see the other executor's lock: "
                    f"two job executors run one instance's steps at once.", [a[4], b[4]], exec=inst,
                    nodes=sorted({a[4].get("node"), b[4].get("node")} - {None})))
                break
    consumed = effects(txns, seen, "message", "correlate", "subscription")
    for sub, attempts in sorted(consumed.items(), key=lambda kv: str(kv[0])):
        if len(attempts) > 1:
            recs = list(attempts.values())
            out.append(_finding(
                "exclusive-overlap",
                f"Message subscription {sub} was correlated {len(attempts)} times (attempts "
                f"{', '.join('#' + str(a) for a in sorted(attempts))}): "
                + "; ".join(_who(r) for r in recs if r["f"] == "correlate")
                + ". Exclusive correlation locks the subscription row FOR UPDATE and deletes it WHERE REV_; "
                  "both correlations still committed: the 'payment received' handler ran twice.",
                recs, subscription=sub, nodes=sorted({r.get("node") for r in recs if r.get("node")})))
    return out


def check_duplicate_cleanup_jobs(txns) -> list:
    out = []
    created = [t for t in txns if t["f"] == "schedule-cleanup" and t["type"] == "ok" and _v(t).get("job")]
    if len({_v(t)["job"] for t in created}) > 1:
        out.append(_finding(
            "duplicate-cleanup-job",
            f"{len(created)} history-cleanup jobs were created: " + "; ".join(
                f"{_v(t)['job']} by {_who(t)}" for t in created) + ". Each scheduler held the lock "
            "(SELECT ... 'history.cleanup.job.lock' FOR UPDATE), found no cleanup job and inserted one.",
            created, nodes=sorted({t.get("node") for t in created} - {None})))
        return out
    for f, node, dump in final_dumps(txns):
        jobs = [r["ID_"] for r in rows(f, dump, "ACT_RU_JOB") if r["HANDLER_TYPE_"] == "history-cleanup"]
        if len(jobs) > 1:
            out.append(_finding(
                "duplicate-cleanup-job",
                f"{node}'s final state holds {len(jobs)} history-cleanup jobs ({', '.join(map(str, jobs))}): "
                f"the cleanup lock did not serialise their scheduling.", [f], nodes=[node]))
            break
    return out


def halted(status) -> str | None:
    """Why a node's replication is stopped, from its status, or None while it runs."""
    if not isinstance(status, dict):
        return None
    if status.get("sql_running") == "No" or status.get("io_running") == "No":
        return (f"replica IO thread {status.get('io_running')}, SQL thread {status.get('sql_running')}"
                + (f": {status['last_error']}" if status.get("last_error") else ""))
    receiver = status.get("receiver")
    if receiver not in (None, "streaming"):
        return f"WAL receiver {receiver}"
    return None


def check_replication_halted(txns) -> list:
    out = []
    dumps = final_dumps(txns)
    for f, node, dump in dumps:
        why = halted(dump.get("replication"))
        if why is None:
            continue
        present = {table: {r["ID_"] for r in rows(f, dump, table)} for table in NEVER_DELETED}
        missed = sorted((t for t in txns if t["type"] == "ok" and t.get("node") != node
                         and any(table in present and rid not in present[table]
                                 for table, rid in _v(t).get("created") or [])), key=lambda t: t["t1"])
        first = (f" The first acknowledged write {node} never got: {_who(missed[0])} ({len(missed)} in all)."
                 if missed else "")
        out.append(_finding(
            "replication-halted",
            f"{node} stopped replicating ({why}), seen in the final read at {_secs(f['t0'])}.{first} "
            f"Writes acknowledged on the other machine from then on never reach this one: a user "
            f"resuming there finds the state it had when replication stopped.",
            [f] + missed[:1], nodes=[node], error=why, missed=len(missed)))
    return out


def check_next_day_resume(txns) -> list:
    """After healing and settling, every instance resumed on every node must show the step its last
    acknowledged write made (or a later one), be that instance, and be whole."""
    last = {}  # instance key -> the acknowledged step-making write with the highest step
    for t in txns:
        v = _v(t)
        if t["type"] == "ok" and makes_step(t) and v.get("key") is not None:
            seq = v.get("seq", 0)
            if v.get("key") not in last or seq >= _v(last[v["key"]]).get("seq", 0):
                last[v["key"]] = t
    out = []
    for f in (t for t in txns if t["type"] == "ok" and t["f"] == "final" and _v(t).get("resumes")):
        for node, states in sorted(_v(f)["resumes"].items()):
            if not isinstance(states, dict) or "error" in states:
                continue
            wrong = []
            for key, w in sorted(last.items(), key=lambda kv: str(kv[0])):
                if w["t1"] >= f["t0"]:
                    continue
                st = states.get(f"bk-{key}")
                problem = _wrong_state(st, _v(w))
                if problem:
                    wrong.append((key, w, problem))
            if not wrong:
                continue
            examples = "; ".join(f"instance {k}: {p} (last acknowledged: {_who(w)})" for k, w, p in wrong[:4])
            out.append(_finding(
                "next-day-resume",
                f"The next day, a user opening their instance on {node} finds {len(wrong)} of {len(last)} "
                f"instances in a wrong state (resumed on every node at {_secs(f['t0'])}, after the faults "
                f"were healed and replication settled{'' if _v(f).get('settled') else ' as far as it would'}). "
                f"e.g. {examples}.", [f] + [w for _, w, _ in wrong[:4]], nodes=[node], wrong=len(wrong),
                instances=len(last)))
    return out


def _wrong_state(state, acked: dict) -> str | None:
    if state is None:
        return "no such instance there"
    if state.get("exec") != acked.get("exec"):
        return f"another instance ({state.get('exec')} instead of {acked.get('exec')})"
    if state.get("seq", -1) < acked.get("seq", 0):
        return f"step {state.get('seq')} instead of {acked.get('seq', 0)}"
    if [acked.get("seq", 0), acked.get("sid")] not in (state.get("hist") or []):
        return f"its history lacks write #{acked.get('sid')}"
    reasons = torn_reasons(state)
    return "an inconsistent state: " + reasons[0] if reasons else None


def findings(txns, seen) -> dict[str, list]:
    return {
        "duplicate-id": check_duplicate_ids(txns),
        "duplicate-definition": check_duplicate_definitions(txns),
        "exclusive-overlap": check_exclusive_overlap(txns, seen),
        "duplicate-cleanup-job": check_duplicate_cleanup_jobs(txns),
        "replication-halted": check_replication_halted(txns),
        "next-day-resume": check_next_day_resume(txns),
    }

