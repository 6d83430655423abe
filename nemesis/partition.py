"""Network partitions: iptables DROP rules inside the node namespaces.

A partition is a *grudge*: for each node, the set of nodes it cannot exchange packets with. Rules
name peer addresses only (INPUT -s peer, OUTPUT -d peer), so the harness host stays reachable from
every side and sees each node's own view. Cuts are symmetric.
"""
from nemesis import net
from nemesis.base import Fault, heal_each, majority


def components_grudge(components: list[list[str]]) -> dict[str, list[str]]:
    """Nodes in different components cannot talk."""
    where = {n: i for i, comp in enumerate(components) for n in comp}
    return {n: sorted(m for m in where if where[m] != where[n]) for n in sorted(where)}


def one_grudge(names, rng) -> dict:
    lone = rng.choice(list(names))
    return components_grudge([[lone], [n for n in names if n != lone]])


def majority_grudge(names, rng) -> dict:
    shuffled = list(names)
    rng.shuffle(shuffled)
    k = majority(len(shuffled)) if len(shuffled) > 2 else 1  # two nodes: one each side
    return components_grudge([sorted(shuffled[:k]), sorted(shuffled[k:])])


def ring_grudge(names, rng) -> dict:
    """Majorities ring: nodes on a shuffled ring talk only to neighbours within distance k, where
    2k+1 is the smallest majority; every node sees a majority, no two see the same one."""
    ring = list(names)
    rng.shuffle(ring)
    n = len(ring)
    k = majority(n) // 2  # neighbours on each side: the smallest k with 2k+1 >= majority
    sees = {ring[i]: {ring[(i + d) % n] for d in range(-k, k + 1)} for i in range(n)}
    return {a: sorted(b for b in ring if b not in sees[a]) for a in sorted(ring)}


def bridge_grudge(names, rng) -> dict:
    """Two halves that cannot talk, and one bridge node that talks to both."""
    shuffled = list(names)
    rng.shuffle(shuffled)
    rest = shuffled[1:]  # shuffled[0] is the bridge
    half = len(rest) // 2
    left, right = set(rest[:half]), set(rest[half:])
    grudge = {n: [] for n in names}
    for a in left:
        for b in right:
            grudge[a].append(b)
            grudge[b].append(a)
    return {n: sorted(v) for n, v in sorted(grudge.items())}  # the bridge's list stays empty


def primary_grudge(names, primary: str) -> dict:
    return components_grudge([[primary], [n for n in names if n != primary]])


class Partition(Fault):
    family = "partition"
    min_nodes = 2

    def grudge(self, cluster, rng) -> dict:
        raise NotImplementedError

    def start(self, cluster, rng):
        grudge = self.grudge(cluster, rng)
        ips = {n.name: n.ip for n in cluster.nodes}
        with self.healing_on_failure(cluster):
            for node in cluster.nodes:
                peers = grudge.get(node.name, [])
                if peers:
                    net.install_chains(node, "PART",
                                       [["-s", ips[p], "-j", "DROP"] for p in peers],
                                       [["-d", ips[p], "-j", "DROP"] for p in peers])
        return {"fault": self.name, "grudge": {k: v for k, v in grudge.items() if v}}

    def stop(self, cluster):
        self.heal(cluster)
        return {"fault": self.name, "healed": [n.name for n in cluster.nodes]}

    def heal(self, cluster):
        heal_each(cluster.nodes, lambda n: net.remove_chains(n, "PART"))


class PartitionOne(Partition):
    name = "partition-one"

    def grudge(self, cluster, rng):
        return one_grudge([n.name for n in cluster.nodes], rng)


class PartitionMajority(Partition):
    name = "partition-majority"

    def grudge(self, cluster, rng):
        return majority_grudge([n.name for n in cluster.nodes], rng)


class PartitionRing(Partition):
    name = "partition-ring"
    min_nodes = 4  # with 3 nodes every majority ring is the whole cluster: no cut at all

    def grudge(self, cluster, rng):
        return ring_grudge([n.name for n in cluster.nodes], rng)


class PartitionBridge(Partition):
    name = "partition-bridge"
    min_nodes = 3

    def grudge(self, cluster, rng):
        return bridge_grudge([n.name for n in cluster.nodes], rng)


class PartitionPrimary(Partition):
    name = "partition-primary"

    def grudge(self, cluster, rng):
        return primary_grudge([n.name for n in cluster.nodes], cluster.primary.name)
