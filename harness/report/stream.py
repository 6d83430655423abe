"""The history file as the report reads it: once as a stream of chunks, then single ops by position.

`HistoryFile(path, problems)` never holds the history: `chunks()` parses ~4 MB of lines at a time
(one parser call per chunk; with `envelopes`, msgspec builds only the five fields the scan reads) and
keeps only each op's byte offset (8 bytes an op) and, for a history
whose indexes are not their positions, the indexes (8 more); afterwards `hf[pos]` seeks to one line
and parses it, and `hf.position(index)` finds an op by its index. Lenient like the rest of the
report: a blank line is skipped, a damaged one skipped and noted in `problems` (a crashed run's last
line is often cut). An op without `index` gets its position, as the report has always numbered them.
"""
from __future__ import annotations

import contextlib
from array import array
from pathlib import Path

import numpy as np
import orjson

from checkers.history import PROGRESS, open_history, truncation_note

CHUNK_BYTES = 4 << 20
MAX_NOTED = 3           # damaged lines named one by one; beyond that only counted
CACHE = 50_000          # parsed ops kept for repeated lookups (the page asks for some ops often)


try:  # msgspec parses only the fields the scan reads (validating the rest): 2-3x faster than orjson
    import msgspec
except ImportError:  # pragma: no cover - then every chunk is parsed whole by orjson
    msgspec = None

MISSING = msgspec.UNSET if msgspec is not None else object()   # a field the op does not have


if msgspec is not None:
    class _Envelope(msgspec.Struct, gc=False):
        """The fields of an op the scan reads; the others are skipped (and validated) by the parser."""
        index: object = MISSING
        time: object = None
        type: object = None
        process: object = None
        f: object = MISSING

    _ENVELOPES = msgspec.json.Decoder(list[_Envelope])
    _NOT_ENVELOPES = (msgspec.DecodeError, msgspec.ValidationError)
else:  # pragma: no cover
    _ENVELOPES = None


class Chunk:
    """The ops of one stretch of the history, from position `pos0`: whole op dicts, or envelopes
    (the five fields the scan reads) with each whole op parsed from its line only when asked for."""

    def __init__(self, pos0: int, ops: list | None = None, envelopes: list | None = None,
                 raws: list | None = None):
        self.pos0, self._ops, self._envs, self._raws = pos0, ops, envelopes, raws
        self._columns = None

    def __len__(self):
        return len(self._ops) if self._ops is not None else len(self._envs)

    def columns(self) -> tuple[list, list, list, list, list]:
        """(process, type, time, index, f) of every op; f is MISSING where an op has none."""
        if self._columns is None:
            if self._ops is not None:
                ops = self._ops
                self._columns = ([op.get("process") for op in ops], [op.get("type") for op in ops],
                                 [op.get("time") for op in ops], [op.get("index") for op in ops],
                                 [op.get("f", MISSING) for op in ops])
            else:
                envs, pos0 = self._envs, self.pos0
                index = [e.index for e in envs]
                if MISSING in index:
                    index = [pos0 + j if i is MISSING else i for j, i in enumerate(index)]
                self._columns = ([e.process for e in envs], [e.type for e in envs], [e.time for e in envs],
                                 index, [e.f for e in envs])
        return self._columns

    def op(self, j: int) -> dict:
        """The whole op at position pos0 + j."""
        if self._ops is not None:
            return self._ops[j]
        try:
            op = orjson.loads(self._raws[j])
        except orjson.JSONDecodeError:  # a line msgspec took and orjson does not (an integer over 64 bits)
            e = self._envs[j]
            op = {k: v for k, v in (("time", e.time), ("type", e.type), ("process", e.process), ("f", e.f))
                  if v is not MISSING}
        op.setdefault("index", self.pos0 + j)
        return op

    def ops(self) -> list[dict]:
        """Every op of the chunk, whole."""
        return self._ops if self._ops is not None else [self.op(j) for j in range(len(self))]


def _int64(i) -> int:
    return i if type(i) is int and -(1 << 63) <= i < (1 << 63) else -1


