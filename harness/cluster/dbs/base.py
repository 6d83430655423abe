"""What a database definition is: backend-neutral knowledge of one topology.

A definition produces config file contents, init steps and the server argv, and executes
everything through `Node` methods (run, write_file, launch, ...). The backend (netns, docker)
decides how a node's commands and server process actually run.
"""
import os
import re
import secrets
import shutil
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable

import tenacity

from harness.cluster import dialects, server_options
from harness.errors import ClusterError, UsageError
from harness.isolation import LEVELS as ISOLATIONS, spelled


@dataclass
class Knob:
    default: Any
    parse: Callable[[Any], Any]
    help: str


def choice(*allowed):
    def parse(v):
        v = str(v).lower() if not isinstance(v, bool) else v
        for a in allowed:
            if str(a).lower() == str(v).lower():
                return a
        raise ValueError(f"one of {', '.join(map(str, allowed))}")
    return parse


def boolean(v):
    if isinstance(v, bool):
        return v
    s = str(v).lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError("true or false")


def nonneg_int(v):
    i = int(v)
    if i < 0:
        raise ValueError("a number >= 0")
    return i


def isolation(v):
    if v in (None, "", "default"):
        return None
    return choice(*ISOLATIONS)(spelled(v))


class NotYet(Exception):
    """Raised inside a wait loop: condition not reached yet, try again."""


def wait_until(check, timeout, what, nodes=()):
    """Call check() until it stops raising NotYet. Fails at once when a watched node's server died.

    Returns check()'s value.
    """
    def attempt():
        for n in nodes:
            if not n.alive():
                raise ClusterError(f"{n}: server exited while waiting for {what}; "
                                   f"last log line: {last_log_line(n)}")
        return check()

    try:
        for a in tenacity.Retrying(stop=tenacity.stop_after_delay(timeout), wait=tenacity.wait_fixed(0.1),
                                   retry=tenacity.retry_if_exception_type(NotYet), reraise=True):
            with a:
                result = attempt()
        return result
    except NotYet as e:
        raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}" + (f": {e}" if str(e) else "")) \
            from None


# error lines that only say the server gave up, not why (the reason is the line before them)
GENERIC_ERRORS = re.compile(r"\[ERROR\] Aborting|configuration file .* contains errors|"
                            r"database system is shut down")
STARTING = re.compile(r"Starting MariaDB .* as process|starting PostgreSQL")  # a new incarnation's first line


def last_log_line(node) -> str:
    """The line of the server's log that says best why it stopped: the first specific error of its
    last start (what follows it is mostly consequences, e.g. Galera's view callback failing after
    `unknown variable`)."""
    text = node.read_file(node.log_path) or ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if STARTING.search(line)]
    lines = lines[starts[-1]:] if starts else lines
    errors = [i for i, line in enumerate(lines) if "ERROR" in line or "FATAL" in line or "Aborting" in line]
    telling = [i for i in errors if not GENERIC_ERRORS.search(lines[i])]
    if telling:
        return lines[telling[0]][:300]
    if errors:  # only "gave up": the line before says why (PostgreSQL: LOG: invalid value ...)
        i = errors[-1]
        return lines[i - 1 if i > 0 else i][:300]
    return lines[-1][:300] if lines else "(empty log)"


