"""Pairing invokes with completions: the one rule set every checker and the report follow.

The rules (Jepsen's; completions with no invoke are allowed, as Elle's histories are completions only):
- nemesis ops never pair (a fault is not a client op); neither does an op with no process: its
  invoke is dropped and its completion stands alone (DESIGN: a client's process is an integer).
- a process has at most one pending op: an invoke while its process has one pending makes the
  history malformed (`invoked_again`, a HistoryError naming both lines).
- a completion (ok, fail or info) closes its process's pending invoke.
- a completion with no pending invoke stands alone, its invoke unknown (a history of completions,
  or one cut at its start). A checker that needs the invoke (linearizability) refuses it (`no_invoke`).
- info is indeterminate (it may or may not have happened); so is an invoke still pending at the end
  (the run stopped mid-op): `leftovers()`. A process whose op ended info never invokes again
  (DESIGN: the runner gives the worker a new number); were it to, that invoke opens a new op (not
  refused: testing/engine_sim.py's final read is process 0's, after any info of process 0).

A checker pairs the ops it judges (a txn checker its `fs`; ops of other f are not its history).
Two faces of the same rules: `Pairer` (streaming: invoke / complete / leftovers, for checkers that
read a file op by op) and `pair(ops)` (a whole list -> Pair records). The hot loops of the txn
checkers (list_append.Analyzer.consume, graph.TxnTable.feed) keep their inlined dict operations on
`Pairer.open` and call this module only at the decision points (`never_pairs`, `invoked_again`).
"""
from __future__ import annotations

from checkers.history import HistoryError

NEMESIS = "nemesis"


def never_pairs(process) -> bool:
    """True for ops that are not paired: nemesis ops and ops without a process."""
    return process is None or process == NEMESIS


def invoked_again(path, line, process, prev_line=None) -> HistoryError:
    """The error for an invoke while `process` has one pending (that one's line, when known)."""
    at = f" (line {prev_line})" if prev_line is not None else ""
    return HistoryError(path, line, f"process {process} invokes again before its op{at} completed")


def no_invoke(path, line, kind, process) -> HistoryError:
    """The error of a checker that needs every completion's invoke, for one without."""
    return HistoryError(path, line, f"a {kind} of process {process} with no invoke before it")


class Pairer:
    """The streaming face: `open` maps each process to its pending invoke (whatever the caller keeps
    for it: the op, its position, a row), a plain dict the hot loops use directly.

    replace=True is the report's reading of a malformed history (it draws what it is given; the
    checker's result names the line): a second invoke replaces the pending one, which then never
    completes (report/ops.Scan shows no row for it, KeyRows draws it open to the end).
    """

    __slots__ = ("open", "path", "replace")

    def __init__(self, path="<history>", replace=False):
        self.open: dict = {}
        self.path = path
        self.replace = replace

    def invoke(self, process, item, line=None, prev_line=None):
        """Open `item` for `process`; prev_line(item) gives a pending item's line for the error."""
        if never_pairs(process):
            return
        pending = self.open
        if process in pending and not self.replace:
            prev = pending[process]
            raise invoked_again(self.path, line, process, prev_line(prev) if prev_line else None)
        pending[process] = item

    def complete(self, process):
        """The item `process` had pending, now closed; None: the completion stands alone."""
        if never_pairs(process):
            return None
        return self.open.pop(process, None)

    def leftovers(self) -> list:
        """The items still pending (invoked, never completed: indeterminate), in invoke order;
        the Pairer is empty afterwards."""
        items = list(self.open.values())
        self.open = {}
        return items


class Pair:
    """One client operation: its invoke and its completion (either None: unknown / never came)."""

    __slots__ = ("invoke", "done")

    def __init__(self, invoke=None, done=None):
        self.invoke, self.done = invoke, done

    def __repr__(self):
        return f"Pair({self.invoke!r}, {self.done!r})"

    @property
    def type(self) -> str:
        """ok / fail / info; info when it never completed."""
        return self.done.get("type") if self.done is not None else "info"


def pair(ops, path="<history>", line_of=None) -> list[Pair]:
    """The whole-list face: a Pair per client operation, in the order the operations opened (their
    invoke, or a lone completion where it stands); nemesis and process-less invokes are left out.
    line_of(i): the file line of ops[i], for the error (default i + 1)."""
    pairer = Pairer(path)
    pending = pairer.open           # Pairer's rules on its dict, inlined: this runs once per op
    out = []
    append = out.append
    for i, op in enumerate(ops):
        p = op.get("process")
        if p is None or p == NEMESIS:           # never_pairs
            if p is None and op.get("type") != "invoke":
                append(Pair(None, op))
            continue
        if op.get("type") == "invoke":
            if p in pending:
                where = line_of or (lambda k: k + 1)
                prev = next(k for k in range(i - 1, -1, -1) if ops[k] is pending[p].invoke)
                raise invoked_again(path, where(i), p, where(prev))
            rec = pending[p] = Pair(op)
            append(rec)
        else:
            opened = pending.pop(p, None)
            if opened is None:
                append(Pair(None, op))
            else:
                opened.done = op
    return out
