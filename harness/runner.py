"""The runner: concurrent workers execute a workload's ops against the nodes routing picks, record
every op (invoke, then ok/fail/info) to the history as it happens, then hand the history to the
workload's checker.

    results = run_test(spec, cluster=None)     # -> results dict (also in run_dir/results.json)

With `cluster=None` it brings a cluster up (and always tears it down); given a running cluster it
calls `cluster.reset_data()` and reuses it (certification runs many tests on one cluster).

A run: check the spec -> cluster up / reset -> every node answers -> workload.setup -> test.json
-> main phase (N workers, each a logical client process, paced to `rate`, until `time_limit`;
nemesis schedule alongside) -> nemesis stop (heals) and wait until the cluster is whole -> final
phase (every worker performs the workload's final ops, retrying until ok or `final_time_limit`)
-> check -> results.json -> report. A worker whose op ends in `info` continues under a fresh
process number (process + concurrency), as Jepsen does.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import random
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

from harness import record, store
from harness.cluster import dialects
from harness.errors import UsageError
from harness.generator import Pacer, as_source
from harness.lag_monitor import LagMonitor, create_table
from nemesis.network import Network
from harness.progress import LiveView, RateMeter
from harness.routing import Router
from harness.spec import TestSpec
from workloads.base import classify, describe, is_connection_error, is_node_unavailable

log = logging.getLogger("harness.run")

class Recorder:
    """Appends ops to the history file with index and time, in index order; thread-safe.

    The file is flushed as the run goes, by a flusher thread every `flush_every` seconds (and at
    close), not by the workers: a flush is a system call, and two per op cost the runner about a
    tenth of its throughput against a fast local database. A killed harness loses at most the last
    `flush_every` seconds of ops; the file always holds a checkable prefix of whole lines.
    """

    def __init__(self, path: Path, t0_ns: int, flush_every: float = 0.05):
        from checkers.history import GzipAppender, dumps_op
        self._dumps = dumps_op
        # a .gz history is compressed by the flusher thread, not by the workers (GzipAppender)
        self._f = GzipAppender(path, level=1) if str(path).endswith(".gz") else open(path, "ab", buffering=4 << 20)
        self.t0 = t0_ns
        self.lock = threading.Lock()
        self.index = 0
        self.counts = Counter()          # completions by type (client ops only)
        self.errors = Counter()          # error texts of client completions
        self.closed = False
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, args=(flush_every,),
                                         name="history-flush", daemon=True)
        self._flusher.start()

    def _flush_loop(self, every):
        # BufferedWriter serialises flush against write internally: no need for self.lock, whose
        # holders (the workers) must never wait for the disk.
        while not self._stop.wait(every):
            with contextlib.suppress(ValueError):  # closed meanwhile
                self._f.flush()

    def record(self, op: dict) -> dict | None:
        with self.lock:
            if self.closed:
                return None  # a straggler finishing after the run ended: not part of the history
            rec = {"index": self.index, "time": time.monotonic_ns() - self.t0}
            rec.update(op)
            self._f.write(self._dumps(rec))
            self.index += 1
            if rec["type"] != "invoke" and rec.get("process") != "nemesis":
                self.counts[rec["type"]] += 1
                if rec.get("error"):
                    self.errors[rec["error"]] += 1
        return rec

    def record_nemesis(self, op: dict) -> dict | None:
        """The `record` function handed to the nemesis schedule."""
        op = dict(op)
        op.setdefault("process", "nemesis")
        op.setdefault("type", "info")
        op.setdefault("f", "fault")
        return self.record(op)

    def close(self):
        self._stop.set()
        with self.lock:
            self.closed = True
            self._f.close()
        self._flusher.join(timeout=5)


class Context:
    """What every worker shares."""

    def __init__(self, spec, cluster, workload, router, recorder, source, pacer):
        self.spec, self.cluster, self.workload = spec, cluster, workload
        self.router, self.recorder, self.source, self.pacer = router, recorder, source, pacer
        self.dialect = cluster.dialect
        self.stop = threading.Event()        # Ctrl-C or abort: stop at once
        self.main_deadline = None            # monotonic seconds
        self.final_go = threading.Event()    # set when the final phase may start
        self.final_ops: list[dict] = []
        self.final_deadline = None
        self._final_claimed: set[int] = set()   # indexes of final ops marked "once" a worker took
        self._final_lock = threading.Lock()
        self.notes: set[str] = set()
        self.processes = 0                   # how many process numbers were used

    def claim_final(self, i: int) -> bool:
        """Whether this worker performs final op `i` marked "once" (the first to ask does)."""
        with self._final_lock:
            if i in self._final_claimed:
                return False
            self._final_claimed.add(i)
            return True

    def open_conn(self, node):
        """A connection to `node`: autocommit (transactions are explicit), session isolation set."""
        conn = self.cluster.connect(node, timeout=self.spec.op_timeout, autocommit=True)
        try:
            statement, note = dialects.get(self.dialect).session_isolation(
                self.spec.isolation, standby=getattr(node, "role", "") == "standby")
            if note:
                self.notes.add(note)
            cur = conn.cursor()
            cur.execute(statement)
            cur.close()
        except BaseException:
            with contextlib.suppress(Exception):
                conn.close()
            raise
        return conn


class Worker(threading.Thread):
    """One logical client: draws ops, routes, executes, records."""

    def __init__(self, ctx: Context, wid: int):
        super().__init__(name=f"worker-{wid}", daemon=True)
        self.ctx, self.wid = ctx, wid
        self.process = wid
        self.conns: dict[str, object] = {}
        self.main_done = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            self.main_phase()
            self.main_done.set()
            self.ctx.final_go.wait()
            if not self.ctx.stop.is_set():
                self.final_phase()
        except BaseException as e:  # a bug, not a database error: keep it for results.json
            self.error = e
            log.exception("worker %d crashed", self.wid)
        finally:
            self.main_done.set()
            for conn in self.conns.values():
                with contextlib.suppress(Exception):
                    conn.close()

    def main_phase(self):
        ctx = self.ctx
        while not ctx.stop.is_set():
            if time.monotonic() >= ctx.main_deadline:
                return
            op = ctx.source.next_op(self.wid)
            if op is None:
                return
            # a follow-up (a user's next click right after the answer) is not paced: it comes at once
            if not op.get("follow_up") and not ctx.pacer.wait(ctx.main_deadline):
                return
            if time.monotonic() >= ctx.main_deadline:
                return
            self.execute(op)

    def final_phase(self):
        ctx = self.ctx
        for i, template in enumerate(ctx.final_ops):
            if template.get("once") and not ctx.claim_final(i):
                continue
            while not ctx.stop.is_set() and time.monotonic() < ctx.final_deadline:
                op = copy.deepcopy(template)
                op.pop("once", None)
                op["final"] = True
                if self.execute(op) == "ok":
                    break
                time.sleep(0.25)

    def execute(self, op: dict) -> str:
        """Run one op end to end; returns the completion type."""
        ctx = self.ctx
        node = ctx.router.pick(op, self.process)
        invoke = {"type": "invoke", "process": self.process, **op, "node": node.name}
        ctx.recorder.record(invoke)
        extra, value = {}, op.get("value")
        conn = self.conns.get(node.name)
        if conn is None:
            try:
                conn = self.conns[node.name] = ctx.open_conn(node)
            except Exception as e:  # nothing reached the database: a definite failure
                ctx.router.failed(node)
                type_, extra = "fail", {"error": f"connect: {describe(e)}"}
                conn = None
        if conn is not None:
            try:
                # the client knows its node (evidence rows name it; no need to ask the server)
                type_, value, extra = ctx.workload.invoke(conn, ctx.dialect, {**op, "node": node.name})
                extra = extra or {}
            except Exception as e:
                type_, err = classify(e)
                extra = {"error": err}
                if type_ == "fail" and getattr(e, "value", None) is not None:
                    value = e.value  # what the client had read before it gave up
                if is_connection_error(e) or type_ == "info" or conn_dead(conn):
                    self.drop(node.name)  # next op on this node starts with a fresh connection
                if is_node_unavailable(e):
                    ctx.router.failed(node)
        done = {"type": type_, "process": self.process, **op, "value": value, "node": node.name, **extra}
        ctx.recorder.record(done)
        if type_ == "info":
            self.process += ctx.spec.concurrency
        return type_

    def drop(self, name):
        conn = self.conns.pop(name, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def conn_dead(conn) -> bool:
    """True when the driver knows the connection is gone (PyMySQL `open`, psycopg `closed`/`broken`)."""
    return (getattr(conn, "open", True) is False or getattr(conn, "closed", False) is True
            or getattr(conn, "broken", False) is True)


def check_reachable(cluster, timeout: float) -> None:
    """Every node answers a query, or UsageError naming the one that does not."""
    for node in cluster.nodes:
        try:
            conn = cluster.connect(node, timeout=timeout, autocommit=True)
            try:
                cur = conn.cursor()
                cur.execute("SELECT 1")
                cur.fetchall()
            finally:
                conn.close()
        except Exception as e:
            raise UsageError(f"database down at start: {cluster.db} node {node.name} "
                             f"({getattr(node, 'ip', '?')}) does not answer: {describe(e)}") from None


def topology(cluster) -> list[dict]:
    return [{"name": n.name, "ip": getattr(n, "ip", None), "role": getattr(n, "role", None)}
            for n in cluster.nodes]


@contextlib.contextmanager
def run_log(path: Path):
    """Send the harness's log records (every logger) to the run's harness.log while the run lasts."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def make_schedule(spec: TestSpec, cluster, record):
    """The nemesis schedule for spec.nemesis (None without faults); UsageError when a fault cannot
    run on this cluster."""
    if not spec.nemesis:
        return None
    from nemesis.schedule import Schedule
    try:
        return Schedule(cluster, list(spec.nemesis), spec.nemesis_interval,
                        random.Random(f"{spec.seed}-nemesis"), record, horizon=spec.time_limit)
    except ValueError as e:
        raise UsageError(str(e)) from None


