"""History files: read (JSON Lines or Jepsen EDN) and write (JSON Lines, flushed per op).

An op is a plain dict with the DESIGN fields (`index`, `time`, `type`, `process`, `f`, `value`,
optional `node`, `error`, ...). A history is a list of ops in file order.

Public API (stable; other checkers and the runner depend on it):
    read_history(path) -> History            # a list of op dicts, plus .path and .lines
    iter_history(path) -> iterator of (line, op)   # streaming, constant memory
    HistoryError(path, line, message)        # str() == "FILE:LINE: message"
    HistoryWriter(path)                      # .write(op) appends one line and flushes; context manager
    write_history(path, ops)
    line_of(history, position) -> int | None # the file line of history[position], when known
    fetch_lines(path, lines) -> {line: op}   # parse only those lines of a file
"""
from __future__ import annotations

import contextlib
import gc
import os
from array import array

import orjson

OP_TYPES = ("invoke", "ok", "fail", "info")
_NUMBERS = (int, float)


class HistoryError(Exception):
    """Unusable input. `str()` is one line: `FILE:LINE: what is wrong` (line omitted if unknown)."""

    def __init__(self, path, line, message):
        self.path = str(path) if path is not None else "<history>"
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self):
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


class History(list):
    """A list of ops that remembers where it came from: `.path` and `.lines[i]` (file line of op i)."""

    def __init__(self, ops=(), path=None, lines=None):
        super().__init__(ops)
        self.path = path
        self.lines = lines


def line_of(history, position):
    """The file line of `history[position]` if the history was read from a file, else None."""
    lines = getattr(history, "lines", None)
    if lines is not None and 0 <= position < len(lines):
        return lines[position]
    return None


def source_of(history):
    """The file a history was read from, or '<history>' for one built in memory."""
    return getattr(history, "path", None) or "<history>"


