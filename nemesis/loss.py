"""Random packet loss on chosen nodes: iptables `statistic` DROP on everything they send and
receive (not on lo), with probability P each way."""
from nemesis import net
from nemesis.base import Fault, chosen, heal_each


def loss_rules(probability: float):
    stat = ["-m", "statistic", "--mode", "random", "--probability", f"{probability:g}", "-j", "DROP"]
    return [["!", "-i", "lo"] + stat], [["!", "-o", "lo"] + stat]


class Loss(Fault):
    name = "loss"
    family = "loss"

    def __init__(self, probability: float = 0.2, targets=None, count: int = 1):
        if not 0.0 < probability <= 1.0:
            raise ValueError(f"loss probability must be in (0, 1], got {probability}")
        self.probability = probability
        self.target_names = targets
        self.count = count

    def start(self, cluster, rng):
        targets = chosen(cluster, rng, self.target_names, self.count)
        in_rules, out_rules = loss_rules(self.probability)
        with self.healing_on_failure(cluster):
            for t in targets:
                net.install_chains(t, "LOSS", in_rules, out_rules)
        return {"fault": self.name, "nodes": [t.name for t in targets], "probability": self.probability}

    def stop(self, cluster):
        self.heal(cluster)
        return {"fault": self.name, "healed": [n.name for n in cluster.nodes]}

    def heal(self, cluster):
        heal_each(cluster.nodes, lambda n: net.remove_chains(n, "LOSS"))
