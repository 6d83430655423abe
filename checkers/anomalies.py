"""The anomaly table: every anomaly type a checker reports, declared once.

Each entry says which consistency models the anomaly rules out, what it means in plain words,
what it could do to a process engine and, for a dependency cycle, the cycle's shape. Everything
else reads it: checkers.models derives what each model forbids and the verdict, checkers.cycles
searches and classifies cycles by the shapes, the report and JUnit print the words. A new anomaly
type is one entry here (plus the checker code that finds it).

Fields of an Anomaly:
    rules_out   the weakest models that forbid it (every stronger one does too); ALL: no model
                permits it; None: no checker reports it, the entry only gives the report its words
                (such names are judged as unknown names are: they rule out every model)
    meaning     plain words for readers who do not know the letters ('' when there are none)
    impact      what it could do to a Camunda-7-style engine (state in rows guarded by a REV_ column,
                updated `... WHERE id=? AND rev=?` at READ COMMITTED). Hedged: it shows what the
                database allowed, not that an engine hit it. For engine invariants: the meaning.
    cycle       a Cycle for dependency-cycle anomalies; those also come as the VARIANTS below
    implied_by  cycle classes whose finding (in the same or a weaker variant) makes searching this
                one pointless: every model it would rule out is ruled out already
    engine      an invariant of the process engine (the save-resume checker): a run where it is
                broken is invalid under every model; `rules_out` still names the models whose
                guarantees it breaks (the result's `not` / `also_not`)
    behind      engine invariants: the isolation anomaly behind it (results' `engine_mapping`)
    evidence    engine invariants: what in a history shows it
"""
from __future__ import annotations

from dataclasses import dataclass

ALL = "all"


@dataclass(frozen=True)
class Cycle:
    """A cycle class: the data edges ('ww', 'wr', 'rw') it may use, the edge type a search starts
    from when no process / real-time edge is needed, how many rw edges it has (max None: no bound),
    and whether two rw edges may not follow each other."""
    edges: tuple
    start: str
    min_rw: int = 0
    max_rw: int | None = 0
    nonadjacent: bool = False

    def admits(self, kinds) -> bool:
        """Whether a cycle with these edge kinds (data, 'process', 'realtime') is of this class."""
        if any(k not in self.edges for k in kinds if k in DATA_EDGES):
            return False
        rws = [k == "rw" for k in kinds]
        n_rw = sum(rws)
        if n_rw < self.min_rw or (self.max_rw is not None and n_rw > self.max_rw):
            return False
        return not (self.nonadjacent and any(rws[i] and rws[(i + 1) % len(rws)] for i in range(len(rws))))


@dataclass(frozen=True)
class Anomaly:
    name: str
    rules_out: object            # tuple of model names, ALL, or None (words only)
    meaning: str = ""
    impact: str = ""
    cycle: Cycle | None = None
    implied_by: tuple = ()
    engine: bool = False
    behind: str = ""
    evidence: str = ""

    @property
    def has_variants(self) -> bool:
        return self.cycle is not None


@dataclass(frozen=True)
class Variant:
    """A cycle that needs process order (one client's own order) or real-time order. Each variant
    may also use the edges of the ones before it (process order is a special case of real time)."""
    suffix: str
    edge: str                    # the edge kind such a cycle needs
    meaning: str                 # appended to the base's meaning
    impact: str                  # appended to the base's impact (alone, without '; ', if it has none)


DATA_EDGES = ("ww", "wr", "rw")
VARIANTS = (
    Variant("-process", "process",
            " (the cycle needs one client's own order: it did not see its own past)",
            "; one session did not see its own earlier save"),
    Variant("-realtime", "realtime",
            " (the cycle needs real time: a stale read across sessions or nodes)",
            "; across nodes: a user who saved on one node can resume on another and see the old step"),
)

RU, RC, MAV, CS, RR, SI, SER = ("read-uncommitted", "read-committed", "monotonic-atomic-view",
                                "cursor-stability", "repeatable-read", "snapshot-isolation", "serializable")