class _Forward:
    """Lets the schedule be built (and checked) before the history's recorder exists."""
    target = None

    def __call__(self, op):
        return self.target(op) if self.target else None


def execute(spec: TestSpec, cluster, workload, run_dir: Path, live: bool | None = None,
            schedule=None, forward: _Forward | None = None) -> dict:
    """Main phase + nemesis + final phase against a ready cluster; writes history.jsonl.

    `schedule` (from make_schedule, recording through `forward`) is built here when not given.
    Returns run facts: phase durations, throughput, counts, errors, notes (no verdict).
    """
    source = as_source(workload.generator(random.Random(f"{spec.seed}-generator")))
    router = Router(spec.routing, cluster.nodes, seed=spec.seed)
    pacer = Pacer(spec.rate, seed=spec.seed)
    recorder = Recorder(run_dir / (store.HISTORY_GZ if spec.history_compress else store.HISTORY),
                        time.monotonic_ns())
    ctx = Context(spec, cluster, workload, router, recorder, source, pacer)
    errors: list[str] = []
    if forward is None:
        forward = _Forward()
    if schedule is None:
        schedule = make_schedule(spec, cluster, forward)
    forward.target = recorder.record_nemesis
    workers = [Worker(ctx, w) for w in range(spec.concurrency)]
    meter = RateMeter()
    phase = {"name": "main", "end": 0.0}

    def snapshot():
        c = recorder.counts
        done = c["ok"] + c["fail"] + c["info"]
        return {"test": spec.test_name, "phase": phase["name"],
                "left": max(0.0, phase["end"] - time.monotonic()), "rate": meter.rate(done),
                "done": done, "ok": c["ok"], "fail": c["fail"], "info": c["info"],
                "faults": schedule.active() if schedule is not None else []}

    started = time.monotonic()
    ctx.main_deadline = phase["end"] = started + spec.time_limit
    lag = LagMonitor(cluster) if len(cluster.nodes) > 1 else None
    lag_summary = None
    # a cluster without machines between its nodes (testing.atom, in one process) has no network
    network = Network(spec.network) if len(cluster.nodes) > 1 and getattr(cluster, "has_network", True) else None
    network_info = None
    try:
        with LiveView(snapshot, enabled=live):
            if network is not None:
                try:
                    network_info = network.apply(cluster, seed=spec.seed)
                except Exception as e:
                    raise UsageError(f"network {spec.network} could not be set up: {describe(e)}") from None
            if lag is not None:
                lag.start()
            if schedule is not None:
                schedule.start()
            for w in workers:
                w.start()
            grace = 2 * spec.op_timeout + 5  # an op in flight at the deadline may take this long
            for w in workers:  # each returns right after the deadline unless stuck in an op
                w.main_done.wait(max(0.0, ctx.main_deadline + grace - time.monotonic()))
            main_end = time.monotonic()
            main_counts = dict(recorder.counts)
            stuck = [w.wid for w in workers if not w.main_done.is_set()]
            if stuck:
                errors.append(f"workers {stuck} still inside an op {grace:.0f} s after the main phase ended")
            if lag is not None:
                lag_summary = lag.stop()
            if network is not None:  # before the faults' heal verifies that nothing is left
                try:
                    network.heal(cluster)
                except Exception as e:   # the history is whole: say so, check it, heal again below
                    errors.append(f"network {spec.network} not healed: {describe(e)}")
            if schedule is not None:
                phase["name"] = "healing"
                errors.extend(f"nemesis: {e}" for e in (schedule.stop() or []))
                schedule_notes = list(getattr(schedule, "notes", []) or [])
                try:
                    cluster.wait_healthy(timeout=max(60.0, spec.final_time_limit))
                except Exception as e:
                    errors.append(f"cluster not healthy after healing: {describe(e)}")
            else:
                schedule_notes = []
            ctx.final_ops = list(workload.final_generator(random.Random(f"{spec.seed}-final")))
            phase["name"] = "final reads"
            ctx.final_deadline = phase["end"] = time.monotonic() + spec.final_time_limit
            ctx.final_go.set()
            for w in workers:
                w.join(max(0.0, ctx.final_deadline + grace - time.monotonic()))
            if ctx.final_ops and spec.final_time_limit:
                finals = [w for w in workers if w.is_alive()]
                if finals:
                    errors.append(f"{len(finals)} workers still busy after the final phase")
    except BaseException:
        ctx.stop.set()
        ctx.final_go.set()
        raise
    finally:
        ctx.stop.set()
        ctx.final_go.set()
        if lag is not None and lag_summary is None:
            lag.stop()
        if network is not None:
            with contextlib.suppress(Exception):
                network.heal(cluster)
        if schedule is not None:
            with contextlib.suppress(Exception):
                schedule.stop()
        recorder.close()
    for w in workers:
        if w.error is not None:
            errors.append(f"worker {w.wid} crashed: {type(w.error).__name__}: {w.error}")
    main_seconds = main_end - started
    main_done = sum(main_counts.values())
    return {
        "seconds": round(time.monotonic() - started, 3),
        "main_seconds": round(main_seconds, 3),
        "throughput": round(main_done / main_seconds, 2) if main_seconds > 0 else 0.0,
        "main_ops": main_done,
        "counts": dict(recorder.counts),
        "errors": errors,
        "op_errors": dict(recorder.errors.most_common(20)),
        "notes": sorted(ctx.notes),
        "nemesis_notes": schedule_notes,
        "sticky_mapping": router.mapping() if spec.routing == "sticky" else None,
        "processes": max(w.process for w in workers) + 1,
        "lag": lag_summary,
        "network": network_info,
    }


