"""Where the sessions of a test run: both on one node, or split over a pair of nodes.

`same-node`: every session on the first node (the primary). A cross-node pair "a/b": T1 on a, every
other session on b, as two engines behind a load balancer would be. In primary/standby topologies
the load balancer sends writing transactions to the primary and read-only ones to the standby, so a
session that writes is placed on the primary even when the pair names a standby.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations


@dataclass(frozen=True)
class Placement:
    label: str          # "same-node" | "n1/n2"
    nodes: tuple        # node names: (first,) or (a, b)

    @property
    def cross(self) -> bool:
        return len(self.nodes) == 2


def placements(cluster) -> list[Placement]:
    nodes = cluster.nodes
    out = [Placement("same-node", (nodes[0].name,))]
    if any(n.role == "standby" for n in nodes):
        pairs = [(nodes[0], n) for n in nodes if n.role == "standby"]
    else:
        pairs = list(combinations(nodes, 2))
    out += [Placement(f"{a.name}/{b.name}", (a.name, b.name)) for a, b in pairs]
    return out


def assign(placement: Placement, variant, roles: dict) -> dict:
    """session -> node name; `roles` maps node name -> role."""
    primary = next((n for n, r in roles.items() if r == "primary"), placement.nodes[0])
    out = {}
    for i, session in enumerate(variant.sessions):
        node = placement.nodes[min(i, len(placement.nodes) - 1)]
        if roles.get(node) == "standby" and variant.writes(session):
            node = primary  # writes are routed to the primary
        out[session] = node
    return out
