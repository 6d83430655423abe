"""Database-native replication lag on the replicas of async topologies.

- delay: PostgreSQL standby `recovery_min_apply_delay`, MariaDB replica `MASTER_DELAY` — the
  replica applies each change only N seconds after its primary committed it.
- stop-apply: PostgreSQL `pg_wal_replay_pause()`, MariaDB `STOP SLAVE SQL_THREAD` — the replica
  keeps receiving but applies nothing until healed.
Galera has no async replica to slow down; single nodes have no replica at all.
"""
from nemesis.base import Fault, heal_each, pick

ASYNC_DBS = ("postgres-standby", "mariadb-mm")


def replicas(cluster) -> list:
    if cluster.db == "postgres-standby":
        return [n for n in cluster.nodes if n.role == "standby"]
    return list(cluster.nodes)  # master-master: each master is also the other's replica


def _exec(cluster, node, statements: list[str]):
    conn = cluster.connect(node, timeout=10.0, autocommit=True)
    try:
        cur = conn.cursor()
        rows = []
        for s in statements:
            cur.execute(s)
            rows.append(cur.fetchall() if cur.description else None)
        return rows
    finally:
        conn.close()


def configured_master_delay(cluster) -> int:
    """The cluster's own MASTER_DELAY (seconds, a cluster knob): healing returns to it, not to 0."""
    return int((getattr(cluster, "knobs", None) or {}).get("master_delay") or 0)


def configured_apply_delay_ms(cluster) -> int:
    return int((getattr(cluster, "knobs", None) or {}).get("recovery_min_apply_delay") or 0)


def pg_in_recovery(cluster, node) -> bool:
    return bool(_exec(cluster, node, ["SELECT pg_is_in_recovery()"])[0][0][0])


class ReplicationLag(Fault):
    family = "replication-lag"
    stop_rank = 2

    def __init__(self, delay_s: int = 5, targets=None):
        self.delay_s = delay_s
        self.target_names = targets
        self.lagged = []

    def applicable(self, cluster):
        if cluster.db not in ASYNC_DBS:
            return f"{self.name} needs an async replica ({', '.join(ASYNC_DBS)}), not {cluster.db}"
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
        if cluster.db not in ASYNC_DBS:
            return
        def undo(n):
            if n.alive():
                self.undo(cluster, n)
        nodes = replicas(cluster)
        self.lagged = []
        heal_each(nodes, undo)

    def describe(self) -> dict:
        return {}

    def apply(self, cluster, node):
        raise NotImplementedError

    def undo(self, cluster, node):
        """Undo both modes: heal must not depend on which instance started the lag."""
        if cluster.db == "postgres-standby":
            if not pg_in_recovery(cluster, node):
                return  # promoted meanwhile: nothing replays any more
            _exec(cluster, node, ["ALTER SYSTEM RESET recovery_min_apply_delay",
                                  "SELECT pg_reload_conf()",
                                  "SELECT pg_wal_replay_resume()"])
        else:
            # MariaDB changes MASTER_DELAY only with both replica threads stopped
            _exec(cluster, node, ["STOP SLAVE",
                                  f"CHANGE MASTER TO MASTER_DELAY={configured_master_delay(cluster)}",
                                  "START SLAVE"])


class ReplicationDelay(ReplicationLag):
    name = "replication-delay"

    def describe(self):
        return {"mode": "delay", "delay_s": self.delay_s}

    def apply(self, cluster, node):
        if cluster.db == "postgres-standby":
            _exec(cluster, node, [f"ALTER SYSTEM SET recovery_min_apply_delay = '{int(self.delay_s)}s'",
                                  "SELECT pg_reload_conf()"])
        else:
            _exec(cluster, node, ["STOP SLAVE", f"CHANGE MASTER TO MASTER_DELAY={int(self.delay_s)}",
                                  "START SLAVE"])


class ReplicationStop(ReplicationLag):
    name = "replication-stop"

    def describe(self):
        return {"mode": "stop-apply"}

    def apply(self, cluster, node):
        if cluster.db == "postgres-standby":
            _exec(cluster, node, ["SELECT pg_wal_replay_pause()"])
        else:
            _exec(cluster, node, ["STOP SLAVE SQL_THREAD"])


def leftovers(cluster) -> list[str]:
    """Replication-lag settings still in force (for verify_clean)."""
    found = []
    if cluster.db not in ASYNC_DBS:
        return found
    for n in replicas(cluster):
        if not n.alive():
            continue
        try:
            if cluster.db == "postgres-standby":
                if not pg_in_recovery(cluster, n):
                    continue
                (delay,), (paused,) = [r[0] for r in _exec(cluster, n, [
                    "SELECT setting FROM pg_settings WHERE name = 'recovery_min_apply_delay'",  # ms
                    "SELECT pg_is_wal_replay_paused()"])]
                if int(delay) != configured_apply_delay_ms(cluster):
                    found.append(f"{n.name}: recovery_min_apply_delay = {delay} ms")
                if paused:
                    found.append(f"{n.name}: WAL replay paused")
            else:
                conn = cluster.connect(n, timeout=10.0, autocommit=True)
                try:
                    cur = conn.cursor()
                    cur.execute("SHOW SLAVE STATUS")
                    cols = [d[0] for d in cur.description or []]
                    for row in cur.fetchall():
                        st = dict(zip(cols, row))
                        if int(st.get("SQL_Delay") or 0) != configured_master_delay(cluster):
                            found.append(f"{n.name}: MASTER_DELAY = {st['SQL_Delay']}")
                        if st.get("Slave_SQL_Running") == "No" and not st.get("Last_SQL_Errno"):
                            found.append(f"{n.name}: replica SQL thread stopped")
                finally:
                    conn.close()
        except Exception as e:
            found.append(f"{n.name}: could not read replication settings: {e}")
    return found
