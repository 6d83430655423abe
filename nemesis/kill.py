"""Crashes: SIGKILL the server on one / a minority / a majority / all nodes, then restart them the
way the cluster layer knows is right (Galera: --wsrep-recover and a start position, so the node
rejoins by IST; after all nodes died, the cluster layer bootstraps from the most advanced one)."""
import signal

from nemesis.base import Fault, heal_each, majority, minority, pick

RESTART_TIMEOUT = 120.0


class Kill(Fault):
    family = "kill"

    def count(self, n: int) -> int:
        raise NotImplementedError

    def __init__(self):
        self.killed = []

    def start(self, cluster, rng):
        targets = pick(rng, cluster.nodes, self.count(len(cluster.nodes)))
        with self.healing_on_failure(cluster):
            for n in targets:
                n.kill(signal.SIGKILL)
                self.killed.append(n)
        return {"fault": self.name, "nodes": [n.name for n in targets], "signal": "SIGKILL"}

    def stop(self, cluster):
        names = [n.name for n in self.killed]
        self.heal(cluster)
        return {"fault": self.name, "restarted": names}

    def heal(self, cluster):
        """Restart every node whose server is not running (ours or left by a crash). Several at
        once: start them all without waiting, then wait until the cluster is whole — Galera nodes
        killed together only form a primary component again once enough of them are back."""
        down = [n for n in cluster.nodes if not n.alive()]
        self.killed = []
        if len(down) == 1:
            down[0].start()
        elif down:
            heal_each(down, lambda n: n.start(wait=False))
            cluster.wait_healthy(timeout=RESTART_TIMEOUT)


class KillOne(Kill):
    name = "kill-one"

    def count(self, n):
        return 1


class KillMinority(Kill):
    name = "kill-minority"
    min_nodes = 3

    def count(self, n):
        return minority(n)


class KillMajority(Kill):
    name = "kill-majority"
    min_nodes = 2

    def count(self, n):
        return majority(n)


class KillAll(Kill):
    name = "kill-all"

    def count(self, n):
        return n
