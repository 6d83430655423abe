"""Faults that act only through the node interface; every fault opened can be healed.

`FAULTS` maps a fault name to its class (instantiate it, then start(cluster, rng) -> value,
stop(cluster) -> value, heal(cluster)); family names ("partition", "kill", ...) map to a class
that picks a fitting member at random on each start. `verify_clean(cluster)` lists what any fault
left behind; [] means clean.
"""
from nemesis import clock, net, procs, replication_lag
from nemesis.base import Fault, family
from nemesis.clock import ClockSkew
from nemesis.kill import KillAll, KillMajority, KillMinority, KillOne
from nemesis.lag import Lag
from nemesis.loss import Loss
from nemesis.partition import (PartitionBridge, PartitionMajority, PartitionOne, PartitionPrimary,
                               PartitionRing)
from nemesis.pause import PauseMajority, PauseOne, PausePrimary
from nemesis.replication_lag import ReplicationDelay, ReplicationStop

_MEMBERS = {
    "partition": [PartitionOne, PartitionMajority, PartitionRing, PartitionBridge, PartitionPrimary],
    "kill": [KillOne, KillMinority, KillMajority, KillAll],
    "pause": [PauseOne, PausePrimary, PauseMajority],
    "replication-lag": [ReplicationDelay, ReplicationStop],
}

FAULTS: dict[str, type] = {}
for _fam, _members in _MEMBERS.items():
    for _m in _members:
        FAULTS[_m.name] = _m
    FAULTS[_fam] = family(_fam, _members)
FAULTS["partition-majorities-ring"] = PartitionRing  # the spelling
FAULTS["lag"] = Lag
FAULTS["loss"] = Loss
FAULTS["clock-skew"] = ClockSkew
FAULTS["clock"] = ClockSkew


def parse_faults(spec: str) -> list[str]:
    """'partition,kill' -> ['partition', 'kill']; ValueError naming the unknown fault otherwise."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise ValueError(f"unknown nemesis {unknown[0]} (known: {', '.join(sorted(FAULTS))})")
    return names


def verify_clean(cluster) -> list[str]:
    """Everything a fault left behind, one line each: iptables rules/chains, qdiscs, bound NFQUEUE
    queues, delayer processes, paused, skewed or dead servers, replication lag settings."""
    found = []
    for node in cluster.nodes:
        try:
            found += [f"{node.name}: iptables {r}" for r in net.leftover_rules(node)]
            found += [f"{node.name}: qdisc {q}" for q in net.leftover_qdiscs(node)]
            found += [f"{node.name}: NFQUEUE bound {q}" for q in net.bound_queues(node)]
            found += [f"{node.name}: delayer pid {p}" for p in procs.delayers_in(net.netns_id(node))]
        except Exception as e:
            found.append(f"{node.name}: could not inspect the namespace: {e}")
        if hasattr(cluster, "name"):
            found += [f"{node.name}: libfaketime file {p}" for p in clock.shared_files(cluster, node)]
        if not node.alive():
            found.append(f"{node.name}: server not running")
            continue
        pid = node.pid
        if _state(pid) == "T":
            found.append(f"{node.name}: server pid {pid} is paused (SIGSTOP)")
        if clock.is_skewed(pid):
            found.append(f"{node.name}: server pid {pid} runs under libfaketime")
    found += replication_lag.leftovers(cluster)
    return found


def _state(pid) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError, TypeError):
        return "?"


__all__ = ["FAULTS", "Fault", "parse_faults", "verify_clean"]
