"""Certification matrices: the architectures to judge, as plain data.

A matrix is a list of cells. A cell is one candidate architecture (a db topology + routing +
isolation + knobs); it expands into runs: every workload x every fault set x `runs` repetitions.
Built-in profiles answer the motivating question (can a Camunda-7-style engine save on A and resume
on B?); `--matrix FILE` (TOML or YAML) supplies a custom one with the same fields:

    time_limit = 20            # optional defaults for every cell
    runs = 1
    [[cell]]
    name = "galera-rr"
    title = "Galera behind a load balancer (round-robin)"
    db = "galera"
    routing = "round-robin"
    isolation = "read-committed"
    knobs = { wsrep_sync_wait = 7 }
    server_options = ["innodb_flush_log_at_trx_commit=0"]  # optional: --server-opt, per cell
    server_config = "my-galera.cnf"                         # optional: --server-config (relative to the matrix)
    workloads = ["save-resume", "list-append"]
    nemesis = ["none", "partition", "lag", "kill"]     # "none" = no fault; "a+b" = both at once
    backend = "ssh"                                         # optional: netns (default), docker, ssh
    hosts = "hosts.toml"                                    # ssh: a hosts file (relative to the matrix)
    # hosts = ["10.0.0.11", "admin@10.0.0.12:2222"]         #  or the hosts themselves; else --hosts
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import tomllib
from pathlib import Path

import yaml

from harness.backends import ssh_config
from harness.cluster import server_options
from harness.cluster.dbs import single_node
from harness.errors import UsageError
from harness.routing import ONE_NODE
from harness.spec import DEFAULT_BACKEND, TestSpec

MULTI_NODE_FAULTS = ["none", "partition", "lag", "kill"]
SINGLE_NODE_FAULTS = ["none", "kill"]


@dataclasses.dataclass
class Cell:
    name: str
    db: str
    title: str = ""
    routing: str = "primary"
    isolation: str = "read-committed"
    nodes: int | None = None
    backend: str = DEFAULT_BACKEND
    knobs: dict = dataclasses.field(default_factory=dict)
    workloads: list[str] = dataclasses.field(default_factory=lambda: ["save-resume", "list-append"])
    nemesis: list[str] | None = None      # None: a default that fits the topology
    workload_opts: dict = dataclasses.field(default_factory=dict)
    network: str = "lan"                  # certification judges machines on a LAN, not a loopback bridge
    server_options: list[str] = dataclasses.field(default_factory=list)  # --server-opt entries
    server_config: str | None = None      # --server-config FILE
    hosts: str | list | None = None       # ssh: a hosts file or a list of [USER@]ADDRESS[:PORT]
    host_list: list | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.hosts is not None:
            self.host_list = _parse_hosts(self.hosts, self.backend)
        if self.server_options or self.server_config:
            # carried as the knob server_options, like every knob: into each run's spec and cluster,
            # and into cluster_key (different server settings never share a cluster)
            args = argparse.Namespace(server_opt=list(self.server_options), server_config=self.server_config)
            self.knobs = server_options.from_args(args, dict(self.knobs), self.db)
            self.server_options, self.server_config = [], None
        if self.nemesis is None:
            single = single_node(self.db)
            self.nemesis = list(SINGLE_NODE_FAULTS if single else MULTI_NODE_FAULTS)
        self.title = self.title or self.name

    @property
    def cluster_key(self) -> str:
        """Cells with the same key can share one running cluster (fresh data per run)."""
        hosts = [[h.address, h.port] for h in self.host_list] if self.host_list else None
        return json.dumps([self.db, self.nodes, self.backend, self.knobs] + ([hosts] if hosts else []),
                          sort_keys=True)

    @property
    def user_may_switch_nodes(self) -> bool:
        """Can a save land on one database and the later resume on another?"""
        return not single_node(self.db) and self.routing not in ONE_NODE


class HostsError(UsageError):
    """A cell's hosts value is wrong (load_matrix names its line)."""


def _parse_hosts(hosts, backend: str) -> list:
    """A cell's `hosts`: a hosts file (str) or a list of [USER@]ADDRESS[:PORT] (see ssh_config)."""
    if backend != "ssh":
        raise HostsError(f'hosts is for backend = "ssh" (this cell\'s backend is {backend!r})')
    if isinstance(hosts, str) and hosts.strip():
        path = Path(hosts)
        if not (path.is_file() or path.suffix in (".toml", ".yaml", ".yml", ".json")):
            raise HostsError(f"hosts = {hosts!r}: no such hosts file (a list names the hosts: hosts = [{hosts!r}])")
        spec = hosts
    elif isinstance(hosts, list) and hosts and all(isinstance(h, str) and h and "," not in h for h in hosts):
        spec = ",".join(hosts)
    else:
        raise HostsError(f"hosts must be a hosts file or a non-empty list of [USER@]ADDRESS[:PORT], not {hosts!r}")
    try:
        return ssh_config.parse(spec)
    except UsageError as e:
        raise HostsError(str(e).removeprefix("--")) from None