@contextlib.contextmanager
def no_gc():
    """Pause the cyclic garbage collector: a checker builds millions of acyclic objects and
    Python's collector would rescan them over and over (it tripled parse time in measurements)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def validate_op(op, path, line):
    """Check the fields every op needs; raise HistoryError naming the line otherwise."""
    if not isinstance(op, dict):
        raise HistoryError(path, line, f"expected an op object, got {type(op).__name__}")
    t = op.get("type")
    if t is None:
        raise HistoryError(path, line, "missing field 'type'")
    if t not in OP_TYPES:
        raise HistoryError(path, line, f"unknown op type {t!r} (expected invoke, ok, fail or info)")
    if "f" not in op:
        raise HistoryError(path, line, "missing field 'f'")
    tm = op.get("time")
    if tm is not None and (type(tm) is not int and type(tm) is not float):
        raise HistoryError(path, line, f"field 'time' must be a number, got {tm!r}")
    p = op.get("process")
    if p is not None and type(p) is not int and p != "nemesis" and not isinstance(p, str):
        raise HistoryError(path, line, f"field 'process' must be an integer or \"nemesis\", got {p!r}")


def is_edn(path) -> bool:
    """EDN by extension, else by content: a JSON line starts with '{"', an EDN map with '{:'."""
    name = str(path)
    if name.endswith(".edn"):
        return True
    if name.endswith((".jsonl", ".json")):
        return False
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    return head.startswith((b"{:", b"[{:", b"[", b";")) and not head.startswith(b'[{"')


def _open_check(path):
    if not os.path.exists(path):
        raise HistoryError(path, None, "no such file")
    if os.path.isdir(path):
        raise HistoryError(path, None, "is a directory, expected a history file")


def iter_history(path):
    """Yield (line, op) for each op in file order, validating each. Constant memory for JSONL."""
    _open_check(path)
    from checkers.jepsen_log import is_jepsen_log, read_log_ops
    if is_jepsen_log(path):  # Jepsen's plain log lines (`INFO jepsen.util - 3 :invoke :cas [1 4]`)
        yield from read_log_ops(path)
        return
    if is_edn(path):
        from checkers.edn import read_edn_ops
        yield from read_edn_ops(path)
        return
    loads = orjson.loads
    valid_types = OP_TYPES
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                op = loads(raw)
            except orjson.JSONDecodeError as e:
                if not raw.strip():
                    continue  # blank line
                raise HistoryError(path, lineno, f"malformed JSON: {e}") from None
            # fast path for well-formed ops; the full check names the problem otherwise
            if (type(op) is not dict or op.get("type") not in valid_types or "f" not in op
                    or type(op.get("time", 0)) not in _NUMBERS):
                validate_op(op, path, lineno)
            yield lineno, op


CHUNK_BYTES = 4 << 20


def read_chunks(path, f=None, line0=1):
    """Yield (ops, first_line, lines) batches; `lines` is None when op i sits on first_line + i.

    One list comprehension of orjson.loads per ~4 MB. A chunk with a blank or malformed line is
    re-read line by line (blank lines skipped, bad ones reported). EDN files come as one batch
    with explicit lines. Ops are not validated here beyond JSON. `f`/`line0` continue reading an
    already open binary file from a given line.
    """
    if f is None:
        _open_check(path)
        if is_edn(path):
            pairs = list(iter_history(path))
            yield [op for _, op in pairs], 1, [ln for ln, _ in pairs]
            return
        with open(path, "rb") as fh:
            yield from read_chunks(path, fh, 1)
        return
    loads = orjson.loads
    while True:
        raw = f.readlines(CHUNK_BYTES)
        if not raw:
            return
        try:
            ops = [loads(x) for x in raw]
            yield ops, line0, None
        except orjson.JSONDecodeError:
            ops, lines = [], []
            for i, x in enumerate(raw):
                try:
                    ops.append(loads(x))
                except orjson.JSONDecodeError as e:
                    if not x.strip():
                        continue
                    raise HistoryError(path, line0 + i, f"malformed JSON: {e}") from None
                lines.append(line0 + i)
            yield ops, line0, lines
        line0 += len(raw)


def read_line(path, lineno) -> bytes:
    """The raw bytes of one line of a file (1-based), b"" past the end."""
    with open(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            if i == lineno:
                return raw
    return b""


def fetch_lines(path, lines) -> dict:
    """{line: op} for the given file lines, parsing only those lines: the second, cheap pass a
    streaming checker makes for the few ops its explanations cite."""
    want = set(lines)
    if not want:
        return {}
    if is_edn(path):
        return {ln: op for ln, op in iter_history(path) if ln in want}
    out = {}
    last = max(want)
    with open(path, "rb") as f:
        for ln, raw in enumerate(f, 1):
            if ln in want:
                out[ln] = orjson.loads(raw)
            if ln >= last:
                break
    return out


def read_history(path) -> History:
    """Read a whole history file (JSONL, or Jepsen EDN by extension/content) into a History list."""
    ops = History(path=str(path))
    lines = array("l")
    with no_gc():
        for lineno, op in iter_history(path):
            ops.append(op)
            lines.append(lineno)
    ops.lines = lines
    return ops


_DUMP_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def dumps_op(op) -> bytes:
    """One op as one JSON line (with the newline)."""
    return orjson.dumps(op, option=_DUMP_OPTS) + b"\n"


class HistoryWriter:
    """Append ops to a JSONL file, one per line, flushed after each so a crash leaves a checkable prefix.

    with HistoryWriter(path) as w:
        w.write({"index": 0, "type": "invoke", ...})
    """

    def __init__(self, path, mode="ab"):
        self.path = str(path)
        self._f = open(self.path, mode)

    def write(self, op):
        self._f.write(dumps_op(op))
        self._f.flush()

    def close(self):
        if not self._f.closed:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def write_history(path, ops):
    """Write a whole history as JSONL (replacing the file)."""
    with open(path, "wb") as f:
        for op in ops:
            f.write(dumps_op(op))
