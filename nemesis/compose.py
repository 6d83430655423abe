"""Faults at once: `a+b` (e.g. `partition+kill`) starts both, stops both, heals both.

One history op pair per transition: `start-partition+kill` whose value holds each part's value.
Parts start in the order given and stop network-first (`stop_rank`): a killed Galera node can only
rejoin once the partition around it is gone. `crash-in-partition` is the composition with a
purpose: a majority/minority partition, then the nodes of the majority side (the primary
component) are killed inside it; stop heals the network, then restarts them.
"""
from nemesis.base import Fault, heal_each
from nemesis.kill import Kill
from nemesis.partition import PartitionMajority


class Composed(Fault):
    def __init__(self, parts: list):
        self.parts = list(parts)
        self.name = "+".join(p.name for p in self.parts)
        self.family = "+".join(dict.fromkeys(p.family for p in self.parts))
        self.min_nodes = max(p.min_nodes for p in self.parts)
        self.stop_rank = max(p.stop_rank for p in self.parts)
        self.started = []

    def applicable(self, cluster):
        return next((why for why in (p.applicable(cluster) for p in self.parts) if why), None)

    def stop_order(self, parts):
        return sorted(parts, key=lambda p: getattr(p, "stop_rank", 0))

    def start(self, cluster, rng):
        values = []
        with self.healing_on_failure(cluster):
            for part in self.parts:
                values.append(part.start(cluster, rng))
                self.started.append(part)
        return {"fault": self.name, "parts": values}

    def stop(self, cluster):
        started, self.started = self.started, []
        values, errors = [], []
        for part in self.stop_order(started):
            try:
                values.append(part.stop(cluster))
            except Exception as e:  # the other parts must still stop; heal() below covers this one
                errors.append(e)
                part.heal(cluster)
        if errors:
            raise errors[0]
        return {"fault": self.name, "parts": values}

    def heal(self, cluster):
        self.started = []
        heal_each(self.stop_order(self.parts), lambda p: p.heal(cluster))


class MajoritySideKill(Kill):
    """Kills the nodes the partition put on its larger side."""

    name = "kill-majority-side"

    def __init__(self, partition):
        super().__init__()
        self.partition = partition

    def start(self, cluster, rng):
        grudge = self.partition.last_grudge or {}
        # the larger side: the nodes that cannot reach the fewest others
        fewest = min((len(grudge.get(n.name, [])) for n in cluster.nodes), default=0)
        targets = [n for n in cluster.nodes if len(grudge.get(n.name, [])) == fewest]
        with self.healing_on_failure(cluster):
            for n in targets:
                n.kill()
                self.killed.append(n)
        return {"fault": self.name, "nodes": [n.name for n in targets], "signal": "SIGKILL"}


class RememberingPartition(PartitionMajority):
    last_grudge = None

    def grudge(self, cluster, rng):
        self.last_grudge = super().grudge(cluster, rng)
        return self.last_grudge


class CrashInPartition(Composed):
    name = "crash-in-partition"
    min_nodes = 3

    def __init__(self):
        partition = RememberingPartition()
        super().__init__([partition, MajoritySideKill(partition)])
        self.name, self.family, self.min_nodes = "crash-in-partition", "crash-in-partition", 3

    def applicable(self, cluster):
        if len(cluster.nodes) < self.min_nodes:
            return f"{self.name} needs at least {self.min_nodes} nodes"
        return super().applicable(cluster)