def measured_lag(summary) -> float | None:
    """The median replication lag (ms) of a lag monitor summary, if it holds a usable one: within it, a
    replica has not yet applied a write at least half the time (the exposure window)."""
    p50 = summary.get("p50_ms") if isinstance(summary, dict) else None
    return float(p50) if isinstance(p50, (int, float)) and not isinstance(p50, bool) and p50 == p50 else None


def check_run(run_dir: Path, workload, model: str) -> dict:
    """The workload's checker over the run's history; checker crashes become valid='unknown'.

    Through checkers.api.check_file: the checkers that stream (list-append, rw-register) never
    hold the history as a list of op dicts (3.2 GB a million txns); the others read it whole
    there, as workload.check would."""
    from checkers.api import check_file, unknown_result
    from checkers.history import HistoryError
    from harness.progress import task
    path = store.history_path(run_dir)
    try:
        with task("check: reading the history", "check: analysing", path):
            return check_file(path, workload.checker or workload.name, model, **workload.check_opts())
    except HistoryError as e:
        return unknown_result(str(e))
    except Exception as e:
        log.exception("checker failed")
        return unknown_result(f"checker failed: {type(e).__name__}: {e}")


def finish(run_dir: Path, results: dict, junit: str | None = None) -> dict:
    """results.json, the report, JUnit (optional), store/latest."""
    from harness.junit import write_junit
    from harness.report import write_report
    from harness.progress import task
    store.write_json(run_dir / store.RESULTS, results)
    try:
        with task("report: reading the history", "report: writing", store.history_path(run_dir)):
            results["report"] = str(write_report(run_dir))
    except Exception as e:  # the verdict stands without its report; say why it is missing
        log.exception("report failed")
        results.setdefault("errors", []).append(f"report failed: {type(e).__name__}: {e}")
    store.write_json(run_dir / store.RESULTS, results)
    if junit:
        write_junit([results], junit)
    return results


