"""Load-balancer routing: which node serves an op.

Policies (the load balancer in front of the cluster):
    primary      every op to the first node
    round-robin  the next node in turn, per request
    random       a (seeded) random node per request
    sticky       per process instance, else per key, else per client process: the first op of each
                 goes to the next node in turn and the choice is remembered in a mapping table
                 (as Zalando pinned process instances to nodes)
    failover     the first node until it fails, then the next (a virtual IP that moves)
    local        each engine node talks to its own database: an op hinted `engine` k goes to node
                 k (mod the nodes), as machines A and B each with their own database; ops without
                 the hint go to the first node

Read/write splitting: when the topology has standbys (role "standby"), ops that write go to the
writable nodes only (the primary), and only ops hinted `readonly` follow the policy over all nodes,
as pgpool or ProxySQL do. Multi-master topologies (galera, mariadb-mm) route every op by policy.
"""
from __future__ import annotations

import random
import threading

from harness.errors import UsageError

POLICIES = ("primary", "round-robin", "random", "sticky", "failover", "local")
# Policies that send every op to one node at a time: two clients meet only on that node.
ONE_NODE = ("primary", "failover")


class Router:
    """Thread-safe: every worker calls `pick` before an op and `failed` when a node let it down."""

    def __init__(self, policy: str, nodes: list, seed: int = 0):
        if policy not in POLICIES:
            raise UsageError(f"unknown routing {policy!r} (known: {', '.join(POLICIES)})")
        if not nodes:
            raise UsageError("routing needs at least one node")
        self.policy = policy
        self.nodes = list(nodes)
        self.writable = [n for n in self.nodes if getattr(n, "role", "") != "standby"] or self.nodes[:1]
        self.split = len(self.writable) < len(self.nodes)
        self._lock = threading.Lock()
        self._rng = random.Random(f"routing-{seed}")
        self._turn = {}           # candidate-set name -> next index (round-robin, sticky assignment)
        self._sticky = {}         # mapping table: (candidate set, kind, id) -> node
        self._active = {}         # failover: candidate set -> index of the node in service

    def candidates(self, op: dict) -> tuple[str, list]:
        if self.split and not op.get("readonly"):
            return "write", self.writable
        return "all", self.nodes

    def pick(self, op: dict, process) -> object:
        """The node that serves `op` (issued by client `process`)."""
        group, nodes = self.candidates(op)
        if len(nodes) == 1 or self.policy == "primary":
            return nodes[0]
        if self.policy == "local":
            engine = op.get("engine")
            return nodes[engine % len(nodes)] if isinstance(engine, int) and not isinstance(engine, bool) else nodes[0]
        with self._lock:
            if self.policy == "round-robin":
                return self._next_in_turn(group, nodes)
            if self.policy == "random":
                return self._rng.choice(nodes)
            if self.policy == "failover":
                return nodes[self._active.get(group, 0) % len(nodes)]
            # sticky
            if op.get("instance") is not None:
                key = (group, "instance", _hashable(op["instance"]))
            elif op.get("key") is not None:
                key = (group, "key", _hashable(op["key"]))
            else:
                key = (group, "process", process)
            node = self._sticky.get(key)
            if node is None:
                node = self._sticky[key] = self._next_in_turn(group, nodes)
            return node

    def failed(self, node) -> None:
        """A connection to `node` failed: a failover router moves on to the next node."""
        if self.policy != "failover":
            return
        with self._lock:
            for group, nodes in (("write", self.writable), ("all", self.nodes)):
                i = self._active.get(group, 0) % len(nodes)
                if nodes[i] is node or getattr(nodes[i], "name", None) == getattr(node, "name", 0):
                    self._active[group] = (i + 1) % len(nodes)

    def mapping(self) -> dict:
        """The sticky mapping table, for results.json: "kind:id" -> node name."""
        with self._lock:
            return {f"{k[1]}:{k[2]}" + ("" if k[0] == "all" else f" ({k[0]})"): n.name
                    for k, n in self._sticky.items()}

    def _next_in_turn(self, group, nodes):
        i = self._turn.get(group, 0)
        self._turn[group] = i + 1
        return nodes[i % len(nodes)]


def _hashable(x):
    return tuple(x) if isinstance(x, list) else x
