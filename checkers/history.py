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
    open_history(path) -> binary file        # the one opener: plain or gzip (by its magic bytes)
    truncation_note(path) -> str | None      # set when a gzip history ended mid-stream (a crash)
    GzipAppender(path)                       # a gzip history written as a run goes (see its doc)
    PROGRESS                                 # ops read so far by the current long read (Progress)

Every reader opens a history through open_history, so `history.jsonl.gz` reads as `history.jsonl`:
decompressed as it streams, seekable (through decompressor snapshots every CHECKPOINT_BYTES), and a
stream cut short by a crash reads as the whole lines before the cut, with truncation_note saying so.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import io
import os
import stat
import threading
import time
import zlib
from array import array

import orjson

OP_TYPES = ("invoke", "ok", "fail", "info")


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


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:         # not glibc: nothing to tune
        return None


_LIBC = _libc()


def give_back_memory():
    """Hand freed heap pages back to the kernel (glibc's malloc_trim). A checker frees millions
    of small objects at once (its streaming tables) and then allocates arrays: without this the
    freed pages stay in the process and its peak RSS counts them twice."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
CHUNK_BYTES = 4 << 20
_SCALAR_KEYS = (int, str)      # exact types: bool is not int, and a float key is refused


def _int64(x):
    return type(x) is int and INT64_MIN <= x <= INT64_MAX


def validate_op(op, path, line):
    """Check the fields every op needs, with exact types; raise HistoryError naming the line otherwise.

    Exact means: `type` and `f` are strings, `process` an integer that is not a bool (or a string
    such as "nemesis"), `time` a finite number within int64, `index` an integer; every integer
    anywhere in the op fits int64 and every float is finite; the keys and values of a
    transaction's micro-ops are integers or strings, never floats or bools (1, 1.0 and true
    would otherwise be one key, and integers beyond 2^64 arrive from JSON rounded to floats).
    """
    if not isinstance(op, dict):
        raise HistoryError(path, line, f"expected an op object, got {type(op).__name__}")
    t = op.get("type")
    if t is None:
        raise HistoryError(path, line, "missing field 'type'")
    if type(t) is not str or t not in OP_TYPES:
        raise HistoryError(path, line, f"unknown op type {t!r} (expected invoke, ok, fail or info)")
    if "f" not in op:
        raise HistoryError(path, line, "missing field 'f'")
    f = op["f"]
    if type(f) is not str:
        raise HistoryError(path, line, f"field 'f' must be a string, got {f!r}")
    tm = op.get("time")
    if tm is not None and not (_int64(tm) or (type(tm) is float and INT64_MIN <= tm <= INT64_MAX)):
        raise HistoryError(path, line, f"field 'time' must be a number of nanoseconds within int64, got {tm!r}")
    p = op.get("process")
    if p is not None and not _int64(p) and type(p) is not str:
        raise HistoryError(path, line, f"field 'process' must be an integer or \"nemesis\", got {p!r}")
    i = op.get("index")
    if i is not None and not _int64(i):
        raise HistoryError(path, line, f"field 'index' must be an integer, got {i!r}")
    node = op.get("node")
    if node is not None and type(node) is not str:
        raise HistoryError(path, line, f"field 'node' must be a string, got {node!r}")
    _check_numbers(op, path, line)
    value = op.get("value")
    if f == "txn" and type(value) is list:
        for mop in value:
            if type(mop) is list and len(mop) == 3 and type(mop[0]) is str:
                _check_mop(mop, path, line)


MAX_DEPTH = 64   # ops nest a few levels; far deeper data only serves to exhaust the stack


def _check_numbers(op, path, line):
    """Every integer within int64, every float finite, nesting at most MAX_DEPTH (iterative)."""
    stack = [(op, 0)]
    while stack:
        x, depth = stack.pop()
        tx = type(x)
        if tx is dict or tx is list or tx is tuple:
            if depth >= MAX_DEPTH:
                raise HistoryError(path, line, f"data nested deeper than {MAX_DEPTH} levels")
            stack.extend((y, depth + 1) for y in (x.values() if tx is dict else x))
        elif tx is int:
            if not INT64_MIN <= x <= INT64_MAX:
                raise HistoryError(path, line, f"integer {x} is outside the 64-bit range")
        elif tx is float and (x != x or x in (float("inf"), float("-inf"))):
            raise HistoryError(path, line, f"number {x!r} is not finite")


def _check_mop(mop, path, line):
    _, k, v = mop
    if type(k) not in _SCALAR_KEYS:
        raise HistoryError(path, line, f"micro-op {mop!r}: the key must be an integer or a string, "
                                       f"got {type(k).__name__} {k!r}")
    vals = v if type(v) is list else (v,)
    for x in vals:
        if x is not None and type(x) not in _SCALAR_KEYS:
            raise HistoryError(path, line, f"micro-op {mop!r}: values must be integers or strings "
                                           f"(1, 1.0 and true are different), got {type(x).__name__} {x!r}")


# What may need the full check, found by fast scans over a whole chunk of lines: a float (a digit
# then '.', or an exponent right after a digit), a 19+ digit integer (beyond int64, or rounded to a
# float by the JSON parser), a bool, an escaped key, deep nesting. A chunk without any (almost all)
# only gets the cheap envelope test per op; a chunk with one is tested line by line. One translate
# folds the byte classes (digits to 0, E to e, separators to ':', f to t), so each pattern is one
# plain find; single bytes (memchr speed) gate the rarer patterns. Multi-byte finds cost ~1 ms/MB.
_FOLD = bytes.maketrans(b"123456789E,[\t\rf", b"000000000e::::t")
_PROCESS_TYPES = (int, str, type(None))


def _suspect(raw: bytes) -> bool:
    d = raw.translate(_FOLD)
    return (b"0e" in d                  # an exponent
            or b":t" in d               # true / false after ':' ',' '[' (or a tab)
            or b"0" * 19 in d           # a 19+ digit integer
            or b"::::" in d             # lists nested 4 deep (or worse) after a separator
            or (b"." in raw and b"0." in d)
            or (b"\\" in raw and b"\\u" in raw)
            or (b" " in raw and (b" true" in raw or b" false" in raw)))


def _bad_envelope(op) -> bool:
    """True unless the op's own fields have their exact types (the nested data is _suspect's)."""
    return (type(op) is not dict or type(op.get("type")) is not str or op["type"] not in OP_TYPES
            or type(op.get("f")) is not str
            or type(op.get("process")) not in _PROCESS_TYPES or type(op.get("index", 0)) is not int
            or type(op.get("time", 0)) is not int)


def checked(op, path, line):
    """An op read from a file, validated: a missing `f` means a transaction (Elle's histories)."""
    if type(op) is dict and "f" not in op:
        op["f"] = "txn"
    validate_op(op, path, line)
    return op


def _chunks(f):
    """(offset, lines, careful) per ~4 MB chunk of an open JSONL file: careful when the chunk holds
    anything _suspect flags (its ops then get the full check); counts the chunk in PROGRESS."""
    while True:
        start = f.tell()
        raws = f.readlines(CHUNK_BYTES)
        if not raws:
            PROGRESS.read_end()
            return
        data = b"".join(raws)
        PROGRESS.read(len(raws), len(data))
        yield start, raws, _suspect(data)


def _jsonl_ops(path, f, line0, blank_ok, bad_envelope=_bad_envelope):
    """(line, op) for each line of an open JSONL file, validated; see strict_ops."""
    loads = orjson.loads
    line = line0
    for start, raws, careful in _chunks(f):
        for i, raw in enumerate(raws):
            try:
                op = loads(raw)
            except orjson.JSONDecodeError as e:
                if blank_ok:
                    if not raw.strip():
                        line += 1
                        continue
                    raise HistoryError(path, line, f"malformed JSON: {e}") from None
                f.seek(start + sum(map(len, raws[:i + 1])))
                raise
            if careful or bad_envelope(op):
                checked(op, path, line)
            yield line, op
            line += 1


def strict_ops(path, f, line0=1):
    """Ops from an open JSONL file for a checker's hot loop: a drop-in for map(orjson.loads, f).

    Every op is validated as iter_history does, except that an op whose `type` or `process` is
    a list or object may pass when nothing else in its chunk looks odd (a cheaper test per op):
    such an op makes the checker raise TypeError, so wrap the loop in `refused_on_crash(path)`,
    which then re-reads the file strictly for the one-line error. A blank or malformed line raises
    orjson.JSONDecodeError with `f` just after that line, as map(orjson.loads, f) would leave it.
    """
    # _jsonl_ops's loop with the envelope test cut to what a checker would not trip over: this runs
    # once per op of a 1 M-op history
    loads = orjson.loads
    line = line0
    for start, raws, careful in _chunks(f):
        for i, raw in enumerate(raws):
            try:
                op = loads(raw)
            except orjson.JSONDecodeError:
                f.seek(start + sum(map(len, raws[:i + 1])))
                raise
            if careful or type(op) is not dict or type(op.get("f")) is not str \
                    or type(op.get("index", 0)) is not int:
                checked(op, path, line + i)
            yield op
        line += len(raws)


@contextlib.contextmanager
def refused_on_crash(path):
    """A checker fed by strict_ops crashed with TypeError / KeyError: if the file is malformed,
    raise its one-line HistoryError instead (a clean file re-raises the crash: a checker bug)."""
    try:
        yield
    except (TypeError, KeyError, ValueError, RecursionError) as crash:
        for _ in iter_history(path):
            pass
        raise crash


# --- the one opener: plain or gzip -------------------------------------------------------------
GZIP_MAGIC = b"\x1f\x8b"
CHECKPOINT_BYTES = 4 << 20    # a decompressor snapshot (~45 KB) per 4 MB decompressed: seeks stay cheap
_IN_BLOCK = 1 << 16
_truncated: dict[str, tuple] = {}   # path -> ((size, mtime_ns), note) of the last cut-short read


def truncation_note(path) -> str | None:
    """The one-line note of the last read of `path` that found its gzip stream cut short (a crashed
    run leaves one), while the file is unchanged since; None otherwise."""
    seen = _truncated.get(str(path))
    if seen is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return seen[1] if seen[0] == (st.st_size, st.st_mtime_ns) else None


class _Gunzip(io.RawIOBase):
    """The decompressed bytes of a gzip file (one or more members) as a seekable raw stream.

    Only whole lines are returned while the stream goes on: the bytes after the last newline wait
    for the rest of their line. At a clean end they are returned too; where the file ends inside
    the stream (a SIGKILLed writer) they are dropped and truncation_note(path) says so.
    Seeks restore the nearest decompressor snapshot before the target and read on from there.
    """

    def __init__(self, path, f):
        self.path, self._raw = str(path), f
        self._d = zlib.decompressobj(31)
        self._out, self._outpos = b"", 0   # returnable bytes and how far they were returned
        self._held = b""                   # decompressed bytes after the last newline
        self._pos = 0                      # offset of the next byte returned
        self._made = 0                     # bytes decompressed so far (returned, buffered or held)
        self._lines = 0
        self._end = False
        self._points = [(0, 0, self._d.copy(), 0)]   # (decompressed offset, file offset, state, lines)

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def close(self):
        self._raw.close()
        super().close()

    def _error(self, e):
        return HistoryError(self.path, None, f"not a readable gzip stream (after {self._lines} whole "
                                             f"lines): {e}")

    def _fill(self) -> bool:
        """Decompress the next input block into self._out; False at the end of the stream."""
        while not self._end:
            data = self._raw.read(_IN_BLOCK)
            if self._d.eof:              # a member ended: the next one (if any) starts a new stream
                data = self._d.unused_data + data
                if not data:
                    return self._finish(clean=True)
                self._d = zlib.decompressobj(31)
            elif not data:
                return self._finish(clean=False)
            try:
                out = self._d.decompress(data)
            except zlib.error as e:
                raise self._error(e) from None
            self._made += len(out)
            if not self._d.eof and self._made - self._points[-1][0] >= CHECKPOINT_BYTES:
                self._points.append((self._made, self._raw.tell(), self._d.copy(), self._lines + out.count(b"\n")))
            if out:
                if self._held:
                    out = self._held + out
                k = out.rfind(b"\n") + 1
                self._held = out[k:]
                if k:
                    self._out, self._outpos = out[:k] if k < len(out) else out, 0
                    self._lines += self._out.count(b"\n")
                    return True
        return False

    def _finish(self, clean: bool) -> bool:
        self._end = True
        if clean and self._held:         # a last line without its newline, the stream complete
            self._out, self._outpos, self._held = self._held, 0, b""
            return True
        if not clean:
            st = os.fstat(self._raw.fileno())
            note = (f"{self.path}: the gzip stream ends early (a crashed run?); read the "
                    f"{self._lines} whole lines before the cut")
            _truncated[self.path] = ((st.st_size, st.st_mtime_ns), note)
        self._held = b""
        return False

    def readinto(self, b):
        if self._outpos >= len(self._out) and not self._fill():
            return 0
        n = min(len(b), len(self._out) - self._outpos)
        b[:n] = self._out[self._outpos:self._outpos + n]
        self._outpos += n
        self._pos += n
        return n

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a gzip history seeks from its start or the current position")
        start = self._pos - self._outpos          # offset of self._out[0]
        if start <= offset <= start + len(self._out):
            self._outpos = offset - start
            self._pos = offset
            return offset
        best = max((p for p in self._points if p[0] <= offset), key=lambda p: p[0])
        if offset < self._pos or best[0] > self._made:   # behind us, or a snapshot saves reading
            made, where, state, lines = best
            self._raw.seek(where)
            self._d, self._made, self._lines = state.copy(), made, lines
            self._out, self._outpos, self._held, self._pos, self._end = b"", 0, b"", made, False
        while self._pos < offset:
            if self._outpos >= len(self._out) and not self._fill():
                break
            n = min(offset - self._pos, len(self._out) - self._outpos)
            self._outpos += n
            self._pos += n
        return self._pos


def is_gzip(path) -> bool:
    """Only a regular file is opened: reading a FIFO's first bytes would block (the open check
    refuses it with one line later)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        return False
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_history(path):
    """A history file opened for reading, as bytes: the one opener every reader uses. A gzip file
    (known by its magic bytes, whatever its name) comes decompressed, buffered and seekable."""
    _open_check(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise HistoryError(path, None, f"cannot read: {e.strerror}") from None
    if f.read(2) != GZIP_MAGIC:
        f.seek(0)
        return f
    f.seek(0)
    return io.BufferedReader(_Gunzip(path, f), buffer_size=1 << 20)


def plain_name(path) -> str:
    """The file name without a trailing .gz: what the content is (history.jsonl.gz -> .jsonl)."""
    name = str(path)
    return name[:-3] if name.endswith(".gz") else name


class Progress:
    """How far the current long read has got, for a live display (harness.progress polls it from its
    own thread). The readers add to it once per chunk of ~4 MB, never per op, so it costs nothing.
    start(reading, after) names the phase while the history is read and the one after its end."""

    def __init__(self):
        self.start("")

    def start(self, reading: str, after: str = "", path=None):
        self.phase, self._after = reading, after
        self.ops = self.bytes = 0
        self.total = 0                      # bytes to read, when known (a plain file)
        if path is not None:
            with contextlib.suppress(OSError):
                if not is_gzip(path):  # which never opens a FIFO (it would block)
                    self.total = os.stat(path).st_size
        self.t0 = time.monotonic()

    def read(self, lines: int, nbytes: int):
        self.ops += lines
        self.bytes += nbytes

    def read_end(self):
        if self._after:
            self.phase, self._after = self._after, ""


PROGRESS = Progress()


def is_edn(path) -> bool:
    """EDN by extension, else by content: a JSON line starts with '{"', an EDN map with '{:'."""
    name = plain_name(path)
    if name.endswith(".edn"):
        return True
    if name.endswith((".jsonl", ".json")):
        return False
    with open_history(path) as f:
        head = f.read(4096).lstrip()
    return head.startswith((b"{:", b"[{:", b"[", b";")) and not head.startswith(b'[{"')


def _open_check(path):
    """Refuse at once what is not a regular file: a FIFO or device would block or never end."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise HistoryError(path, None, "no such file") from None
    except OSError as e:
        raise HistoryError(path, None, f"cannot read: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise HistoryError(path, None, "is a directory, expected a history file")
    if not stat.S_ISREG(st.st_mode):
        raise HistoryError(path, None, "not a regular file (a FIFO, socket or device), expected a history file")


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
    with open_history(path) as f:
        yield from _jsonl_ops(path, f, 1, True)


def read_chunks(path, f=None, line0=1):
    """Yield (ops, first_line, lines) batches; `lines` is None when op i sits on first_line + i.

    One list comprehension of orjson.loads per ~4 MB. A chunk with a blank or malformed line is
    re-read line by line (blank lines skipped, bad ones reported). EDN files come as one batch
    with explicit lines. Ops are validated as iter_history does. `f`/`line0` continue reading an
    already open binary file from a given line.
    """
    if f is None:
        _open_check(path)
        if is_edn(path):
            pairs = list(iter_history(path))
            yield [op for _, op in pairs], 1, [ln for ln, _ in pairs]
            return
        with open_history(path) as fh:
            yield from read_chunks(path, fh, 1)
        return
    loads = orjson.loads
    for _, raw, careful in _chunks(f):
        try:
            ops = [loads(x) for x in raw]
            for i, op in enumerate(ops):
                if careful or _bad_envelope(op):
                    checked(op, path, line0 + i)
            yield ops, line0, None
        except orjson.JSONDecodeError:
            ops, lines = [], []
            for i, x in enumerate(raw):
                try:
                    op = loads(x)
                except orjson.JSONDecodeError as e:
                    if not x.strip():
                        continue
                    raise HistoryError(path, line0 + i, f"malformed JSON: {e}") from None
                if careful or _bad_envelope(op):
                    checked(op, path, line0 + i)
                ops.append(op)
                lines.append(line0 + i)
            yield ops, line0, lines
        line0 += len(raw)


def read_line(path, lineno) -> bytes:
    """The raw bytes of one line of a file (1-based), b"" past the end."""
    with open_history(path) as f:
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
    with open_history(path) as f:
        for ln, raw in enumerate(f, 1):
            if ln in want:
                out[ln] = checked(orjson.loads(raw), path, ln)
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


class GzipAppender:
    """A history written gzip-compressed as a run goes: the Recorder's file with --history-compress.

    write(bytes) only queues (the workers call it under the recorder's lock and must not wait for
    zlib); flush() compresses what is queued and ends it with a Z_SYNC_FLUSH, so the file then
    holds a decodable prefix of whole lines; a SIGKILL between flushes loses only the ops since
    the last one. close() ends the stream (Z_FINISH: CRC and length) and closes the file.
    """

    def __init__(self, path, level: int = 6):
        self.path = str(path)
        self._f = open(self.path, "ab")   # appending to an existing file adds a gzip member
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)
        self._queue: list[bytes] = []
        self._lock = threading.Lock()      # guards the queue
        self._zlock = threading.Lock()     # one compressor user at a time: flusher or close
        self.closed = False

    def write(self, data: bytes):
        with self._lock:
            self._queue.append(data)

    def flush(self):
        with self._zlock:
            if not self.closed:
                self._drain(zlib.Z_SYNC_FLUSH)

    def _drain(self, mode):
        with self._lock:
            queued, self._queue = self._queue, []
        if queued or mode == zlib.Z_FINISH:
            self._f.write(self._z.compress(b"".join(queued)) + self._z.flush(mode))
            self._f.flush()

    def close(self):
        with self._zlock:
            if not self.closed:
                self.closed = True
                try:
                    self._drain(zlib.Z_FINISH)
                finally:
                    self._f.close()


def write_history(path, ops):
    """Write a whole history as JSONL (replacing the file)."""
    with open(path, "wb") as f:
        for op in ops:
            f.write(dumps_op(op))
