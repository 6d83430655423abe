"""The history file as the report reads it: once as a stream of chunks, then single ops by position.

`HistoryFile(path, problems)` never holds the history: `chunks()` parses ~4 MB of lines at a time
(one orjson call per chunk) and keeps only each op's byte offset (8 bytes an op) and, for a history
whose indexes are not their positions, the indexes (8 more); afterwards `hf[pos]` seeks to one line
and parses it, and `hf.position(index)` finds an op by its index. Lenient like the rest of the
report: a blank line is skipped, a damaged one skipped and noted in `problems` (a crashed run's last
line is often cut). An op without `index` gets its position, as the report has always numbered them.
"""
from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import numpy as np
import orjson

CHUNK_BYTES = 4 << 20
MAX_NOTED = 3           # damaged lines named one by one; beyond that only counted
CACHE = 50_000          # parsed ops kept for repeated lookups (the page asks for some ops often)


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
    def chunks(self):
        """Yield (ops, first position) per chunk of the file, recording where each op starts."""
        offsets, indexes = [], []
        dense = True             # every op's index is its position (so no index array is kept)
        n, bad = 0, 0
        with open(self.path, "rb") as f:
            start, lineno = 0, 1
            while True:
                raws = f.readlines(CHUNK_BYTES)
                if not raws:
                    break
                starts = list(itertools.accumulate(map(len, raws), initial=start))
                keep = [k for k, raw in enumerate(raws) if raw.strip()]
                ops = None
                try:  # fast path: the chunk as one JSON array, parsed in one C call
                    ops = orjson.loads(b"[" + b",".join(raws[k] for k in keep) + b"]")
                    if len(ops) != len(keep) or not all(type(op) is dict for op in ops):
                        ops = None
                except orjson.JSONDecodeError:
                    ops = None
                if ops is None:
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
                    keep = good
                odd = False
                for j, op in enumerate(ops, n):
                    if op.setdefault("index", j) != j:
                        odd = True
                if odd and dense:
                    dense = False
                    indexes.append(np.arange(n, dtype=np.int64))
                if not dense:
                    indexes.append(np.fromiter((_int64(op["index"]) for op in ops), np.int64, len(ops)))
                offsets.append(np.array([starts[k] for k in keep], dtype=np.int64))
                yield ops, n
                n += len(ops)
                start = starts[-1]
                lineno += len(raws)
        if bad > MAX_NOTED:
            self.problems.append(f"{self.path.name}: {bad} damaged lines skipped in all")
        self._offsets = np.concatenate(offsets) if offsets else np.zeros(0, dtype=np.int64)
        self._indexes = np.concatenate(indexes) if not dense else None
        self.scanned = True

    # --- afterwards: ops by position or index ---------------------------------------------------
    def __len__(self):
        return len(self._offsets)

    def __getitem__(self, pos: int) -> dict:
        if not 0 <= pos < len(self._offsets):
            raise IndexError(pos)
        op = self._cache.get(pos)
        if op is None:
            if self._f is None:
                self._f = open(self.path, "rb")
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

    def chunks(self):
        yield self.ops, 0

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
