"""Process pauses: SIGSTOP the server of chosen nodes, SIGCONT to heal. A paused node still accepts
TCP connections but never answers (every client call needs a timeout); on Galera its peers' writes
stall until it is evicted."""
from nemesis import clock
from nemesis.base import Fault, heal_each, pick, majority


def server_state(node) -> str:
    """The server process's state letter ('T' = stopped by SIGSTOP; '?' = unknown), read through
    the node from the /proc of the host that runs it: a remote host's PIDs are not this machine's."""
    try:
        text = clock.read_proc(node, "status")
    except Exception:  # noqa: BLE001 - gone, unreadable or no pid: unknown, never "paused"
        return "?"
    for line in text.splitlines():
        if line.startswith("State:") and len(line.split()) > 1:
            return line.split()[1]
    return "?"


class Pause(Fault):
    family = "pause"
    stop_rank = 1

    def targets(self, cluster, rng) -> list:
        raise NotImplementedError

    def __init__(self):
        self.paused = []

    def start(self, cluster, rng):
        targets = self.targets(cluster, rng)
        with self.healing_on_failure(cluster):
            for n in targets:
                n.pause()
                self.paused.append(n)
        return {"fault": self.name, "nodes": [n.name for n in targets], "signal": "SIGSTOP"}

    def stop(self, cluster):
        names = [n.name for n in self.paused]
        self.heal(cluster)
        return {"fault": self.name, "resumed": names}

    def heal(self, cluster):
        # SIGCONT every node: harmless when a node is not stopped, and it covers an instance that
        # forgot (a crash between SIGSTOP and bookkeeping)
        def resume(n):
            if n.alive():
                n.resume()
        self.paused = []
        heal_each(cluster.nodes, resume)


class PauseOne(Pause):
    name = "pause-one"

    def targets(self, cluster, rng):
        return pick(rng, cluster.nodes, 1)


class PausePrimary(Pause):
    name = "pause-primary"

    def targets(self, cluster, rng):
        return [cluster.primary]


class PauseMajority(Pause):
    name = "pause-majority"
    min_nodes = 3

    def targets(self, cluster, rng):
        return pick(rng, cluster.nodes, majority(len(cluster.nodes)))
