"""Run one variant's steps, each session in its own thread, and classify what happened.

A step that has not finished after `block_timeout` seconds is recorded as blocked (Hermitage's
"BLOCKS") and the script goes on with the next step; later steps of the same session queue behind
it. After a step that ends a transaction the runner gives blocked statements up to `block_timeout`
to finish. Whatever is still blocked at the end is cancelled through the backend, and every session
is rolled back and closed, so no lock or connection outlives the variant.

A backend provides: `open(session, node, isolation) -> handle` (handle: `run(op, args)`, `commit()`,
`rollback()`, `close()`), `cancel(handle)`, `classify(exc) -> "conflict" | "cancelled" | "error"`,
`prepare(test)`, `catch_up(node) -> note | None`, `final(test, writers) -> {node: rows}`.
"""
from __future__ import annotations

import concurrent.futures as cf
import itertools
import time
from dataclasses import dataclass, field

from harness.probe.steps import END_OPS, Ref

OUTCOMES = ("prevented", "waits-then-prevented", "prevented-read-only", "occurs", "error")
PREVENTED = ("prevented", "waits-then-prevented")


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return f"{type(e).__name__}: {text}"[:300]


@dataclass
class VariantResult:
    outcome: str               # prevented | waits-then-prevented | occurs | error
    why: str                   # one sentence: the anomaly, what prevented it, or the error
    steps: list                # the observations, one dict per step
    final: dict                # node name -> rows of the test's final table
    notes: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)  # total (setup to final state) and final (catch-up + reads)

    def evidence(self) -> dict:
        return {"outcome": self.outcome, "why": self.why, "steps": self.steps, "final": self.final,
                "seconds": self.seconds, **({"notes": self.notes} if self.notes else {})}


class View:
    """What a judge sees: labelled results, who committed, the final state."""

    def __init__(self, steps: list, committed: set, final: dict):
        self._by_label = {o["label"]: o for o in steps if o.get("label")}
        self._committed = committed
        self._commit = {o["step"].split()[0]: o for o in steps if o["step"].endswith(" commit()")}
        states = list(final.values())
        self.final = states[0] if states else []
        self.diverged = any(s != self.final for s in states[1:])

    def _done(self, label):
        o = self._by_label.get(label)
        return o if o and o.get("done") and not o.get("error") else None

    def val(self, label):
        o = self._done(label)
        return o["result"] if o and not isinstance(o["result"], list) else None

    def rows(self, label):
        o = self._done(label)
        return o["result"] if o and isinstance(o["result"], list) else None

    count = val  # a write's result is the number of rows it affected

    def committed(self, session) -> bool:
        return session in self._committed

    def finished_after_commit(self, label, session) -> bool:
        """Did the labelled step finish after `session`'s successful commit (a blocked read may
        return long after the step that follows it in the script)? A step that was blocked and
        finished while that commit was running counts: the commit released the locks it waited on,
        and its thread may record its end before the committing thread records the commit's."""
        o, c = self._by_label.get(label), self._commit.get(session)
        if not (o and c and c.get("done") and not c.get("error")):
            return False
        return o.get("seq", -1) > c.get("seq", -1) or o.get("finished_during_step") == c.get("i")

    @staticmethod
    def show(rows) -> str:
        return "{" + ", ".join(f"{r[0]}: {', '.join(map(str, r[1:]))}" for r in rows) + "}"


class _Session:
    def __init__(self, name, node, handle):
        self.name, self.node, self.handle = name, node, handle
        self.pool = cf.ThreadPoolExecutor(1, thread_name_prefix=f"probe-{name}")
        self.pending = None        # future of the last step submitted
        self.failed = None         # the error that ended its transaction
        self.results = {}          # label -> result, for Ref arguments


def _resolve(args, results):
    return tuple(results[a.label] + a.add if isinstance(a, Ref) else a for a in args)


def run_variant(backend, test, variant, placement: dict, isolation: str, settled: bool = False,
                block_timeout: float = 0.3, cancel_timeout: float = 10.0) -> VariantResult:
    """Run `variant` of `test` with session -> node `placement`; settled: after every commit wait
    until the other nodes have applied it before the next step."""
    notes, t0 = [], time.monotonic()
    try:
        backend.prepare(test)
    except Exception as e:  # noqa: BLE001 - a cell that cannot start is an error cell, not a crash
        return VariantResult("error", f"could not set up the test tables: {one_line(e)}", [], {})
    sessions, committed, steps = {}, set(), []
    clock = {"step": 0, "seq": itertools.count()}  # seq: the order in which steps finished
    try:
        for name in variant.sessions:
            try:
                sessions[name] = _Session(name, placement[name], backend.open(name, placement[name], isolation))
            except Exception as e:  # noqa: BLE001
                return VariantResult("error", f"{name} could not connect to {placement[name]}: {one_line(e)}",
                                     steps, {})
        for i, step in enumerate(variant.steps):
            s = sessions[step.session]
            obs = {"i": i, "step": step.text(), "node": s.node, "label": step.label, "done": False}
            steps.append(obs)
            clock["step"] = i
            queued = s.pending is not None and not s.pending.done()
            s.pending = s.pool.submit(_execute, backend, s, step, obs, committed, clock)
            if queued:
                obs["queued"] = True  # behind its own session's blocked statement
            elif not _wait([s.pending], block_timeout):
                obs["blocked"] = True
            if step.op in END_OPS or obs.get("error"):
                others = [x.pending for x in sessions.values() if x.pending and not x.pending.done()]
                _wait(others, block_timeout)
            if settled and step.op == "commit" and obs["done"] and not obs.get("error"):
                waited = time.monotonic()
                note = backend.catch_up(s.node)
                obs["settled"] = note or "the other nodes applied it"
                obs["settle_seconds"] = round(time.monotonic() - waited, 4)
                if note:
                    notes.append(note)
        _wait([x.pending for x in sessions.values() if x.pending], block_timeout)
    finally:
        _close_all(backend, sessions, steps, cancel_timeout)
    t1 = time.monotonic()
    try:
        final = backend.final(test, {s.node for s in sessions.values()})
    except Exception as e:  # noqa: BLE001
        return VariantResult("error", f"could not read the final state: {one_line(e)}", steps, {}, notes)
    result = classify(variant, steps, committed, final, notes)
    result.seconds = {"total": round(time.monotonic() - t0, 3), "final": round(time.monotonic() - t1, 3)}
    return result


