"""`Cluster`: a running set of nodes plus its database definition and state record."""
import threading
import time

from harness.cluster import netns, state
from harness.cluster.node import NetnsNode


class Cluster:
    def __init__(self, record: dict, dbdef, node_class=NetnsNode):
        self.record = record
        self.dbdef = dbdef
        self.name = record["name"]
        self.db = record["db"]
        self.backend = record.get("backend", "netns")
        self.dialect = dbdef.dialect
        self.user = record["user"]
        self.password = record["password"]
        self.database = record["database"]
        self.knobs = record.get("knobs", {})
        self.cidr = record.get("cidr")
        self.host_ip = record.get("host_ip")
        self._lock = threading.Lock()
        self.nodes = [node_class(self, spec) for spec in record["nodes"]]

    def __repr__(self):
        return f"<Cluster {self.name} {self.db} {len(self.nodes)} nodes>"

    @property
    def primary(self):
        return self.nodes[0]

    def node(self, name):
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def create(self, timeout: float) -> None:
        """Init and start every node (the database definition's create), wait until the cluster is
        healthy, record it as up. The caller removes everything when this raises."""
        deadline = time.monotonic() + timeout
        self.dbdef.create(self)
        self.wait_healthy(max(1.0, deadline - time.monotonic()))
        self.record["status"] = "up"
        self.versions()  # records them and saves
        self.save()

    def save(self) -> None:
        with self._lock:
            state.save(self.record)

    # -- the seam the runner uses ------------------------------------------------------------
    def connect(self, node=None, timeout=5.0, isolation=None, autocommit=False, database=None):
        """A DB-API connection (PyMySQL or psycopg 3) to `node` as the harness user, timeouts set."""
        node = node or self.primary
        if isinstance(node, str):
            node = self.node(node)
        return self.dbdef.connect(self, node, timeout=timeout, isolation=isolation, autocommit=autocommit,
                                  database=database)

    def versions(self) -> dict:
        if not self.record.get("versions"):
            self.record["versions"] = self.dbdef.versions(self)
            self.save()
        return dict(self.record["versions"])

    def settings(self, keys=None) -> dict:
        """{node: {key: value}} as every running server reports it (SHOW GLOBAL VARIABLES / SHOW), for
        `keys` (default: those of the user's server options); {node: {"error": ...}} for a node that
        does not answer."""
        from harness.cluster import server_options
        if keys is None:
            keys = server_options.readback_keys(self.dbdef.server_entries(self.knobs), self.dialect)
        if not keys:
            return {}
        out = {}
        for node in self.nodes:
            try:
                out[node.name] = self.dbdef.read_settings(self, node, list(keys))
            except Exception as e:  # noqa: BLE001 - a down node is reported, not fatal
                out[node.name] = {"error": str(e)[:300]}
        return out

    def status(self) -> list[dict]:
        return [self.dbdef.status(self, n) for n in self.nodes]

    def wait_healthy(self, timeout=60.0) -> None:
        """Whole again: every node running, Galera size N and Synced, replication running."""
        self.dbdef.wait_healthy(self, timeout)

    def reset_data(self) -> None:
        """Drop and recreate the test database (replicated everywhere) for reuse across runs."""
        self.dbdef.reset_data(self)

    def teardown(self) -> None:
        """Kill every process, remove namespaces, veths, data and the record. Idempotent."""
        netns.destroy(self.record)
        state.remove(self.name)

    def leftovers(self) -> list[str]:
        return netns.leftovers(self.record)
