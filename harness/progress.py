"""Live progress of a run: a rich panel on a terminal, a log line every few seconds otherwise; and
of a long check or report (`task`): phase, ops read, elapsed, on a terminal only."""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time

log = logging.getLogger("harness.run")


def render(s: dict):
    """A rich renderable of the stats snapshot `s` (see Runner.snapshot)."""
    from rich.table import Table
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    t.add_row("test", s["test"])
    t.add_row("phase", f"{s['phase']}  ({s['left']:.0f} s left)")
    t.add_row("ops/s", f"{s['rate']:.1f}")
    t.add_row("ops", f"{s['done']}  ok [green]{s['ok']}[/]  fail [yellow]{s['fail']}[/]  "
                     f"info [red]{s['info']}[/]")
    t.add_row("faults", ", ".join(s["faults"]) or "none")
    return t


def line(s: dict) -> str:
    return (f"{s['phase']}: {s['left']:.0f} s left, {s['rate']:.1f} ops/s, {s['done']} ops "
            f"(ok {s['ok']}, fail {s['fail']}, info {s['info']}), faults: {', '.join(s['faults']) or 'none'}")


class LiveView:
    """Context manager showing `snapshot()` live; rich only when stderr is a terminal."""

    def __init__(self, snapshot, enabled: bool | None = None, log_every: float = 10.0):
        self.snapshot = snapshot
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.log_every = log_every
        self._live = None
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.live import Live
            self._live = Live(get_renderable=lambda: render(self.snapshot()),
                              console=Console(stderr=True), refresh_per_second=2, transient=True)
            self._live.__enter__()
        else:
            self._thread = threading.Thread(target=self._log_loop, name="progress", daemon=True)
            self._thread.start()
        return self

    def _log_loop(self):
        while not self._stop.wait(self.log_every):
            log.info("progress: %s", line(self.snapshot()))

    def __exit__(self, *exc):
        self._stop.set()
        if self._live is not None:
            self._live.__exit__(*exc)
        if self._thread is not None:
            self._thread.join(timeout=1)
        return False


class RateMeter:
    """Ops/s over a sliding window of about `window` seconds."""

    def __init__(self, window: float = 5.0, clock=time.monotonic):
        self.window, self.clock = window, clock
        self._samples = []   # (time, total done)

    def rate(self, done: int) -> float:
        now = self.clock()
        self._samples.append((now, done))
        while len(self._samples) > 2 and self._samples[0][0] < now - self.window:
            self._samples.pop(0)
        t0, d0 = self._samples[0]
        return (done - d0) / (now - t0) if now > t0 else 0.0


def task_line(p) -> str:
    """One line of a long read's progress (checkers.history.Progress)."""
    done = f" ({100 * p.bytes / p.total:.0f} %)" if p.total else ""
    return f"{p.phase}: {p.ops:,} ops read{done}, {time.monotonic() - p.t0:.0f} s"


@contextlib.contextmanager
def task(reading: str, after: str, path=None, enabled: bool | None = None):
    """Show a long check's or report's progress on stderr while the block runs: `reading` while the
    history streams in, then `after`. A rich line redrawn 4 times a second, only when stderr is a
    terminal (never on stdout, so --json output stays clean); the readers count per 4 MB chunk."""
    from checkers.history import PROGRESS
    PROGRESS.start(reading, after, path)
    if not (sys.stderr.isatty() if enabled is None else enabled):
        yield PROGRESS
        return
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text
    with Live(get_renderable=lambda: Text(task_line(PROGRESS)), console=Console(stderr=True),
              refresh_per_second=4, transient=True, redirect_stdout=False, redirect_stderr=False):
        yield PROGRESS
