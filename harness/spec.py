"""The test spec: everything that defines one run, what `test.json` holds (enough to rerun it).

`TestSpec.from_dict(json.load(open("test.json")))` and `run_test(spec)` reproduce a run (the op
stream is the same for the same seed; thread interleavings and faults' timing are not).
"""
from __future__ import annotations

import dataclasses
import random

from harness.backends import BACKENDS, DEFAULT as DEFAULT_BACKEND
from harness.cluster.dbs import DB_NAMES
from harness.errors import UsageError
from harness.isolation import LEVELS as ISOLATIONS, MODEL_FOR as MODEL_FOR_ISOLATION
from harness.routing import POLICIES as ROUTINGS

# The names a spec may use are owned by the modules above (and workloads.WORKLOADS,
# nemesis.FAULTS); validate() reads them, and they stay importable from here.


from harness.record import TEST_RECORD as RUN_RECORD_FIELDS  # noqa: E402 - test.json's run facts


@dataclasses.dataclass
class TestSpec:
    __test__ = False  # not a pytest test class
    db: str
    workload: str
    nodes: int | None = None          # None: the db's default (1, 3 for galera, 2 for mm/standby)
    backend: str = DEFAULT_BACKEND
    isolation: str = "serializable"
    routing: str = "primary"
    nemesis: list[str] = dataclasses.field(default_factory=list)
    nemesis_interval: float = 10.0    # seconds between fault starts (and heals)
    time_limit: float = 30.0          # main phase, seconds
    final_time_limit: float = 15.0    # final reads: retry until ok or this deadline
    concurrency: int = 10
    rate: float = 100.0               # total ops/s over all workers; 0 = as fast as possible
    seed: int | None = None           # None: drawn at random and recorded
    store: str = "store"
    op_timeout: float = 10.0          # connect/read/write timeout of every database call
    model: str | None = None          # None: MODEL_FOR_ISOLATION[isolation]
    knobs: dict = dataclasses.field(default_factory=dict)          # db knobs for cluster.up
    workload_opts: dict = dataclasses.field(default_factory=dict)  # workload knobs
    name: str | None = None           # test name in the store; None: derived
    network: str = "loopback"         # delay between the machines: loopback | lan | wan (nemesis.network)
    history_compress: bool = False    # write history.jsonl.gz (gzip, flushed as the run goes)

    def __post_init__(self):
        if self.seed is None:
            self.seed = random.SystemRandom().randrange(2**31)
        if isinstance(self.nemesis, str):
            self.nemesis = [n for n in self.nemesis.split(",") if n]

    # --- validation: one clear line per problem, before anything is created ---------------------
    def validate(self) -> "TestSpec":
        from workloads import WORKLOADS
        if self.db not in DB_NAMES:
            raise UsageError(f"unknown db {self.db!r} (known: {', '.join(DB_NAMES)})")
        if self.workload not in WORKLOADS:
            raise UsageError(f"unknown workload {self.workload!r} (known: {', '.join(WORKLOADS)})")
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown backend {self.backend!r} (known: {', '.join(BACKENDS)})")
        if self.routing not in ROUTINGS:
            raise UsageError(f"unknown routing {self.routing!r} (known: {', '.join(ROUTINGS)})")
        if self.isolation not in ISOLATIONS:
            raise UsageError(f"unknown isolation {self.isolation!r} (known: {', '.join(ISOLATIONS)})")
        _positive("time limit", self.time_limit, limit=7 * 24 * 3600)
        _positive("final time limit", self.final_time_limit, zero_ok=True, limit=3600)
        _positive("op timeout", self.op_timeout, limit=3600)
        _positive("nemesis interval", self.nemesis_interval, limit=24 * 3600)
        _positive("rate", self.rate, zero_ok=True, limit=1e6)
        if not isinstance(self.concurrency, int) or isinstance(self.concurrency, bool) \
                or not 1 <= self.concurrency <= 1000:
            raise UsageError(f"concurrency must be an integer from 1 to 1000, not {self.concurrency!r}")
        if self.nodes is not None and (not isinstance(self.nodes, int) or not 1 <= self.nodes <= 9):
            raise UsageError(f"nodes must be an integer from 1 to 9, not {self.nodes!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise UsageError(f"seed must be an integer, not {self.seed!r}")
        if self.model is not None:
            from checkers.models import canonical
            try:
                canonical(self.model)
            except ValueError as e:
                raise UsageError(str(e)) from None
        from nemesis import network
        try:
            network.check(self.network)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if self.nemesis:
            from nemesis import parse_faults
            try:
                parse_faults(",".join(self.nemesis))
            except ValueError as e:
                raise UsageError(str(e)) from None
        if self.knobs.get("server_options"):  # refused options before any cluster is built
            from harness.cluster.dbs import get
            dbdef = get(self.db)
            dbdef.node_count(self.nodes, dbdef.validate_knobs(self.knobs))
        from workloads import workload_class
        try:
            workload_class(self.workload)(self.workload_opts)
        except ValueError as e:
            raise UsageError(str(e)) from None
        return self

    @property
    def checker_model(self) -> str:
        return self.model or MODEL_FOR_ISOLATION[self.isolation]

    @property
    def test_name(self) -> str:
        if self.name:
            return self.name
        parts = [self.db, self.workload, self.routing]
        if self.nemesis:
            parts.append("+".join(self.nemesis))
        return "-".join(parts)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TestSpec":
        """A spec from a dict such as test.json (the run record's extra fields are ignored)."""
        data = {k: v for k, v in data.items() if k not in RUN_RECORD_FIELDS}
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise UsageError(f"test spec: unknown field(s) {', '.join(sorted(unknown))}")
        missing = {"db", "workload"} - set(data)
        if missing:
            raise UsageError(f"test spec: missing field(s) {', '.join(sorted(missing))}")
        for f in dataclasses.fields(cls):
            if f.name in data and not _has_type(data[f.name], f.type):
                raise UsageError(f"test spec: field {f.name!r} must be {f.type}, not {data[f.name]!r}"[:300])
        return cls(**data)


def _has_type(value, annotation: str) -> bool:
    """Whether a JSON value fits a field's annotation (as written above: str, float, int | None, ...)."""
    for t in annotation.split(" | "):
        if (t == "None" and value is None) or (t == "str" and isinstance(value, str)) \
                or (t == "bool" and type(value) is bool) \
                or (t == "int" and type(value) is int) or (t == "dict" and isinstance(value, dict)) \
                or (t == "float" and type(value) in (int, float)) \
                or (t == "list[str]" and (isinstance(value, str) or (
                    isinstance(value, list) and all(isinstance(x, str) for x in value)))):
            return True
    return False


def _positive(what, value, zero_ok=False, limit=None):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if ok:
        ok = value >= 0 if zero_ok else value > 0
    if ok and limit is not None:
        ok = value <= limit
    if not ok:
        bound = f"{'>= 0' if zero_ok else '> 0'}" + (f" and <= {limit:g}" if limit else "")
        raise UsageError(f"{what} must be a number {bound}, not {value!r}")