TABLE = (
    # --- dependency cycles (Adya / Elle), in the order they are searched and classified: a cycle
    # is of the first class that admits it
    Anomaly("G0", (RU,),
            "write cycle: two transactions overwrote each other's writes in an order no serial run allows",
            "two saves' row updates can interleave: an instance can keep the execution of one save and the "
            "variables of another, for good",
            cycle=Cycle(("ww",), "ww")),
    Anomaly("G1c", (RC,),
            "circular information flow: transactions each saw the other's writes",
            "two saves each saw the other's effects: no order of the saves explains the instance's state",
            cycle=Cycle(("ww", "wr"), "wr")),
    Anomaly("G-single", (RR, SI),
            "read skew: a transaction saw part of another's writes but missed the rest",
            "one read can see part of a save and miss the rest (execution from one step, variables from "
            "another); at READ COMMITTED the engine relies on its REV_ check at write time to catch this",
            cycle=Cycle(DATA_EDGES, "rw", 1, 1)),
    Anomaly("G-nonadjacent", (RR, SI),
            "a dependency cycle with non-adjacent anti-dependencies (read skew over several transactions)",
            "reads can mix states of several saves; the engine relies on its REV_ check to catch it",
            cycle=Cycle(DATA_EDGES, "rw", 2, None, nonadjacent=True), implied_by=("G-single",)),
    Anomaly("G2-item", (RR,),   # and serializable, which is stronger than repeatable read
            "write skew: two transactions each read what the other then overwrote",
            "two nodes can each decide on what the other is changing: e.g. two instances for one business "
            "key, or a job both completed and retried",
            cycle=Cycle(DATA_EDGES, "rw", 1, None), implied_by=("G-single", "G-nonadjacent")),

    # --- the other isolation anomalies (list-append, rw-register)
    Anomaly("G1a", (RC,),
            "aborted read: a transaction read a value written by a transaction that failed",
            "the engine can act on a save that was rolled back (continue from a step that never happened)"),
    Anomaly("G1b", (RC,),
            "intermediate read: a transaction read a value that its writer later overwrote in the same transaction",
            "the engine can act on a half-done save (an intermediate state no user ever committed)"),
    Anomaly("dirty-update", (RC,),
            "a committed write was based on an aborted one",
            "a committed save was built on one that was rolled back"),
    # Elle's internal (a read that disagrees with the txn's own earlier read or appends) is
    # proscribed from read atomic up, as in Elle: read committed allows non-repeatable reads
    Anomaly("internal", (MAV,),
            "a transaction did not see its own earlier write",
            "a transaction did not see its own write: the engine's own save reads back wrong data"),
    Anomaly("lost-update", (CS,),
            "two committed transactions read the same version and both wrote it: one update was lost",
            "two nodes can save the same instance revision and both succeed: one save silently vanishes "
            "(the optimistic-locking REV_ check assumes this cannot happen)"),
    # anomalies that corrupt the data itself: no isolation level permits them
    Anomaly("duplicate-elements", ALL,
            "a read showed the same appended element twice",
            "one write was applied twice: a step or job effect can repeat"),
    Anomaly("incompatible-order", ALL,
            "two reads disagree on the order of a key's values",
            "nodes disagree on the order of an instance's saves: its history differs by node"),
    Anomaly("future-read", ALL,
            "a transaction read a value before it was written",
            "a read saw a save before it happened: the database's order cannot be trusted"),
    Anomaly("cyclic-versions", ALL,
            "the versions of a key cannot be ordered at all",
            "nodes disagree on the order of an instance's saves: its history differs by node"),
    Anomaly("garbage-read", ALL,
            "a read showed a value no transaction wrote",
            "the engine can act on state no save ever wrote: the database returned data from nowhere"),

    # --- bank, set, linearizable register
    # a wrong total means money was created or destroyed (lost update) or a read saw half a
    # transfer (read skew): read committed permits both; snapshot isolation and repeatable read not
    Anomaly("wrong-total", (SI, RR),
            "a read saw a bank total different from the money that exists",
            "a transfer's two halves were seen apart: multi-row engine updates are not atomic here"),
    Anomaly("negative-balance", (SI, RR),
            "an account went below zero",
            "a check-then-update raced: guards the engine writes as queries can be bypassed"),
    Anomaly("lost", ALL,
            "an acknowledged insert is missing from the final read",
            "an acknowledged write disappeared: an acknowledged save can vanish"),
    Anomaly("unexpected", ALL,
            "the final read contains something never inserted",
            "data appeared that no client wrote: state from nowhere"),
    Anomaly("nonlinearizable", ("strict-serializable",),
            "the register's reads and writes fit no single order that respects real time",
            "a read that began after a write was acknowledged can miss it: a compare-and-set on a row's "
            "revision (the engine's REV_ check) can act on a stale value"),

    # --- words for the report only: no checker reports these names
    Anomaly("G2", None,
            "anti-dependency cycle (write skew, predicate form)",
            "two nodes can each pass a check the other invalidates (duplicate instances, double job acquisition)"),
    Anomaly("stale-read", None,
            "a read returned data older than a write acknowledged before it began",
            "a user who saved on one node can resume on another and see the old step"),

    # --- engine invariants (checkers.save_resume, engine_locks, engine_registers), in report order
    Anomaly("lost-save", ALL,   # an acknowledged step vanished: no model permits it
            "an acknowledged save of a process instance vanished: the instance silently went back a step",
            engine=True,
            behind="lost update (P4 / G2-item on the execution row): a committed write was overwritten "
                   "or dropped because two writers did not see each other",
            evidence="an acknowledged save missing from a later state: gaps or duplicates in an instance's "
                     "history sequence, or a node's final state lacks an acknowledged step"),
    Anomaly("double-win", (CS,),   # lost update (P4)
            "two saves of the same instance revision both committed: optimistic locking did not protect it",
            engine=True,
            behind="lost update (P4): two transactions updated the same row version; first-committer-wins "
                   "(the optimistic-locking WHERE rev=? check) was not enforced across nodes",
            evidence="two committed saves of one instance from the same revision (optimistic lock beaten)"),
    Anomaly("stale-resume", ("strong-read-uncommitted",),   # violates real-time order
            "a user resumed an instance and saw an older step than one already acknowledged",
            engine=True,
            behind="stale read (G-single-realtime / read-your-writes violated): a read that began after a "
                   "commit was acknowledged did not observe it",
            evidence="a resume that began after a save was acknowledged returned an older step, or a resume "
                     "that began after another resume ended returned an older step than it"),
    Anomaly("double-execution", (CS,),   # lost update on the job row
            "a job ran more than once, or two nodes held its lock at once: side effects repeat",
            engine=True,
            behind="lost update (P4) on the job row: two acquisitions or executions of one job version "
                   "both committed",
            evidence="a job with more than one committed effect, or two live leases on one job held by "
                     "different owners at the same time"),
    Anomaly("duplicate-instance", (SER,),   # write skew on the unique predicate
            "two running process instances exist for one business key",
            engine=True,
            behind="write skew on a predicate (G2): two inserts each checked the unique key against "
                   "a state without the other",
            evidence="two running instances for one business key although a unique index forbids it"),
    Anomaly("torn-state", (MAV,),   # fractured read
            "one read saw execution, variables, task and history out of step with each other",
            engine=True,
            behind="fractured read / read skew (G-single): one read saw parts of different transactions",
            evidence="execution, variable, task/job and history disagree within one read"),
    Anomaly("divergence", ALL,   # no single history explains the nodes
            "after healing, the nodes hold different data: what the engine sees depends on the node",
            engine=True,
            behind="replicas diverged: no single order of the committed transactions explains the nodes' "
                   "final states",
            evidence="the nodes' final states differ"),
    Anomaly("duplicate-id", (CS,),   # lost update on the id-block property row
            "two engines handed out the same ids: rows collide, and replication stops on the duplicate key",
            engine=True,
            behind="lost update (P4) on ACT_GE_PROPERTY 'next.dbid': two engines read the same block "
                   "and both REV_-checked writes committed",
            evidence="two entities got one ID_: two engines took overlapping blocks of 'next.dbid', or two "
                     "acknowledged commands inserted rows with one ID_"),
    Anomaly("duplicate-definition", (SER,),   # predicate write skew (the lock did not hold)
            "two deployments made the same version of a process: instances start on either at random",
            engine=True,
            behind="write skew on a predicate (G2) that the deployment lock should have "
                   "prevented: SELECT ... FOR UPDATE did not serialise the two deployments",
            evidence="two process definitions of one key with one VERSION_ (the deployment lock, "
                     "SELECT ... FOR UPDATE, did not serialise two deployments)"),
    Anomaly("exclusive-overlap", (SER,),
            "two job executors ran one instance's exclusive steps at once, or a message was handled twice",
            engine=True,
            behind="write skew on a predicate (G2): two acquisitions each saw no locked exclusive "
                   "job of the instance; or a lost update (P4) on the message subscription row",
            evidence="two exclusive jobs of one instance held by different job executors at once, or one "
                     "message subscription correlated twice"),
    Anomaly("duplicate-cleanup-job", (SER,),
            "two history-cleanup jobs exist: cleanup runs twice and contends with itself",
            engine=True,
            behind="write skew on a predicate (G2) under the history-cleanup lock: both "
                   "schedulers saw no cleanup job",
            evidence="more than one history-cleanup job (its lock did not serialise scheduling)"),
    Anomaly("replication-halted", ALL,
            "a machine stopped receiving the other's writes: its users see the past from then on",
            engine=True,
            behind="replication stopped: acknowledged writes of one machine never reach the other",
            evidence="a node's replication stopped with an error; the first acknowledged write the node "
                     "then never got"),
    Anomaly("next-day-resume", ALL,   # an acknowledged state is gone after healing
            "the next day, users opening their instances on this machine find them in a wrong state",
            engine=True,
            behind="lost or stale state after the faults healed: a node shows an instance other than "
                   "as the user's last acknowledged write left it",
            evidence="after healing and settling, a returning user opening an instance on some node finds "
                     "it in a state other than the one their last acknowledged write left"),
    Anomaly("rev-nonlinearizable", ("strong-read-uncommitted",),   # real-time order on one row violated
            "an instance's revision counter did not act as one register: the optimistic lock cannot protect it",
            engine=True,
            behind="the execution row's REV_ is not a linearizable compare-and-set register: a "
                   "lost update (two REV_-checked updates from one revision) or a stale read of one row",
            evidence="the execution row's REV_ is not a linearizable compare-and-set register "
                     "(checkers.engine_registers)"),
)

