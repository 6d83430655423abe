"""Faults that act only through the node interface; every fault opened can be healed.

`FAULTS` maps a fault name to its class (instantiate it, then start(cluster, rng) -> value,
stop(cluster) -> value, heal(cluster)); family names ("partition", "kill", ...) map to a class
that picks a fitting member at random on each start. A fault spec as the user writes it is a name,
`a+b` (both at once, nemesis.compose) or `kill-all-rapid:SECONDS` (its kill window):
`parse_faults` validates a comma list of them, `make(spec)` builds one. `verify_clean(cluster)`
lists what any fault left behind; [] means clean.
"""
from nemesis import clock, net, pause, procs, replication_lag
from nemesis.base import Fault, family
from nemesis.clock import ClockSkew
from nemesis.compose import Composed, CrashInPartition
from nemesis.kill import KillAll, KillAllRapid, KillMajority, KillMinority, KillOne
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
FAULTS["kill-all-rapid"] = KillAllRapid
FAULTS["crash-in-partition"] = CrashInPartition
PARAMETERS = {"kill-all-rapid": "its kill window in seconds, e.g. kill-all-rapid:0.5"}


def parse_faults(spec: str) -> list[str]:
    """'partition,kill' -> ['partition', 'kill']; 'partition+kill' is one entry (both at once).
    ValueError naming the unknown or ill-formed fault otherwise."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    for name in names:
        families = []
        for part in name.split("+"):
            base, colon, param = part.strip().partition(":")
            if base not in FAULTS:
                raise ValueError(f"unknown nemesis {base or name} (known: {', '.join(sorted(FAULTS))})")
            if colon:
                if base not in PARAMETERS:
                    raise ValueError(f"nemesis {part}: {base} takes no parameter")
                try:
                    FAULTS[base](float(param))
                except ValueError as e:
                    raise ValueError(f"nemesis {part}: {PARAMETERS[base]} ({e})") from None
            families.append(FAULTS[base].family)
        twice = sorted({f for f in families if families.count(f) > 1})
        if twice:
            raise ValueError(f"nemesis {name}: two {twice[0]} faults at once cannot both be undone")
    return [n.replace(" ", "") for n in names]


def make(spec: str) -> Fault:
    """A fault instance for one entry of parse_faults (a composition for `a+b`)."""
    parts = []
    for part in spec.split("+"):
        base, colon, param = part.partition(":")
        parts.append(FAULTS[base](float(param)) if colon else FAULTS[base]())
    return parts[0] if len(parts) == 1 else Composed(parts)


def verify_clean(cluster) -> list[str]:
    """Everything a fault left behind, one line each: iptables rules/chains, qdiscs, bound NFQUEUE
    queues, delayer processes, paused, skewed or dead servers, replication lag settings. Process
    states and libfaketime files are read through the node, where its server runs."""
    found = []
    for node in cluster.nodes:
        try:
            found += [f"{node.name}: iptables {r}" for r in net.leftover_rules(node)]
            found += [f"{node.name}: qdisc {q}" for q in net.leftover_qdiscs(node)]
            found += [f"{node.name}: NFQUEUE bound {q}" for q in net.bound_queues(node)]
            if not clock.remote(node):  # the delayer runs only on this machine (nemesis.lag)
                found += [f"{node.name}: delayer pid {p}" for p in procs.delayers_in(net.netns_id(node))]
        except Exception as e:
            found.append(f"{node.name}: could not inspect the namespace: {e}")
        if hasattr(cluster, "name"):
            found += [f"{node.name}: libfaketime file {p}" for p in clock.shared_files(cluster, node)]
        if not node.alive():
            found.append(f"{node.name}: server not running")
            continue
        pid = node.pid
        if pause.server_state(node) == "T":
            found.append(f"{node.name}: server pid {pid} is paused (SIGSTOP)")
        if clock.is_skewed(node):
            found.append(f"{node.name}: server pid {pid} runs under libfaketime")
    found += replication_lag.leftovers(cluster)
    return found


__all__ = ["FAULTS", "Fault", "make", "parse_faults", "verify_clean"]
