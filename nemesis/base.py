"""The shape every fault shares, and the random choices they make (always from the run's seed)."""


class Fault:
    """One kind of fault. An instance remembers what its start() did so stop() undoes exactly that;
    heal() undoes everything of its kind on every node, idempotently (for stop after a crash or an
    interrupted start)."""

    name = "fault"      # registry name, e.g. "partition-one"
    family = "fault"    # history f: "start-<family>" / "stop-<family>"

    def applicable(self, cluster) -> str | None:
        """None when the fault can strike this cluster, else one line saying why not."""
        return None

    def start(self, cluster, rng):
        raise NotImplementedError

    def stop(self, cluster):
        raise NotImplementedError

    def heal(self, cluster) -> None:
        raise NotImplementedError


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
        errors, done = [], set()
        for m in self.members:
            if m.heal in done:  # members of a family mostly share one heal: run it once
                continue
            done.add(m.heal)
            try:
                m().heal(cluster)
            except Exception as e:
                errors.append(e)
        self.current = None
        if errors:
            raise errors[0]


def family(name: str, members) -> type:
    fam = members[0].family
    return type(f"Family_{name}", (Family,), {"name": name, "family": fam, "members": tuple(members)})
