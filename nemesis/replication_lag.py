"""Database-native replication lag on the replicas of async topologies.

- delay: the replica applies each change only N seconds after its source committed it
  (PostgreSQL standby `recovery_min_apply_delay`, MariaDB replica `MASTER_DELAY`).
- stop-apply: the replica keeps receiving but applies nothing until healed
  (`pg_wal_replay_pause()`, `STOP SLAVE SQL_THREAD`).
How is the database definition's business: its capabilities replicas(), delay_apply(),
pause_apply(), resume_apply() and apply_leftovers() (harness/cluster/dbs/base.py). A database
without replicas (Galera, single nodes) has nothing to slow down.
"""
from nemesis.base import Fault, heal_each, pick


def replicas(cluster) -> list:
    """The cluster's async replicas; [] when its database has none (or the cluster is a stand-in
    without a database definition)."""
    dbdef = getattr(cluster, "dbdef", None)
    return list(dbdef.replicas(cluster)) if dbdef is not None else []


class ReplicationLag(Fault):
    family = "replication-lag"
    stop_rank = 2

    def __init__(self, delay_s: int = 5, targets=None):
        self.delay_s = delay_s
        self.target_names = targets
        self.lagged = []

    def applicable(self, cluster):
        if not replicas(cluster):
            return f"{self.name} needs an async replica; {getattr(cluster, 'db', 'this cluster')} has none"
        return None

    def start(self, cluster, rng):
        if self.target_names:
            targets = [n for n in cluster.nodes if n.name in self.target_names]
        else:
            targets = pick(rng, replicas(cluster), 1)
        with self.healing_on_failure(cluster):
            for n in targets:
                self.lagged.append(n)
                self.apply(cluster, n)
        return {"fault": self.name, "nodes": [n.name for n in targets]} | self.describe()

    def stop(self, cluster):
        names = [n.name for n in self.lagged]
        self.heal(cluster)
        return {"fault": self.name, "healed": names}

    def heal(self, cluster):
        """Every replica, whichever instance lagged it and how: resume_apply undoes both modes."""
        nodes = replicas(cluster)
        if not nodes:
            return
        self.lagged = []
        heal_each(nodes, lambda n: cluster.dbdef.resume_apply(cluster, n) if n.alive() else None)

    def describe(self) -> dict:
        return {}

    def apply(self, cluster, node):
        raise NotImplementedError


class ReplicationDelay(ReplicationLag):
    name = "replication-delay"

    def describe(self):
        return {"mode": "delay", "delay_s": self.delay_s}

    def apply(self, cluster, node):
        cluster.dbdef.delay_apply(cluster, node, int(self.delay_s))


class ReplicationStop(ReplicationLag):
    name = "replication-stop"

    def describe(self):
        return {"mode": "stop-apply"}

    def apply(self, cluster, node):
        cluster.dbdef.pause_apply(cluster, node)


def leftovers(cluster) -> list[str]:
    """Replication-lag settings still in force (for verify_clean)."""
    found = []
    for n in replicas(cluster):
        if not n.alive():
            continue
        try:
            found += cluster.dbdef.apply_leftovers(cluster, n)
        except Exception as e:
            found.append(f"{n.name}: could not read replication settings: {e}")
    return found
