"""The engine's id generators, one per engine node.

`db` is Camunda's default DbIdGenerator: an engine takes a block of `block` ids at a time by reading
ACT_GE_PROPERTY 'next.dbid', adding the block size and writing it back WHERE NAME_ = 'next.dbid' AND
REV_ = ? (GetNextIdBlockCmd), in a transaction of its own, with optimistic locking only (no FOR
UPDATE). Two engines whose databases both answer from their own copy of that row hand out the same
ids. `uuid` is StrongUuidGenerator (time-based UUIDs), what Camunda's documentation tells production
set-ups to use.
"""
from __future__ import annotations

import threading
import uuid

from workloads.base import Abort, transaction

GENERATORS = ("db", "uuid")
BLOCK_RETRIES = 10  # GetNextIdBlockCmd is retried on an optimistic-locking failure


class DbIdGenerator:
    """Ids from blocks of `next.dbid`; thread-safe (the engine's getNextId is synchronized)."""

    def __init__(self, block: int):
        self.block = block
        self._next = self._end = 0
        self._lock = threading.Lock()

    def take(self, conn, dialect: str, n: int, record: list) -> list[str]:
        """n ids; fetches new blocks on `conn` (each in its own transaction) when the current one is
        used up and appends [first, end, revision read] of every block fetched to `record`."""
        out = []
        with self._lock:
            while len(out) < n:
                if self._next >= self._end:
                    self._next, self._end, rev = self._fetch(conn, dialect)
                    record.append([self._next, self._end, rev])
                out.append(str(self._next))
                self._next += 1
        return out

    def refill(self, conn, dialect, record: list) -> None:
        """Take the next block now, as when the current one is used up."""
        with self._lock:
            self._next, self._end, rev = self._fetch(conn, dialect)
            record.append([self._next, self._end, rev])

    def _fetch(self, conn, dialect):
        for _ in range(BLOCK_RETRIES):
            with transaction(conn, dialect) as cur:
                cur.execute("SELECT VALUE_, REV_ FROM ACT_GE_PROPERTY WHERE NAME_ = 'next.dbid'")
                row = cur.fetchone()
                if row is None:
                    raise Abort("no next.dbid property")
                first, rev = int(row[0]), int(row[1])
                cur.execute("UPDATE ACT_GE_PROPERTY SET VALUE_ = %s, REV_ = REV_ + 1 "
                            "WHERE NAME_ = 'next.dbid' AND REV_ = %s", (str(first + self.block), rev))
                won = cur.rowcount == 1
            if won:
                return first, first + self.block, rev
        raise Abort(f"id block: next.dbid changed under {BLOCK_RETRIES} attempts in a row")


class UuidGenerator:
    """Time-based UUIDs (StrongUuidGenerator): unique without asking the database."""

    def take(self, conn, dialect, n, record):
        return [str(uuid.uuid1()) for _ in range(n)]

    def refill(self, conn, dialect, record):
        """Nothing to fetch: UUIDs need no block."""


def make(kind: str, block: int):
    return DbIdGenerator(block) if kind == "db" else UuidGenerator()