def _cell(name, title, db, **kw) -> Cell:
    return Cell(name=name, title=title, db=db, **kw)


CAMUNDA = {"camunda": True}  # Camunda's documented Galera settings: READ COMMITTED, wsrep_sync_wait=7, ...
ENGINE = ["save-resume"]

PROFILES: dict[str, list[Cell]] = {
    # The motivating question's architectures, each under no fault, partitions, lag and kills. Two
    # engine nodes (machines A and B) in every cell; `local` = each engine with its own database.
    "camunda-7": [
        _cell("mariadb-rc", "One MariaDB node, READ COMMITTED (the documented baseline)", "mariadb"),
        _cell("galera-primary-sw0", "Galera, both engines talk to ONE node, wsrep_sync_wait=0", "galera",
              routing="primary", knobs={"wsrep_sync_wait": 0}),
        _cell("galera-primary", "Galera with Camunda's settings, both engines talk to ONE node", "galera",
              routing="primary", knobs=CAMUNDA),
        _cell("galera-failover", "Galera with Camunda's settings, ONE node with failover to the next",
              "galera", routing="failover", knobs=CAMUNDA),
        _cell("galera-rr", "Galera with Camunda's settings behind a load balancer (round-robin)", "galera",
              routing="round-robin", knobs=CAMUNDA),
        _cell("galera-local", "Galera with Camunda's settings, each engine on its own node", "galera",
              routing="local", knobs=CAMUNDA),
        _cell("mm-local", "MariaDB async master-master, machines A and B each on their own database",
              "mariadb-mm", routing="local"),
        _cell("mm-local-uuid", "MariaDB async master-master, machines A and B, UUID ids", "mariadb-mm",
              routing="local", workloads=ENGINE, workload_opts={"idgen": "uuid"}),
        _cell("mm-sticky", "MariaDB async master-master, sticky routing per process instance",
              "mariadb-mm", routing="sticky"),
        _cell("pg-standby-async", "PostgreSQL primary + standby, machine B reads its standby (async)",
              "postgres-standby", routing="local"),
        _cell("pg-standby-remote-apply",
              "PostgreSQL primary + standby, machine B reads its standby (remote_apply)",
              "postgres-standby", routing="local", knobs={"synchronous_commit": "remote_apply"}),
        _cell("postgres-rc", "One PostgreSQL node, READ COMMITTED", "postgres"),
        _cell("postgres-serializable", "One PostgreSQL node, SERIALIZABLE", "postgres",
              isolation="serializable"),
    ],
    # A few minutes on one machine: the baseline, Galera with the engines on ONE node against Galera
    # behind a load balancer, and the two replicated set-ups the question is about.
    "quick": [
        _cell("mariadb-rc", "One MariaDB node, READ COMMITTED (the documented baseline)", "mariadb",
              workloads=ENGINE, nemesis=["none"]),
        _cell("galera-primary", "Galera with Camunda's settings, both engines talk to ONE node", "galera",
              routing="primary", knobs=CAMUNDA, workloads=ENGINE, nemesis=["none"]),
        _cell("galera-rr", "Galera with Camunda's settings behind a load balancer (round-robin)", "galera",
              routing="round-robin", knobs=CAMUNDA, workloads=ENGINE, nemesis=["none"]),
        _cell("mm-local", "MariaDB async master-master, machines A and B each on their own database",
              "mariadb-mm", routing="local", workloads=ENGINE, nemesis=["none"]),
        _cell("pg-standby-async", "PostgreSQL primary + standby, machine B reads its standby (async)",
              "postgres-standby", routing="local", workloads=ENGINE, nemesis=["none"]),
    ],
}
PROFILE_TIME_LIMIT = {"camunda-7": 30.0, "quick": 20.0}


@dataclasses.dataclass
class Matrix:
    name: str
    cells: list[Cell]
    time_limit: float = 30.0
    runs: int = 1
    min_exposure: int = 50   # a SAFE needs every risk of the topology exercised this often
    budget: float = 0.0      # seconds per cell: keep running fresh seeds until a violation or spent
    probe: bool = True       # the READ COMMITTED probe once per topology (harness.certify.rc)