BY_NAME = {a.name: a for a in TABLE}
if len(BY_NAME) != len(TABLE):
    raise ValueError("checkers.anomalies: an anomaly name is declared twice")
CYCLES = tuple(a for a in TABLE if a.cycle is not None)            # search / classification order
CYCLE_ANOMALIES = tuple(a.name for a in CYCLES)
ENGINE_ANOMALIES = tuple(a.name for a in TABLE if a.engine)          # report and JUnit order


def is_engine(name: str) -> bool:
    a = BY_NAME.get(name)
    return a is not None and a.engine


def classify(kinds) -> str:
    """Anomaly name of a cycle given its (compressed) edge kinds: 'ww','wr','rw','process','realtime'."""
    base = next(a.name for a in CYCLES if a.cycle.admits(kinds))
    for v in reversed(VARIANTS):     # the strongest order the cycle needs names it
        if v.edge in kinds:
            return base + v.suffix
    return base


def _variant(name: str):
    """(base entry or None, variant) for a name ending in a variant's suffix, else None. The words of
    a variant are read off any base that is no engine invariant (cycles are the ones checkers name so)."""
    for v in reversed(VARIANTS):
        if name.endswith(v.suffix):
            base = BY_NAME.get(name[: -len(v.suffix)])
            return (base if base is not None and not base.engine else None), v
    return None


def meaning(name: str) -> str:
    """Plain words for an anomaly type, including its -process / -realtime variants ('' if none)."""
    a = BY_NAME.get(name)
    if a is not None and a.meaning:
        return a.meaning
    split = _variant(name)
    if split is not None and split[0] is not None and split[0].meaning:
        return split[0].meaning + split[1].meaning
    return ""


def impact(name: str) -> str:
    """What the anomaly could do to a process engine ('' when unknown)."""
    a = BY_NAME.get(name)
    if a is not None and a.engine:
        return a.meaning          # an invariant's impact is what it means
    split = _variant(name)
    if split is not None:
        base, v = split
        return base.impact + v.impact if base is not None and base.impact else v.impact[2:]
    return a.impact if a is not None else ""