def run_test(spec: TestSpec, cluster=None, junit: str | None = None, live: bool | None = None) -> dict:
    """Run one test end to end; returns the results dict (with `run_dir`), also in results.json.

    Raises UsageError (exit 2) for bad specs and a database that is down at start; in that case the
    run dir is removed and a cluster this call created is torn down. A given `cluster` is reused
    (reset_data) and left running.
    """
    from workloads import make_workload
    spec.validate()
    workload = make_workload(spec.workload, spec.workload_opts)
    store_existed = Path(spec.store).exists()
    run_dir = store.new_run_dir(spec.store, spec.test_name)
    started = record.started_now()
    owned = cluster is None
    ready = False
    try:
        with run_log(run_dir / store.LOG):
            log.info("test %s: %s", spec.test_name, spec.to_dict())
            if owned:
                from harness.cluster import up
                kw = {"nodes": spec.nodes} if spec.nodes is not None else {}
                cluster = up(db=spec.db, backend=spec.backend, knobs=dict(spec.knobs), **kw)
            check_reachable(cluster, timeout=min(spec.op_timeout, 5.0))
            if not owned:
                try:
                    cluster.reset_data()
                except Exception as e:
                    raise UsageError(f"cannot reset the test database on {cluster.name}: {describe(e)}") from None
            try:
                workload.setup(cluster)
            except Exception as e:
                raise UsageError(f"workload {spec.workload} setup failed on {cluster.db}: {describe(e)}") from None
            if len(cluster.nodes) > 1:
                try:
                    create_table(cluster)
                except Exception as e:
                    raise UsageError(f"lag heartbeat table could not be created on {cluster.db}: {describe(e)}") from None
            versions = {}
            with contextlib.suppress(Exception):
                versions = cluster.versions()
            given = (getattr(cluster, "knobs", None) or {}).get("server_options") or []  # the cluster's own
            server = {"server_options": list(given),
                      "settings": cluster.settings() if hasattr(cluster, "settings") else {}}  # read back
            test = record.test_record(spec, cluster.name, topology(cluster), server, started)
            forward = _Forward()
            schedule = make_schedule(spec, cluster, forward)
            if schedule is not None:
                test["nemesis_info"] = schedule.info()
            store.write_json(run_dir / store.TEST, test)
            store.update_latest(spec.store, run_dir)  # an interrupted run is still the newest run
            ready = True
            facts = execute(spec, cluster, workload, run_dir, live=live, schedule=schedule, forward=forward)
            if hasattr(cluster, "collect"):  # remote hosts (ssh): their server logs, configs, clock offsets
                try:
                    cluster.collect(run_dir / "nodes")
                except Exception as e:  # noqa: BLE001 - never hides the run's own outcome
                    log.error("collecting the hosts' logs failed: %s", e)
            log.info("run done: %s", {k: v for k, v in facts.items() if k not in ("op_errors", "lag")})
            workload.measured_lag_ms = measured_lag(facts["lag"])
            result = check_run(run_dir, workload, spec.checker_model)
            results = record.run_results(result, spec, topology=topology(cluster), versions=versions,
                                         server=server, run_dir=run_dir, facts=facts, started=started)
            log.info("verdict: valid=%s anomalies=%s", results["valid"], results.get("anomaly_types"))
            finish(run_dir, results, junit)
            return results
    except BaseException:
        if not ready:
            shutil.rmtree(run_dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                run_dir.parent.rmdir()  # only if empty
                if not store_existed:
                    Path(spec.store).rmdir()
        raise
    finally:
        if owned and cluster is not None:
            try:
                cluster.teardown()
            except Exception as e:
                log.error("teardown of cluster %s failed: %s", getattr(cluster, "name", "?"), e)


def analyze(run_dir: Path, model: str | None = None, junit: str | None = None) -> dict:
    """Re-check a stored run: results.json is rewritten (metadata kept), the report regenerated."""
    from workloads import make_workload
    run_dir = Path(run_dir)
    if not (run_dir / store.TEST).is_file():
        raise UsageError(f"{run_dir}: not a run directory (no {store.TEST})")
    if not store.history_path(run_dir).is_file():
        raise UsageError(f"{run_dir}: no {store.HISTORY}")
    if (run_dir / store.RESULTS).exists() and not (run_dir / store.RESULTS).is_file():
        raise UsageError(f"{run_dir / store.RESULTS}: not a regular file")
    try:
        test = store.read_json(run_dir / store.TEST)
    except ValueError as e:
        raise UsageError(f"{run_dir / store.TEST}: malformed JSON: {e}") from None
    if not isinstance(test, dict):
        raise UsageError(f"{run_dir / store.TEST}: must hold a JSON object, not {type(test).__name__}")
    try:
        spec = TestSpec.from_dict({**test, "model": model or test.get("model")}).validate()
        workload = make_workload(spec.workload, spec.workload_opts)
    except (UsageError, ValueError) as e:
        raise UsageError(f"{run_dir / store.TEST}: {e}") from None
    old = {}
    if (run_dir / store.RESULTS).is_file():
        with contextlib.suppress(ValueError):
            old = record.kept_meta(store.read_json(run_dir / store.RESULTS))
    workload.measured_lag_ms = measured_lag(old.get("lag"))
    with run_log(run_dir / store.LOG):
        result = check_run(run_dir, workload, spec.checker_model)
    results = record.analyzed_results(result, old, spec, run_dir)
    with run_log(run_dir / store.LOG):
        log.info("analyze: model %s -> valid=%s anomalies=%s", spec.checker_model, results["valid"],
                 results.get("anomaly_types"))
        finish(run_dir, results, junit)
    return results
