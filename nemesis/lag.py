"""Network lag with jitter on the links of chosen nodes.

What is delayed (the same with either method): every packet a chosen node sends (except on lo),
and every packet it receives from a cluster node that is not itself chosen — so each packet on a
chosen node's links is delayed once, by D ± J ms, in both directions. Traffic from the harness host
to a chosen node is not delayed, its replies are.

Method: tc netem where the kernel has it (root netem on the chosen node's interface; on the other
nodes a prio qdisc whose extra band holds a netem, filtered to the chosen addresses). Kernels
without netem (this project's CI) get the user-space delayer instead: `python -m nemesis.delayer`
inside the chosen node's namespace plus iptables NFQUEUE rules. `method(cluster)` says which;
`HARNESS_LAG_METHOD=netem|nfqueue` forces one. Remote hosts (ssh backend) get netem only: a host
without it is refused by applicable() with one line naming it.
"""
import importlib.util
import os
import select
import subprocess
import sys
import time

from nemesis import clock, net, procs
from nemesis.base import Fault, chosen

QUEUE_NUM = 7707
READY_TIMEOUT = 10.0
_method_cache: dict = {}


def method(cluster) -> str:
    """'netem', 'nfqueue', or 'unavailable' (neither netem nor the NetfilterQueue package).
    On remote hosts (the ssh backend) only netem: each host's kernel is probed through its node; the
    delayer is harness code run by this machine's Python in a node's namespace, which a remote host
    does not have."""
    nodes = cluster.nodes
    remote = any(clock.remote(n) for n in nodes)
    forced = os.environ.get("HARNESS_LAG_METHOD")
    if forced == "netem" or (forced == "nfqueue" and not remote):
        return forced
    if remote:
        key = tuple(str(getattr(n, "host", n.name)) for n in nodes)
        if key not in _method_cache:
            lacking = [str(getattr(n, "host", n.name)) for n in nodes if not _has_netem(n)]
            _method_cache[key] = ("unavailable", lacking) if lacking else ("netem", [])
        return _method_cache[key][0]
    key = getattr(cluster, "backend", "") or "any"
    if key not in _method_cache:
        _method_cache[key] = (_probe(nodes[0]), [])
    return _method_cache[key][0]


def _has_netem(node) -> bool:
    # a netem qdisc on the node's own lo, removed at once: proves the kernel has sch_netem
    res = net.sh(node, "tc qdisc add dev lo root netem delay 0ms 2>&1 && tc qdisc del dev lo root", check=False)
    return res.returncode == 0


def _probe(node) -> str:
    if _has_netem(node):
        return "netem"
    return "nfqueue" if importlib.util.find_spec("netfilterqueue") else "unavailable"


def unavailable_reason(cluster) -> str:
    key = tuple(str(getattr(n, "host", n.name)) for n in cluster.nodes)
    if key in _method_cache:
        return (f"lag needs tc netem (kernel module sch_netem) on {', '.join(_method_cache[key][1])}: "
                "the NetfilterQueue delayer runs only on netns/docker nodes")
    return "lag needs tc netem or the NetfilterQueue package (pip install NetfilterQueue)"


def netem_scripts(targets, others, delay_ms: float, jitter_ms: float, dev: dict) -> dict:
    """The tc commands per node name for the netem method (pure, so it is unit-tested on kernels
    without netem). `dev[name]` is that node's interface."""
    spec = f"delay {delay_ms:g}ms" + (f" {jitter_ms:g}ms" if jitter_ms else "")
    scripts = {}
    for t in targets:
        scripts[t.name] = f"tc qdisc replace dev {dev[t.name]} root netem {spec}"
    for o in others:
        d = dev[o.name]
        lines = [f"tc qdisc replace dev {d} root handle 1: prio bands 4 "
                 "priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1",
                 f"tc qdisc replace dev {d} parent 1:4 handle 40: netem {spec}"]
        lines += [f"tc filter add dev {d} parent 1: protocol ip prio 1 u32 match ip dst {t.ip}/32 flowid 1:4"
                  for t in targets]
        scripts[o.name] = "\n".join(lines)
    return scripts