def _wait(futures, timeout) -> bool:
    futures = [f for f in futures if f is not None]
    if not futures:
        return True
    done, not_done = cf.wait(futures, timeout=timeout)
    return not not_done


def _execute(backend, s, step, obs, committed, clock):
    start = time.monotonic()
    try:
        if s.failed:
            obs["skipped"] = f"{s.name}'s transaction had already failed"
            return
        if step.op == "commit":
            s.handle.commit()
            committed.add(s.name)
            obs["result"] = None
        elif step.op == "rollback":
            s.handle.rollback()
            obs["result"] = None
        else:
            obs["result"] = s.handle.run(step.op, _resolve(step.args, s.results))
            if step.label:
                s.results[step.label] = obs["result"]
        obs["done"] = True
    except Exception as e:  # noqa: BLE001 - every database error is an observation
        obs["done"] = True
        obs["error"] = one_line(e)
        obs["error_kind"] = backend.classify(e)
        s.failed = obs["error"]
        try:
            s.handle.rollback()
        except Exception:  # noqa: BLE001 - the connection may be gone; close() follows
            pass
    finally:
        obs["seconds"] = round(time.monotonic() - start, 4)
        obs["seq"] = next(clock["seq"])
        if obs.get("blocked") or obs.get("queued"):
            obs["finished_during_step"] = clock["step"]


def _close_all(backend, sessions, steps, cancel_timeout):
    """Cancel what still blocks, roll back and close every session (nothing may outlive a variant)."""
    stuck = [s for s in sessions.values() if s.pending and not s.pending.done()]
    for s in stuck:
        try:
            backend.cancel(s.handle)
        except Exception:  # noqa: BLE001 - the connection's own timeout ends it then
            pass
    _wait([s.pending for s in stuck], cancel_timeout)
    for o in steps:
        if (o.get("blocked") or o.get("queued")) and not o["done"]:
            o["cancelled"] = True
    for s in sessions.values():
        if s.pending and not s.pending.done():
            continue  # cancel did not work: closing under a running statement would race it
        try:
            s.handle.rollback()
        except Exception:  # noqa: BLE001
            pass
        try:
            s.handle.close()
        except Exception:  # noqa: BLE001
            pass
        s.pool.shutdown(wait=False)
    for s in sessions.values():
        if s.pending and not s.pending.done():
            s.handle.close()  # last resort: the statement errors out on a closed socket
            s.pool.shutdown(wait=False)


def classify(variant, steps, committed, final, notes=()) -> VariantResult:
    errors = [o for o in steps if o.get("error_kind") == "error"]
    if errors:
        o = errors[0]
        return VariantResult("error", f"step {o['i']} ({o['step']} on {o['node']}) failed: {o['error']}",
                             steps, final, list(notes))
    view = View(steps, committed, final)
    why = variant.judge(view)
    if why is None and view.diverged:
        why = "the nodes disagree after the test: " + "; ".join(
            f"{n} {View.show(rows)}" for n, rows in final.items())
    if why:
        return VariantResult("occurs", why, steps, final, list(notes))
    waited = [o for o in steps if o.get("blocked")]
    conflicts = [o for o in steps if o.get("error_kind") in ("conflict", "cancelled")]
    parts = []
    if waited:
        parts.append("waited: " + ", ".join(o["step"] for o in waited))
    if conflicts:
        parts.append("refused: " + ", ".join(f"{o['step']} ({o['error']})" for o in conflicts))
    why = "; ".join(parts) or "no anomaly observed"
    return VariantResult("waits-then-prevented" if waited else "prevented", why, steps, final, list(notes))


def combine(test, results: list) -> tuple[str, str]:
    """One outcome per test from its variants: the read-only variant decides `occurs`; a write
    variant that shows the anomaly while the read-only one did not gives `prevented-read-only`."""
    by_variant = list(zip(test.variants, results))
    for v, r in by_variant:
        if r.outcome == "error":
            return "error", f"{v.name}: {r.why}"
    occurred = [(v, r) for v, r in by_variant if r.outcome == "occurs"]
    if occurred:
        v, r = occurred[0]
        read_only_held = any(x.read_only and y.outcome in PREVENTED for x, y in by_variant)
        if not v.read_only and read_only_held:
            return "prevented-read-only", f"read-only transactions are protected, but {v.name}: {r.why}"
        return "occurs", f"{v.name}: {r.why}" if len(by_variant) > 1 else r.why
    waited = [r for _, r in by_variant if r.outcome == "waits-then-prevented"]
    if waited:
        return "waits-then-prevented", "; ".join(r.why for r in waited)
    return "prevented", "; ".join(r.why for _, r in by_variant)
