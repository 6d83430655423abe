"""A network between the machines: a one-way delay with jitter on every packet from one database node
to another, for the whole run (`--network lan|wan`; `loopback` = none, the bridge's ~0.05 ms).

Each engine machine is modelled as sitting next to its own database node, so traffic between the
harness (the engines) and a node is not delayed; replication, Galera's group communication and
every other node-to-node packet is, once, in the direction it travels.

Method as the lag fault's: tc netem where the kernel has it (a prio qdisc per node whose netem band
is filtered to the other nodes' addresses), else the user-space NFQUEUE delayer on its own queue
(OUTPUT rules `-d <other node>` in chains HN-NET-*). Limitation: on netem kernels a `lag` fault's heal
removes every netem qdisc, this one included, so lag faults and a network profile should not be
combined there.
"""
from __future__ import annotations

from nemesis import lag, net, procs

PROFILES = {"loopback": None, "lan": (0.25, 0.05), "wan": (20.0, 5.0)}  # one-way delay, jitter (ms)
QUEUE_NUM = 7708
KIND = "NET"


def check(name: str) -> None:
    if name not in PROFILES:
        raise ValueError(f"unknown network {name!r} (known: {', '.join(PROFILES)})")


class Network:
    """apply() puts the delay on every node; heal() takes it off (idempotent, also after a crash of a
    run that applied it: it removes this kind's rules and delayers wherever it finds them)."""

    def __init__(self, name: str):
        check(name)
        self.name = name
        self.delayers = {}

    def apply(self, cluster, seed: int = 0) -> dict | None:
        if PROFILES[self.name] is None:
            return None
        delay, jitter = PROFILES[self.name]
        how = lag.method(cluster)
        if how == "unavailable":
            raise net.NetError("a network delay needs tc netem or the NetfilterQueue package")
        try:
            devs = {n.name: net.interface_of(n) for n in cluster.nodes} if how == "netem" else {}
            for i, node in enumerate(cluster.nodes):
                others = [o for o in cluster.nodes if o is not node]
                if how == "netem":  # the other nodes as the netem band's destinations
                    net.sh(node, lag.netem_scripts(others, [node], delay, jitter, devs)[node.name])
                else:
                    # the delayer first: the rules only go in once it has bound its queue
                    self.delayers[node.name] = lag.start_delayer(node, delay, jitter, seed=seed + i,
                                                                 queue=QUEUE_NUM)
                    rules = [["-d", o.ip, "-j", "NFQUEUE", "--queue-num", str(QUEUE_NUM), "--queue-bypass"]
                             for o in others]
                    net.install_chains(node, KIND, [], rules)
        except BaseException:
            self.heal(cluster)
            raise
        return {"network": self.name, "method": how, "one_way_delay_ms": delay, "jitter_ms": jitter}

    def heal(self, cluster) -> None:
        errors = []
        for node in cluster.nodes:
            try:
                net.remove_chains(node, KIND)
                if lag.method(cluster) == "netem":
                    net.remove_qdiscs(node)
                for pid in procs.delayers_in(net.netns_id(node), queue=QUEUE_NUM):
                    procs.terminate(pid)
            except Exception as e:  # keep healing the other nodes
                errors.append(e)
        for proc in self.delayers.values():
            lag.stop_delayer(proc)
        self.delayers = {}
        if errors:
            raise errors[0]
