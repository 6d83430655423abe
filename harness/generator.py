"""Seeded, composable op generators.

Two layers:
- plain iterators of op dicts, built and combined with `repeat`, `mix`, `limit`, `phases`,
  `each_nth`: pure, deterministic for a given random.Random, easy to unit-test;
- `Source`s, which the runner's worker threads pull from: `Shared` (one stream for all workers,
  drawn under a lock, so the op sequence is reproducible from the seed), `EachWorker` (a stream per
  worker, seeded per worker), `TimeLimit` (stops handing out ops at a deadline). A `Pacer` spaces
  ops to a total rate with Jepsen-style stagger (uniformly random gaps averaging 1/rate).
"""
from __future__ import annotations

import itertools
import random
import threading
import time
from typing import Callable, Iterable, Iterator


# --- iterator combinators -----------------------------------------------------------------------
def repeat(make: Callable[[random.Random], dict], rng: random.Random) -> Iterator[dict]:
    """An endless stream of make(rng)."""
    while True:
        yield make(rng)


def mix(rng: random.Random, *streams: Iterable[dict], weights=None) -> Iterator[dict]:
    """Each op from a randomly chosen stream (weighted); ends when a chosen stream ends."""
    its = [iter(s) for s in streams]
    while True:
        it = rng.choices(its, weights=weights)[0]
        try:
            yield next(it)
        except StopIteration:
            return


def limit(n: int, stream: Iterable[dict]) -> Iterator[dict]:
    """At most n ops."""
    return itertools.islice(stream, n)


def phases(*streams: Iterable[dict]) -> Iterator[dict]:
    """One stream after the other."""
    return itertools.chain(*streams)


def each_nth(n: int, special: Iterable[dict], stream: Iterable[dict]) -> Iterator[dict]:
    """Every n-th op from `special`, the others from `stream` (e.g. a read every 10 writes)."""
    special, stream = iter(special), iter(stream)
    for i in itertools.count(1):
        try:
            yield next(special) if i % n == 0 else next(stream)
        except StopIteration:
            return


# --- sources the workers pull from --------------------------------------------------------------
class Source:
    """Thread-safe supply of ops: `next_op(worker)` -> an op dict, or None when exhausted."""

    def next_op(self, worker: int) -> dict | None:
        raise NotImplementedError


class Shared(Source):
    """One stream shared by all workers (drawn in order under a lock)."""

    def __init__(self, stream: Iterable[dict]):
        self._it = iter(stream)
        self._lock = threading.Lock()

    def next_op(self, worker):
        with self._lock:
            return next(self._it, None)


class EachWorker(Source):
    """A separate stream per worker: make(worker, rng) with rng seeded from (seed, worker)."""

    def __init__(self, make: Callable[[int, random.Random], Iterable[dict]], seed):
        self._make, self._seed = make, seed
        self._its: dict[int, Iterator[dict]] = {}
        self._lock = threading.Lock()

    def next_op(self, worker):
        with self._lock:
            it = self._its.get(worker)
            if it is None:
                it = self._its[worker] = iter(self._make(worker, random.Random(f"{self._seed}-{worker}")))
        return next(it, None)


class TimeLimit(Source):
    """Hands out ops from `inner` until `seconds` after the first request (or an explicit start)."""

    def __init__(self, inner: Source, seconds: float, clock=time.monotonic, start: float | None = None):
        self.inner, self.seconds, self.clock = inner, seconds, clock
        self.deadline = None if start is None else start + seconds

    def next_op(self, worker):
        now = self.clock()
        if self.deadline is None:
            self.deadline = now + self.seconds
        if now >= self.deadline:
            return None
        return self.inner.next_op(worker)


def as_source(gen) -> Source:
    """A workload's generator() result as a Source (iterators become Shared)."""
    return gen if isinstance(gen, Source) else Shared(gen)


class Pacer:
    """Spaces ops to `rate` per second in total over all workers; rate 0 = no pacing.

    Slots are handed out in order under a lock; gaps are uniform in [0, 2/rate) (Jepsen's stagger),
    drawn from a seeded rng, so bursts and lulls appear as they would from real clients.
    """

    def __init__(self, rate: float, seed=0, clock=time.monotonic, sleep=time.sleep):
        self.rate = rate
        self.clock, self.sleep = clock, sleep
        self._rng = random.Random(f"pacer-{seed}")
        self._lock = threading.Lock()
        self._next = None

    def slot(self) -> float:
        """Reserve the next slot; returns the monotonic time at which to start."""
        with self._lock:
            now = self.clock()
            if self._next is None or self._next < now - 1.0:
                self._next = now  # idle for a while: do not build up a burst of catch-up slots
            at = self._next
            self._next = at + self._rng.uniform(0, 2.0 / self.rate)
            return at

    def wait(self, deadline: float | None = None) -> bool:
        """Sleep until this worker's next slot; False if the slot lies past the deadline."""
        if not self.rate:
            return True
        at = self.slot()
        if deadline is not None and at >= deadline:
            return False
        delay = at - self.clock()
        if delay > 0:
            self.sleep(delay)
        return True