class HistoryFile:
    """A JSONL history read as a stream; indexable by position after `chunks()` has run to the end."""

    def __init__(self, path, problems: list[str]):
        self.path = Path(path)
        self.problems = problems
        self._offsets = np.zeros(0, dtype=np.int64)
        self._indexes = None     # np.int64 per position, only when some index is not its position
        self._sorted = None      # (argsort of _indexes, sorted indexes), built on first lookup
        self._cache: dict[int, dict] = {}
        self._f = None
        self.scanned = False

    # --- the one pass ---------------------------------------------------------------------------
    def chunks(self, envelopes: bool = False):
        """Yield a Chunk per ~4 MB of the file, recording where each op starts. envelopes: chunks
        of envelopes where the parser allows (a chunk with a damaged line comes as whole ops)."""
        offsets, indexes = array("q"), []   # offsets grow in place (see ops.COLUMNS)
        dense = True             # every op's index is its position (so no index array is kept)
        n, bad = 0, 0
        with open_history(self.path) as f:
            start, lineno = 0, 1
            while True:
                raws = f.readlines(CHUNK_BYTES)
                if not raws:
                    PROGRESS.read_end()
                    break
                lens = np.fromiter(map(len, raws), dtype=np.int64, count=len(raws))
                PROGRESS.read(len(raws), int(lens.sum()))
                starts = start + np.cumsum(lens) - lens
                chunk = self._envelopes(raws, n) if envelopes else None
                if chunk is not None:
                    offsets.frombytes(starts.tobytes())
                else:
                    ops, keep, bad = self._whole_ops(raws, lineno, bad)
                    for j, op in enumerate(ops, n):
                        op.setdefault("index", j)
                    chunk = Chunk(n, ops=ops)
                    offsets.frombytes((starts[keep] if len(keep) != len(raws) else starts).tobytes())
                m = len(chunk)
                index = chunk.columns()[3]
                if dense and index != list(range(n, n + m)):
                    dense = False
                    indexes.append(np.arange(n, dtype=np.int64))
                if not dense:
                    indexes.append(np.fromiter(map(_int64, index), dtype=np.int64, count=m))
                yield chunk
                n += m
                start += int(lens.sum())
                lineno += len(raws)
        if bad > MAX_NOTED:
            self.problems.append(f"{self.path.name}: {bad} damaged lines skipped in all")
        cut = truncation_note(self.path)
        if cut:
            self.problems.append(cut.replace(str(self.path), self.path.name, 1))
        self._offsets = np.frombuffer(offsets, dtype=np.int64)
        self._indexes = np.concatenate(indexes) if not dense else None
        self.scanned = True

    @staticmethod
    def _envelopes(raws: list, pos0: int) -> Chunk | None:
        """The chunk as envelopes, or None when some line is blank, damaged or not one object."""
        if _ENVELOPES is None:
            return None
        try:
            envs = _ENVELOPES.decode(b"[" + b",".join(raws) + b"]")
        except _NOT_ENVELOPES:
            return None
        return Chunk(pos0, envelopes=envs, raws=raws) if len(envs) == len(raws) else None

    def _whole_ops(self, raws: list, lineno: int, bad: int) -> tuple[list, list, int]:
        """(op dicts, their line numbers within the chunk, damaged lines so far)."""
        keep = [k for k, raw in enumerate(raws) if raw.strip()]
        try:  # fast path: the chunk as one JSON array, parsed in one C call
            ops = orjson.loads(b"[" + b",".join([raws[k] for k in keep]) + b"]")
            if len(ops) == len(keep) and all(type(op) is dict for op in ops):
                return ops, keep, bad
        except orjson.JSONDecodeError:
            pass
        ops, good = [], []
        for k in keep:
            try:
                op = orjson.loads(raws[k])
            except orjson.JSONDecodeError:
                op = None
            if type(op) is not dict:
                bad += 1
                if bad <= MAX_NOTED:
                    self.problems.append(f"{self.path.name}:{lineno + k}: not a JSON object, skipped")
                continue
            ops.append(op)
            good.append(k)
        return ops, good, bad

    # --- afterwards: ops by position or index ---------------------------------------------------
    def __len__(self):
        return len(self._offsets)

    def __getitem__(self, pos: int) -> dict:
        if not 0 <= pos < len(self._offsets):
            raise IndexError(pos)
        op = self._cache.get(pos)
        if op is None:
            if self._f is None:
                self._f = open_history(self.path)
            self._f.seek(int(self._offsets[pos]))
            try:
                op = orjson.loads(self._f.readline())
            except orjson.JSONDecodeError:
                op = None
            if type(op) is not dict:  # the file changed since the scan
                op = {"index": pos if self._indexes is None else int(self._indexes[pos])}
            op.setdefault("index", pos)
            if len(self._cache) >= CACHE:
                self._cache.clear()
            self._cache[pos] = op
        return op

    def position(self, index) -> int | None:
        """The position of the op with this index (the last one, should an index repeat), or None."""
        if type(index) is not int:
            return None
        if self._indexes is None:
            return index if 0 <= index < len(self._offsets) else None
        if self._sorted is None:
            order = np.argsort(self._indexes, kind="stable")
            self._sorted = (order, self._indexes[order])
        order, keys = self._sorted
        k = int(np.searchsorted(keys, index, side="right")) - 1
        return int(order[k]) if k >= 0 and keys[k] == index else None

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None
        self._cache.clear()


class ListHistory:
    """An in-memory history (EDN, or a test's list) behind HistoryFile's interface."""

    def __init__(self, ops: list[dict]):
        self.ops = ops
        self._where = None

    def chunks(self, envelopes: bool = False):
        yield Chunk(0, ops=self.ops)

    def __len__(self):
        return len(self.ops)

    def __getitem__(self, pos: int) -> dict:
        return self.ops[pos]

    def position(self, index) -> int | None:
        ops = self.ops
        if type(index) is int and 0 <= index < len(ops) and ops[index].get("index") == index:
            return index
        if self._where is None:  # a history whose indexes are not positions (rare)
            self._where = {}
            for k, op in enumerate(ops):
                with contextlib.suppress(TypeError):   # an unhashable index is found by no lookup
                    self._where[op.get("index")] = k
        with contextlib.suppress(TypeError):
            return self._where.get(index)
        return None

    def close(self):
        pass


def as_history(ops):
    """A HistoryFile or ListHistory as it is; a plain list of op dicts wrapped in a ListHistory."""
    return ops if isinstance(ops, (HistoryFile, ListHistory)) else ListHistory(list(ops))


def op_at(ops, index) -> dict | None:
    """The op with this index in a HistoryFile or ListHistory; None when the history has none."""
    k = ops.position(index)
    return None if k is None else ops[k]
