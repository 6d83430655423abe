"""The shape every fault shares, and the random choices they make (always from the run's seed)."""
import contextlib


class Fault:
    """One kind of fault. An instance remembers what its start() did so stop() undoes exactly that;
    heal() undoes everything of its kind on every node, idempotently (for stop after a crash or an
    interrupted start)."""

    name = "fault"      # registry name, e.g. "partition-one"
    family = "fault"    # history f: "start-<family>" / "stop-<family>"
    min_nodes = 0       # applicable() refuses clusters with fewer nodes
    stop_rank = 0       # in a composition faults stop by rank: network 0 < pause < ... < kill (restarts)

    def applicable(self, cluster) -> str | None:
        """None when the fault can strike this cluster, else one line saying why not."""
        if len(cluster.nodes) < self.min_nodes:
            return f"{self.name} needs at least {self.min_nodes} nodes"
        return None

    def start(self, cluster, rng):
        raise NotImplementedError

    def stop(self, cluster):
        raise NotImplementedError

    def heal(self, cluster) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def healing_on_failure(self, cluster):
        """Wraps the applying part of start(): a fault left half applied by an error (or Ctrl-C)
        is healed at once, then the error goes on."""
        try:
            yield
        except BaseException:
            self.heal(cluster)
            raise


def heal_each(items, action) -> None:
    """action(item) for every item, going on past failures (healing must reach every node);
    then the first failure, if any."""
    errors = []
    for item in items:
        try:
            action(item)
        except Exception as e:
            errors.append(e)
    if errors:
        raise errors[0]


def chosen(cluster, rng, names, count: int) -> list:
    """The nodes named in `names` (fixed targets), else `count` nodes chosen by `rng`."""
    if names:
        return [n for n in cluster.nodes if n.name in names]
    return pick(rng, cluster.nodes, count)


def pick(rng, nodes, count: int) -> list:
    """`count` distinct nodes chosen by `rng`, in cluster order (stable histories)."""
    chosen = set(id(n) for n in rng.sample(list(nodes), max(1, min(count, len(nodes)))))
    return [n for n in nodes if id(n) in chosen]


def minority(n: int) -> int:
    return max(1, (n - 1) // 2)


def majority(n: int) -> int:
    return n // 2 + 1


class Family(Fault):
    """A family name ("partition", "kill", ...): each start picks an applicable member at random."""

    members: tuple = ()

    def __init__(self):
        self.current = None

    def applicable(self, cluster):
        reasons = [m().applicable(cluster) for m in self.members]
        if all(reasons):
            return f"no {self.name} fault fits this cluster ({reasons[0]})"
        return None

    def start(self, cluster, rng):
        fits = [m for m in self.members if m().applicable(cluster) is None]
        self.current = rng.choice(fits)()
        return self.current.start(cluster, rng)

    def stop(self, cluster):
        cur, self.current = self.current, None
        return cur.stop(cluster) if cur else {"fault": self.name, "healed": []}

    def heal(self, cluster):
        self.current = None
        one_each = {}
        for m in self.members:
            one_each.setdefault(m.heal, m)  # members of a family mostly share one heal: run it once
        heal_each(one_each.values(), lambda m: m().heal(cluster))


def family(name: str, members) -> type:
    fam = members[0].family
    return type(f"Family_{name}", (Family,), {"name": name, "family": fam, "members": tuple(members),
                                              "stop_rank": members[0].stop_rank})
