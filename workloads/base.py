"""The workload seam: what the runner needs from a workload, and helpers every SQL client shares.

A workload is a subclass of `Workload`, registered by name in `workloads.WORKLOADS`:

    class MyWorkload(Workload):
        name = "my-workload"          # CLI name (`harness run --workload my-workload`)
        checker = "my-workload"       # name in checkers.registry (the module that judges the history)
        defaults = {"keys": 10}       # knobs; `Workload(opts)` merges opts over these into self.opts

        def setup(self, cluster): ...             # create the schema, through cluster.primary
        def generator(self, rng): ...             # main-phase ops (an iterator of op dicts, or a Source)
        def final_generator(self, rng): ...       # ops every worker performs after the main phase ("once": one)
        def invoke(self, conn, dialect, op): ...  # run one op -> (type, value, extra_fields)

Ops the generators yield are dicts with `f` and `value` and optional routing hints, read by
harness.routing.Router:
    key       -> `sticky` routing keeps every op with the same key on one node
    instance  -> same, for a process instance (wins over `key`)
    readonly  -> True when the transaction only reads: in primary/standby topologies it may be served
                 by a standby (read/write splitting); writes always go to a writable node.
    engine    -> the engine node (0, 1, ...) the request reached: `local` routing sends it to
                 database node `engine` (each engine machine with its own database)
    follow_up -> True for a user's next request right after the previous answer: not paced
Hints stay in the recorded op (the history may carry workload-specific fields).

`invoke(conn, dialect, op)` runs against ONE DB-API connection (PyMySQL when dialect == "mysql",
psycopg 3 when "postgres"), opened in autocommit mode with the session isolation level already set by
the runner; a transaction is opened explicitly, best through `transaction(conn, dialect)`. It returns
`("ok", value_with_reads_filled_in, {extra fields})`, or `("fail", value, {...})` for a definite
failure it detected itself. It may also raise:
    Abort(reason)      -> the runner records `fail` (the client gave up before committing)
    CommitUnknown      -> raised by `transaction()` when COMMIT itself failed in a way that leaves the
                          outcome open: `info`
    any driver error   -> `classify(exc)` decides: lost connection / timeout -> `info`;
                          deadlock, serialization failure, constraint, WSREP-not-ready... -> `fail`
After `info` the runner discards the connection and gives the worker a new process number.
"""
from __future__ import annotations

import contextlib

from checkers.registry import checker_for
# what the SQL families' errors and statements mean is dialect knowledge (harness/cluster/dialects,
# a leaf: drivers only); re-exported here for workloads and the runner
from harness.cluster.dialects import get as _dialect
from harness.cluster.dialects import is_connection_error, is_definite_abort, is_node_unavailable  # noqa: F401


class RollbackFailed(ConnectionError):
    """ROLLBACK itself failed after an error: the connection was closed; the outcome is open (info)."""


class Abort(Exception):
    """The client decided not to commit (e.g. insufficient funds, optimistic-lock conflict): `fail`.
    `value`, when given, is what the failed op is recorded with (what the client had read)."""

    def __init__(self, message: str = "", value: dict | None = None):
        super().__init__(message)
        self.value = value


class CommitUnknown(Exception):
    """COMMIT failed without a definite answer: the transaction may or may not have happened."""

    def __init__(self, cause: BaseException):
        super().__init__(f"commit outcome unknown: {describe(cause)}")
        self.cause = cause


def describe(exc: BaseException) -> str:
    """A short one-line description of a driver error for the history's `error` field."""
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):  # PyMySQL: (code, message)
        return f"{args[0]}: {args[1]}"[:300]
    sqlstate = getattr(exc, "sqlstate", None)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (f"{sqlstate}: {text}" if sqlstate else f"{type(exc).__name__}: {text}")[:300]


def classify(exc: BaseException) -> tuple[str, str]:
    """Map an exception raised by `invoke` to the history type (`fail` | `info`) and an error text."""
    if isinstance(exc, Abort):
        return "fail", str(exc) or "aborted"
    if isinstance(exc, CommitUnknown):
        return "info", str(exc)
    if is_connection_error(exc):
        return "info", describe(exc)
    # any other error before COMMIT: the transaction was rolled back (we never committed it)
    return "fail", describe(exc)


def begin_sql(name: str) -> str:
    return _dialect(name).BEGIN


