"""Crashes: SIGKILL the server on one / a minority / a majority / all nodes, then restart them the
way the cluster layer knows is right (Galera: --wsrep-recover and a start position, so the node
rejoins by IST; after all nodes died, the cluster layer bootstraps from the most advanced one)."""
import signal
import time

from nemesis.base import Fault, heal_each, majority, minority, pick

RESTART_TIMEOUT = 120.0


class Kill(Fault):
    family = "kill"
    stop_rank = 4  # in a composition: restart last, once the network is whole again

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
        how = self.heal(cluster) or {}
        return {"fault": self.name, "restarted": names, **how}

    def heal(self, cluster) -> dict | None:
        """Restart every node whose server is not running (ours or left by a crash). Several at
        once: start them all without waiting, then wait until the cluster is whole — Galera nodes
        killed together only form a primary component again once enough of them are back. When
        every node is down the database definition restarts the whole cluster (Galera: from the
        most advanced node) and says how (returned: founder, positions, seconds)."""
        down = [n for n in cluster.nodes if not n.alive()]
        self.killed = []
        if down and len(down) == len(cluster.nodes) and hasattr(getattr(cluster, "dbdef", None), "restart_all"):
            return cluster.dbdef.restart_all(cluster, timeout=RESTART_TIMEOUT)
        if len(down) == 1:
            down[0].start()
        elif down:
            heal_each(down, lambda n: n.start(wait=False))
            cluster.wait_healthy(timeout=RESTART_TIMEOUT)
        return None


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


class KillAllRapid(Kill):
    """SIGKILL every node, one after another at random moments within `window` seconds (Jepsen's
    "nodes crash in quick succession"), in an order chosen by the rng. stop() restarts the whole
    cluster (see Kill.heal) and its value says which node founded it, the positions seen and how
    long the cluster took from the first kill to Synced."""

    name = "kill-all-rapid"
    WINDOW = 1.0

    def __init__(self, window: float | None = None):
        super().__init__()
        self.window = self.WINDOW if window is None else float(window)
        if not 0 <= self.window <= 60:
            raise ValueError(f"kill-all-rapid window must be 0..60 seconds, not {window}")
        self.killed_at = None

    def count(self, n):
        return n

    def plan(self, cluster, rng) -> list[tuple[float, object]]:
        """(offset in seconds, node), offsets sorted, the first at 0 and the last at `window`."""
        order = list(cluster.nodes)
        rng.shuffle(order)
        inner = sorted(rng.uniform(0, self.window) for _ in order[2:])
        offsets = ([0.0] + inner + [self.window])[:len(order)] if len(order) > 1 else [0.0]
        return list(zip(offsets, order))

    def start(self, cluster, rng):
        steps = self.plan(cluster, rng)
        with self.healing_on_failure(cluster):
            t0 = time.monotonic()
            self.killed_at = t0
            for offset, node in steps:
                time.sleep(max(0.0, t0 + offset - time.monotonic()))
                node.kill(signal.SIGKILL)
                self.killed.append(node)
            took = time.monotonic() - t0
        return {"fault": self.name, "nodes": [n.name for _, n in steps], "signal": "SIGKILL",
                "offsets_s": [round(o, 3) for o, _ in steps], "window_s": self.window, "took_s": round(took, 3)}

    def stop(self, cluster):
        value = super().stop(cluster)
        if self.killed_at is not None:
            value["kill_to_synced_s"] = round(time.monotonic() - self.killed_at, 3)
            self.killed_at = None
        return value