def nfqueue_rules(others) -> tuple[list[list[str]], list[list[str]]]:
    """iptables rules (after `-A CHAIN`) for a chosen node: queue what it receives from non-chosen
    cluster nodes, and everything it sends except on lo."""
    q = ["-j", "NFQUEUE", "--queue-num", str(QUEUE_NUM), "--queue-bypass"]
    return [["-s", o.ip] + q for o in others], [["!", "-o", "lo"] + q]


def start_delayer(node, delay_ms: float, jitter_ms: float, seed: int | None = None, queue: int = QUEUE_NUM):
    """Start the delayer in the node's namespace and return its Popen once it has bound the queue."""
    argv = [sys.executable, "-m", "nemesis.delayer", "--queue", str(queue),
            "--delay-ms", f"{delay_ms:g}", "--jitter-ms", f"{jitter_ms:g}"]
    if seed is not None:
        argv += ["--seed", str(seed)]
    # own session: a Ctrl-C at the terminal must not end it before the runner's stop() heals
    proc = node.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      stdin=subprocess.DEVNULL, start_new_session=True)
    procs.remember(proc.pid, net.netns_id(node), node.name)
    deadline = time.monotonic() + READY_TIMEOUT
    line = b""
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            break
    if line.strip() != b"ready":
        _end(proc)
        err = proc.stderr.read().decode(errors="replace").strip()
        stop_delayer(proc)
        raise net.NetError(f"{node.name}: lag delayer did not bind NFQUEUE {queue}: "
                           f"{err.splitlines()[-1] if err else 'no ready signal'}")
    return proc


def _end(proc):
    if proc.poll() is None:
        proc.terminate()  # the delayer accepts what it holds and unbinds
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def stop_delayer(proc):
    _end(proc)
    for f in (proc.stdout, proc.stderr):
        if f:
            f.close()
    procs.forget(proc.pid)


class Lag(Fault):
    name = "lag"
    family = "lag"

    def __init__(self, delay_ms: float = 100.0, jitter_ms: float = 20.0, targets=None, count: int = 1):
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms
        self.target_names = targets  # fixed node names, or None = `count` random nodes
        self.count = count
        self.delayers = {}           # node name -> Popen
        self.applied = []            # node names with tc/iptables state to undo

    def applicable(self, cluster):
        if method(cluster) == "unavailable":
            return unavailable_reason(cluster)
        return None

    def start(self, cluster, rng):
        targets = chosen(cluster, rng, self.target_names, self.count)
        others = [n for n in cluster.nodes if n not in targets]
        how = method(cluster)
        with self.healing_on_failure(cluster):
            if how == "netem":
                devs = {n.name: net.interface_of(n) for n in cluster.nodes}
                scripts = netem_scripts(targets, others, self.delay_ms, self.jitter_ms, devs)
                for n in cluster.nodes:
                    if n.name in scripts:
                        self.applied.append(n.name)
                        net.sh(n, scripts[n.name])
            else:
                in_rules, out_rules = nfqueue_rules(others)
                for t in targets:
                    # delayer first: the rule only goes in once the queue is bound
                    self.delayers[t.name] = start_delayer(t, self.delay_ms, self.jitter_ms,
                                                          seed=rng.randrange(2**31))
                    self.applied.append(t.name)
                    net.install_chains(t, "LAG", in_rules, out_rules)
        return {"fault": self.name, "method": how, "nodes": [t.name for t in targets],
                "delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms}

    def stop(self, cluster):
        healed = sorted(set(self.applied) | set(self.delayers))
        self.heal(cluster)
        return {"fault": self.name, "healed": healed}

    def heal(self, cluster):
        errors = []
        for n in cluster.nodes:
            try:
                net.remove_chains(n, "LAG")       # rules out first, then the delayer goes
                net.remove_qdiscs(n)
            except Exception as e:  # keep healing the other nodes
                errors.append(e)
        for name, proc in list(self.delayers.items()):
            stop_delayer(proc)
            del self.delayers[name]
        for n in cluster.nodes:  # delayers of another Lag instance or an earlier crashed run
            try:
                for pid in procs.delayers_in(net.netns_id(n), queue=QUEUE_NUM):
                    procs.terminate(pid)
            except Exception as e:
                errors.append(e)
        self.applied = []
        if errors:
            raise errors[0]
