"""The nemesis schedule: a thread that, during the main phase, starts a fault, stops it, starts
the next — one entry of `names` at a time (an entry may be a composition `a+b`, whose parts act at
once), so every history window is either quiet or under one named fault.

The plan is data, fixed by the seed before the run starts: step k starts fault `plan[k]` at
(2k+1)·interval seconds and stops it at (2k+2)·interval (or as soon as the previous transition is
done, when healing took longer). Each step draws its targets from its own rng, derived from the
seed and k, so a rerun with the seed repeats which fault hit which nodes when, even if an earlier
step failed. `info()` records the plan in test.json.

Each transition is two history ops from `"process": "nemesis"`: an `invoke` (value null) before,
and an `info` after whose value says what was done to which nodes (or `error` when it failed).
`stop()` ends the loop and heals everything of every kind it was given, always: on a normal end,
when the runner's finally runs after an exception, and on Ctrl-C (a second Ctrl-C while healing
is held back until healing is done). It is idempotent.
"""
import itertools
import logging
import random
import signal
import threading
import time

import nemesis
from nemesis import lag
from nemesis.kill import Kill

log = logging.getLogger("harness.nemesis")


class Schedule:
    PLAN_STEPS = 20  # recorded in info() when the run's length is not known

    def __init__(self, cluster, names, interval: float, rng, record, join_timeout: float = 180.0,
                 horizon: float | None = None):
        if interval <= 0:
            raise ValueError(f"nemesis interval must be > 0 seconds, got {interval}")
        self.cluster = cluster
        self.names = list(nemesis.parse_faults(",".join(names)) if names else [])
        self.interval = interval
        self.rng = rng
        self.record = record
        self.join_timeout = join_timeout
        self.horizon = horizon                  # the main phase's length: info() lists the steps within
        self.plan_seed = rng.getrandbits(64)    # everything the plan needs from the run's seed
        self.faults = {name: nemesis.make(name) for name in self.names}
        for name, fault in self.faults.items():
            why = fault.applicable(cluster)
            if why:
                raise ValueError(f"nemesis {name!r} cannot run on this {cluster.db} cluster: {why}")
        self._stop = threading.Event()
        self._lock = threading.Lock()      # one transition at a time (loop vs stop())
        self._active = []                  # (name, fault) currently started
        self._thread = None
        self._stopped = False
        self.errors = []      # healing problems (also in notes)
        self.notes = []       # lines for the run log and results (read by the runner)
        if any(isinstance(f, lag.Lag) or lag.Lag in getattr(f, "members", ())
               for f in _parts(self.faults.values())):
            how = lag.method(cluster)
            self.notes.append(f"lag method: {how}" + (" (this kernel has no netem: user-space NFQUEUE delayer)"
                                                      if how == "nfqueue" else ""))
        crash_note = getattr(getattr(cluster, "dbdef", None), "crash_note", None)
        if crash_note and any(isinstance(f, Kill) or f.family == "kill" for f in _parts(self.faults.values())):
            note = crash_note(cluster)
            if note:
                self.notes.append(note)
        for note in self.notes:
            log.info("nemesis: %s", note)

    def step(self, k: int) -> dict:
        """Step k of the plan: which fault, when (seconds after the schedule started)."""
        names = sorted(self.faults)
        return {"step": k, "fault": random.Random(f"{self.plan_seed}-{k}").choice(names),
                "start_s": round((2 * k + 1) * self.interval, 3), "stop_s": round((2 * k + 2) * self.interval, 3)}

    def step_rng(self, k: int) -> random.Random:
        """The rng step k's fault draws its targets from (independent of every other step)."""
        return random.Random(f"{self.plan_seed}-{k}-targets")

    def plan(self) -> list[dict]:
        if not self.faults:
            return []
        if self.horizon is None:
            return [self.step(k) for k in range(self.PLAN_STEPS)]
        return list(itertools.takewhile(lambda st: st["start_s"] < self.horizon,
                                        (self.step(k) for k in itertools.count())))

    def info(self) -> dict:
        """What the run log and results should say about the nemesis (the plan included)."""
        d = {"faults": self.names, "interval_s": self.interval, "plan_seed": self.plan_seed, "plan": self.plan()}
        if any(isinstance(f, lag.Lag) for f in _parts(self.faults.values())):
            d["lag_method"] = lag.method(self.cluster)
        return d

    def active(self) -> list[str]:
        return [name for name, _ in list(self._active)]

    def start(self):
        if not self.faults or self._thread:
            return
        self._thread = threading.Thread(target=self._loop, name="nemesis", daemon=True)
        self._thread.start()

    def _loop(self):
        t0 = time.monotonic()

        def wait_until(at):  # True when stopped meanwhile
            return self._stop.wait(max(0.0, t0 + at - time.monotonic()))
        try:
            for k in itertools.count():
                st = self.step(k)
                if wait_until(st["start_s"]):
                    break
                with self._lock:
                    if self._stop.is_set():
                        break
                    self._start_fault(st["fault"], self.faults[st["fault"]], self.step_rng(k))
                if wait_until(st["stop_s"]):
                    break
                with self._lock:
                    if self._stop.is_set():
                        break
                    self._stop_active()
        except Exception as e:  # never let the thread die silently: stop() still heals
            log.exception("nemesis loop failed")
            self.errors.append(f"nemesis loop: {e}")

    def _op(self, type_, f, value=None, error=None):
        op = {"type": type_, "process": "nemesis", "f": f, "value": value}
        if error:
            op["error"] = error
        try:
            self.record(op)
        except Exception as e:
            log.warning("nemesis: could not record %s %s: %s", type_, f, e)

    def _start_fault(self, name, fault, rng=None):
        f = f"start-{fault.family}"
        self._op("invoke", f)
        t0 = time.monotonic()
        try:
            value = fault.start(self.cluster, rng or self.rng)
        except Exception as e:
            log.warning("nemesis: %s failed to start: %s", name, e)
            self._op("info", f, {"fault": name}, error=f"{type(e).__name__}: {e}")
            self._heal_one(name, fault)
            return
        self._active.append((name, fault))
        log.info("nemesis: %s started in %.2fs: %s", name, time.monotonic() - t0, value)
        self._op("info", f, value)

    def _stop_active(self):
        while self._active:
            name, fault = self._active.pop()
            f = f"stop-{fault.family}"
            self._op("invoke", f)
            t0 = time.monotonic()
            try:
                value = fault.stop(self.cluster)
            except Exception as e:
                log.warning("nemesis: %s failed to stop: %s", name, e)
                self._op("info", f, {"fault": name}, error=f"{type(e).__name__}: {e}")
                self._heal_one(name, fault)
                continue
            log.info("nemesis: %s stopped in %.2fs: %s", name, time.monotonic() - t0, value)
            self._op("info", f, value)

    def _heal_one(self, name, fault):
        try:
            fault.heal(self.cluster)
        except Exception as e:
            log.error("nemesis: healing %s failed: %s", name, e)
            self.errors.append(f"heal {name}: {type(e).__name__}: {e}")

    def stop(self) -> list[str]:
        """Stop the loop and heal everything. Returns the healing errors (empty when all healed)."""
        if self._stopped:
            return self.errors
        self._stop.set()
        with _sigint_deferred():
            if self._thread:
                self._thread.join(self.join_timeout)
                if self._thread.is_alive():
                    log.error("nemesis thread still busy after %.0fs; healing anyway", self.join_timeout)
            got = self._lock.acquire(timeout=5)
            try:
                self._stop_active()
                for name, fault in self.faults.items():  # heal every kind, whatever the bookkeeping says
                    self._heal_one(name, fault)
            finally:
                if got:
                    self._lock.release()
            self._stopped = True
        self.notes += [f"healing error: {e}" for e in self.errors]
        try:
            left = nemesis.verify_clean(self.cluster)
            self.notes.append("verified clean after healing: no iptables rule, delayer, qdisc, paused or "
                              "skewed server left" if not left else f"left behind after healing: {'; '.join(left)}")
        except Exception as e:
            self.notes.append(f"could not verify that healing left nothing behind: {e}")
        log.info("nemesis: stopped and healed%s", f" with errors: {self.errors}" if self.errors else "")
        return self.errors


def _parts(faults):
    """The faults and, for compositions, their parts."""
    for f in faults:
        yield f
        yield from getattr(f, "parts", ())


class _sigint_deferred:
    """Hold back SIGINT while healing (main thread only); re-raise it once healing is done."""

    def __enter__(self):
        self.got = []
        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, lambda *_: self.got.append(1))
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
            if self.got and exc[0] is None:
                raise KeyboardInterrupt
        return False