class DbDef:
    """One database topology. Besides the lifecycle every definition has, a definition may offer
    optional capabilities (see "capabilities" below): faults and workloads ask for those instead of
    checking database names."""
    name = ""
    dialect = ""          # a family of harness/cluster/dialects: "mysql" | "postgres"
    port = 0
    min_nodes = max_nodes = default_nodes = 1
    binaries: tuple = ()  # must exist, else: run ./setup.sh
    stop_signal = signal.SIGTERM  # clean shutdown, sent to the server process by Node.stop()
    server_user = None    # the OS user the server runs as (owns its sockets, libfaketime files)
    knobs: dict = {}
    owned_options: frozenset = frozenset()  # server options the harness sets itself (refused)

    # -- configuration -----------------------------------------------------------------
    def validate_knobs(self, given: dict | None) -> dict:
        given = dict(given or {})
        out = {}
        opts = self.validate_server_options(given.pop("server_options", None))
        if opts:  # only when given: records and cluster keys of clusters without stay as they were
            out["server_options"] = opts
        for key, knob in self.knobs.items():
            raw = given.pop(key, knob.default)
            try:
                out[key] = knob.parse(raw) if raw is not None else None
            except (ValueError, TypeError) as e:
                raise UsageError(f"--db {self.name}: knob {key}={raw!r}: expected {e}") from None
        if given:
            known = ", ".join(sorted(self.knobs)) or "none"
            raise UsageError(f"--db {self.name}: unknown knob {sorted(given)[0]!r} (known: {known})")
        return out

    def node_count(self, nodes: int | None, knobs: dict) -> int:
        n = self.default_nodes if nodes is None else int(nodes)
        if not self.min_nodes <= n <= self.max_nodes:
            want = f"exactly {self.min_nodes}" if self.min_nodes == self.max_nodes else \
                f"{self.min_nodes}..{self.max_nodes}"
            raise UsageError(f"--db {self.name} needs {want} node{'' if want == 'exactly 1' else 's'}, not {n}")
        server_options.check_nodes(self.server_entries(knobs), n, self.name)
        return n

    # -- the user's server options (harness/cluster/server_options.py) ---------------------
    def validate_server_options(self, given) -> list[str]:
        """The knob's entries normalized ("[nN:]key=value"); UsageError naming a malformed entry or
        an option the harness owns."""
        if given in (None, "", []):
            return []
        if isinstance(given, str):
            given = [given]
        if not isinstance(given, (list, tuple)):
            raise UsageError(f"--db {self.name}: knob server_options must be a list of [nN:]KEY=VALUE")
        out = []
        for raw in given:
            entry = server_options.parse_entry(raw, self.dialect, f"--server-opt {raw!r}"[:120])
            server_options.check_owned(entry, self.owned_options, self.dialect, f"--server-opt {entry}")
            out.append(str(entry))
        return out

    def server_entries(self, knobs: dict, node=None) -> list:
        """The validated entries (of one node when given: every-node ones first, its own after)."""
        entries = [server_options.parse_entry(e, self.dialect, "server_options")
                   for e in (knobs or {}).get("server_options") or []]
        return server_options.for_node(entries, node.name) if node is not None else entries

    def read_settings(self, cluster, node, keys: list[str]) -> dict:
        """{key: value as the running server reports it, None when it has no such variable}."""
        raise NotImplementedError

    def roles(self, n: int) -> list[str]:
        return ["single"] * n

    def check_installed(self) -> None:
        for b in self.binaries:
            if not (os.path.exists(b) if b.startswith("/") else shutil.which(b)):
                raise UsageError(f"{b} is missing: run ./setup.sh (installs the database packages)")

    # -- lifecycle (implemented per database) ------------------------------------------
    def create(self, cluster) -> None:
        """Init every node, start them, create the harness user and database, wait until healthy."""
        raise NotImplementedError

    def start(self, cluster, node, wait=True, timeout=60.0) -> None:
        """(Re)start one node's server, correctly rejoining its cluster."""
        raise NotImplementedError

    def restart_all(self, cluster, timeout=120.0) -> dict:
        """Every node is down (a crash of all of them): start them all and wait until the cluster is
        whole. Returns facts about how (empty here; Galera says which node founded the cluster)."""
        t0 = time.monotonic()
        for node in cluster.nodes:
            node.start(wait=False)
        cluster.wait_healthy(timeout)
        return {"restart_s": round(time.monotonic() - t0, 3)}

    def sql(self, node, statement, timeout=10) -> str:
        """Run SQL as the superuser through the node's local socket; the client's plain text output."""
        raise NotImplementedError

    def node_status(self, cluster, node) -> dict:
        """A live node's database-specific status fields; ClusterError when it does not answer."""
        raise NotImplementedError

    def try_sql(self, node, statement, timeout=5) -> str:
        """sql() for wait loops: failure means 'not yet'."""
        try:
            return self.sql(node, statement, timeout=timeout)
        except ClusterError as e:
            raise NotYet(str(e)) from None

    def wait_ready(self, cluster, node, timeout=60.0) -> None:
        wait_until(lambda: self.try_sql(node, "SELECT 1"), timeout, f"{node} to accept connections", [node])

    def wait_healthy(self, cluster, timeout=60.0) -> None:
        for node in cluster.nodes:
            if not node.alive():
                raise ClusterError(f"{node} is not running; last log line: {last_log_line(node)}")
            self.wait_ready(cluster, node, timeout)

    def status(self, cluster, node) -> dict:
        st = {"name": node.name, "ip": node.ip, "role": node.role, "pid": node.pid, "alive": node.alive()}
        if st["alive"]:
            try:
                st.update(self.node_status(cluster, node))
            except ClusterError as e:
                st["error"] = str(e)
        return st

    def versions(self, cluster) -> dict:
        raise NotImplementedError

    def reset_data(self, cluster) -> None:
        raise NotImplementedError

    def connect(self, cluster, node, timeout=5.0, isolation=None, autocommit=False, database=None):
        """A DB-API connection to `node` as the harness user, through the dialect (timeouts set)."""
        return dialects.get(self.dialect).connect(node.ip, self.port, cluster.user, cluster.password,
                                                  database or cluster.database, timeout=timeout,
                                                  isolation=isolation, autocommit=autocommit)

    def execute(self, cluster, node, statements: list[str], timeout=10.0) -> list:
        """Run statements on `node` as the harness user (autocommit); each one's rows, None when it
        returns none."""
        conn = cluster.connect(node, timeout=timeout, autocommit=True)  # the seam: a backend may route it
        try:
            cur = conn.cursor()
            rows = []
            for s in statements:
                cur.execute(s)
                rows.append(cur.fetchall() if cur.description else None)
            return rows
        finally:
            conn.close()

    def repl_password(self, cluster) -> str:
        """The replication user's password: its own random one from the record (new_record makes it;
        a record without one gets one here, saved with the record)."""
        return cluster.record.setdefault("repl_password", secrets.token_hex(12))


    # -- capabilities: optional; a definition without one has no replicas, so none applies -------
    def causal_reads(self) -> list[str]:
        """Statements that make a session's reads wait until its node applied everything the
        cluster committed before them (none needed, or none offered, here)."""
        return []

    def reads_may_lag(self, cluster) -> bool:
        """Can a read on another node miss a commit that has already returned? Not on one node."""
        return False

    def one_applier(self) -> bool:
        """Does one stopped applier stall replication of every database on a node (so concurrent
        probe lanes, each in its own database, would wait on each other)? Not here."""
        return False

    def replicas(self, cluster) -> list:
        """The nodes that apply another node's changes asynchronously, after it committed them (what
        the replication-lag faults slow down). None here."""
        return []

    def delay_apply(self, cluster, node, seconds: int) -> None:
        """Make the replica `node` apply each change only `seconds` after its source committed it."""
        raise NotImplementedError(f"{self.name} has no async replicas")

    def pause_apply(self, cluster, node) -> None:
        """The replica `node` keeps receiving changes but applies none until resume_apply."""
        raise NotImplementedError(f"{self.name} has no async replicas")

    def resume_apply(self, cluster, node) -> None:
        """Undo delay_apply and pause_apply both (healing must not depend on which was done): back to
        the cluster's configured delay, applying."""
        raise NotImplementedError(f"{self.name} has no async replicas")

    def apply_leftovers(self, cluster, node) -> list[str]:
        """What delay_apply / pause_apply left in force on the replica `node`, one line each."""
        return []

    def commit_position(self, conn):
        """How far the node behind the DB-API connection `conn` has committed, in the terms
        wait_applied understands; None: nothing to wait for."""
        return None

    def wait_applied(self, conn, position, timeout: float) -> str | None:
        """Wait until the node behind `conn` applied everything up to `position`: None when it did,
        else a one-line note (timeout, replication stopped)."""
        return None

    def skip_failed_apply(self, conn) -> list[str]:
        """A replica whose applier stopped on a conflicting change skips it and runs again (the
        probe's duplicate keys on master-master); what was done, one line each."""
        return []