@contextlib.contextmanager
def transaction(conn, dialect: str):
    """BEGIN ... COMMIT on an autocommit connection; yields a cursor.

    An exception in the body rolls back and propagates (the runner classifies it). An exception from
    COMMIT propagates unchanged when it proves an abort (deadlock, serialization failure), and as
    `CommitUnknown` otherwise.
    """
    cur = conn.cursor()
    try:
        cur.execute(begin_sql(dialect))
        yield cur
    except BaseException as e:
        if is_connection_error(e):  # the server rolls back what a lost connection left open
            with contextlib.suppress(Exception):
                conn.close()
            raise
        try:
            conn.cursor().execute("ROLLBACK")
        except Exception as rb:
            if is_definite_abort(rb):  # Galera reports its brute-force abort as 1213 to ROLLBACK:
                raise e from rb        # the transaction is gone, the connection is clean
            # e.g. a Galera node that left the primary component answers 1047 to ROLLBACK too: the
            # connection still holds the half-done transaction, and the next START TRANSACTION
            # would COMMIT it implicitly. Close it (the server rolls back) and call the op open.
            with contextlib.suppress(Exception):
                conn.close()
            raise RollbackFailed(f"{describe(e)}; then ROLLBACK failed ({describe(rb)}): connection "
                                 f"closed so the server rolls the transaction back") from e
        with contextlib.suppress(Exception):
            cur.close()
        raise
    try:
        cur.execute("COMMIT")
    except Exception as e:
        with contextlib.suppress(Exception):
            cur.close()
        if is_definite_abort(e):
            raise
        raise CommitUnknown(e) from e
    with contextlib.suppress(Exception):
        cur.close()


def table_options(name: str) -> str:
    """What follows CREATE TABLE (...) in this dialect."""
    return _dialect(name).TABLE_OPTIONS


def sql(dialect: str, mysql: str, postgres: str) -> str:
    """Pick the statement text for the connection's dialect."""
    return mysql if dialect == "mysql" else postgres


def run_ddl(cluster, statements: list[str]) -> None:
    """Execute schema statements on the primary in autocommit mode (each its own transaction)."""
    conn = cluster.connect(cluster.primary, timeout=30.0, autocommit=True)
    try:
        cur = conn.cursor()
        for stmt in statements:
            cur.execute(stmt)
        cur.close()
    finally:
        conn.close()


class Workload:
    """Base class of every workload; see the module docstring for the contract."""
    name = "base"
    checker = None   # checkers.registry name; defaults to `name`
    defaults: dict = {}
    measured_lag_ms = None  # the run's median replication lag (harness.lag_monitor), set before check

    def __init__(self, opts: dict | None = None):
        unknown = set(opts or {}) - set(self.defaults)
        if unknown:
            raise ValueError(f"workload {self.name}: unknown option(s) {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(sorted(self.defaults)) or 'none'})")
        self.opts = {**self.defaults, **(opts or {})}
        for key, default in self.defaults.items():  # numbers given as text (--opt k=v) or nonsense
            value = self.opts[key]
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                kind = type(default)
                try:
                    if isinstance(value, bool) or (kind is int and float(value) != int(float(value))):
                        raise ValueError
                    self.opts[key] = kind(float(value)) if kind is int else kind(value)
                except (TypeError, ValueError):
                    raise ValueError(f"workload {self.name}: option {key} must be "
                                     f"{'an integer' if kind is int else 'a number'}, not {value!r}") from None
        problem = self.validate_opts(self.opts)
        if problem:
            raise ValueError(f"workload {self.name}: {problem}")

    def validate_opts(self, opts: dict) -> str | None:
        """A one-line complaint about nonsense option values, or None (override per workload)."""
        return None

    # --- what the runner calls -------------------------------------------------------------------
    def setup(self, cluster) -> None:
        """Create the workload's schema (idempotent is not required: the database is fresh)."""
        raise NotImplementedError

    def generator(self, rng):
        """Main-phase ops: an iterator of op dicts (drawn by all workers, under a lock) or a
        harness.generator.Source (e.g. EachWorker for per-worker streams)."""
        raise NotImplementedError

    def final_generator(self, rng) -> list[dict]:
        """Ops every worker performs after the main phase, each retried until it succeeds or the
        final deadline passes (e.g. final reads that make lost writes visible). An op with
        `"once": True` is performed by one worker only (the first to reach it; the runner drops the
        mark before recording). Default: none."""
        return []

    def invoke(self, conn, dialect: str, op: dict):
        """Execute one op; returns (type, value, extra_fields). See the module docstring."""
        raise NotImplementedError

    def check_opts(self) -> dict:
        """Extra keyword arguments for the checker (e.g. the bank's initial total)."""
        return {}

    def check(self, history: list[dict], model: str) -> dict:
        return checker_for(self.checker or self.name).check(history, model, **self.check_opts())