def profile(name: str) -> Matrix:
    if name not in PROFILES:
        raise UsageError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
    cells = [dataclasses.replace(c, knobs=dict(c.knobs), workloads=list(c.workloads),
                                 nemesis=list(c.nemesis)) for c in PROFILES[name]]
    return Matrix(name, cells, time_limit=PROFILE_TIME_LIMIT.get(name, 30.0))


def load_matrix(path: str) -> Matrix:
    """Read a TOML or YAML matrix; every problem is one line naming the file (and cell)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise UsageError(f"{path}: cannot read the matrix: {e.strerror}") from None
    try:
        if p.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
        where = getattr(e, "problem_mark", None)
        line = f":{where.line + 1}" if where is not None else ""
        raise UsageError(f"{path}{line}: not valid {p.suffix.lstrip('.') or 'YAML'}: "
                         f"{str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cell"), list) or not data["cell"]:
        raise UsageError(f"{path}: a matrix needs a non-empty list named 'cell'")
    fields = {f.name for f in dataclasses.fields(Cell) if f.init}
    cells = []
    for i, raw in enumerate(data["cell"], 1):
        where = f"{path}: cell {i}"
        if not isinstance(raw, dict):
            raise UsageError(f"{where}: must be a table of fields")
        unknown = set(raw) - fields
        if unknown:
            raise UsageError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        if "name" not in raw or "db" not in raw:
            raise UsageError(f"{where}: 'name' and 'db' are required")
        if isinstance(raw.get("server_config"), str):
            raw = {**raw, "server_config": str(p.parent / raw["server_config"])}
        if isinstance(raw.get("hosts"), str) and raw["hosts"].strip():
            raw = {**raw, "hosts": str(p.parent / raw["hosts"])}  # relative to the matrix
        if not isinstance(raw.get("server_options", []), list):
            raise UsageError(f"{where}: server_options must be a list of [nN:]KEY=VALUE")
        try:
            cell = Cell(**raw)
        except HostsError as e:
            line = _field_line(text, p.suffix.lower(), i, "hosts")
            raise UsageError(f"{path}:{line}: cell {i}: {e}" if line else f"{where}: {e}") from None
        except UsageError as e:
            raise UsageError(f"{where}: {e}") from None
        _validate_cell(cell, f"{path}: cell {cell.name!r}")
        cells.append(cell)
    names = [c.name for c in cells]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise UsageError(f"{path}: duplicate cell name(s) {', '.join(sorted(dup))}")
    extra = set(data) - {"cell", "time_limit", "runs", "name", "min_exposure", "budget", "probe"}
    if extra:
        raise UsageError(f"{path}: unknown top-level field(s) {', '.join(sorted(extra))}")
    m = Matrix(str(data.get("name") or p.stem), cells)
    if "time_limit" in data:
        m.time_limit = data["time_limit"]
    for key in ("runs", "min_exposure", "budget", "probe"):
        if key in data:
            setattr(m, key, data[key])
    return m


def _field_line(text: str, suffix: str, index: int, field: str) -> int | None:
    """The 1-based line of `field` in the index-th cell (1-based) of a matrix file, if it can be told."""
    if suffix == ".toml":
        cells = 0
        for n, line in enumerate(text.splitlines(), 1):
            if re.match(r"\s*\[\[\s*cell\s*\]\]", line):
                cells += 1
            elif re.match(r"\s*\[", line):
                cells = cells if cells != index else -1  # a table after the cell: it is over
            elif cells == index and re.match(rf"\s*{field}\s*=", line):
                return n
        return None
    try:
        root = yaml.compose(text)
        seq = next(v for k, v in root.value if k.value == "cell")
        item = seq.value[index - 1]
        return next(k.start_mark.line + 1 for k, _ in item.value if k.value == field)
    except Exception:  # noqa: BLE001 - no position known: the message names the cell instead
        return None


def _validate_cell(cell: Cell, where: str) -> None:
    """Every run the cell expands to must be a valid test spec; name the file and cell if not."""
    if not cell.workloads or not cell.nemesis:
        raise UsageError(f"{where}: workloads and nemesis must be non-empty lists")
    for workload in cell.workloads:
        for fault_set in cell.nemesis:
            try:
                TestSpec(db=cell.db, workload=workload, nodes=cell.nodes, backend=cell.backend,
                         isolation=cell.isolation, routing=cell.routing, nemesis=fault_names(fault_set),
                         knobs=dict(cell.knobs), workload_opts=dict(cell.workload_opts),
                         network=cell.network).validate()
            except UsageError as e:
                raise UsageError(f"{where}: {e}") from None


def fault_names(fault_set: str) -> list[str]:
    """'none' -> [], 'partition+lag' -> ['partition', 'lag']."""
    return [] if fault_set in ("none", "") else [f for f in fault_set.split("+") if f]
