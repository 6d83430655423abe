"""Leftover removal for `harness cleanup` and for the cluster layer's teardown: every iptables
chain, qdisc and delayer process the nemesis may have left after a crash (SIGKILL of the harness
mid-fault). Acts on a Node, or on a bare network namespace by name."""
import subprocess

from nemesis import clock, net, pause, procs


class NetnsTarget:
    """The slice of the Node interface the network faults use, over a bare `ip netns` namespace
    (for cleanup of a namespace whose cluster record is gone, and for tests)."""

    def __init__(self, ns: str, name: str | None = None, ip: str | None = None):
        self.ns = ns
        self.name = name or ns
        self.ip = ip

    def run(self, argv, timeout=10, check=True, input=None):
        return subprocess.run(["ip", "netns", "exec", self.ns, *argv], capture_output=True,
                              timeout=timeout, check=check, input=input)

    def popen(self, argv, **kw):
        # ip netns exec execs the command: the Popen's pid is the helper's own
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *argv], **kw)


def cleanup_node(node) -> list[str]:
    """Remove what the nemesis left in the node's namespace and SIGCONT a stopped server.
    Returns one line per thing removed (empty when there was nothing)."""
    done = []
    rules = net.leftover_rules(node)
    if rules:
        net.remove_all_chains(node)
        done.append(f"{node.name}: removed {len(rules)} iptables rule(s)/chain(s)")
    qdiscs = net.leftover_qdiscs(node)
    if qdiscs:
        net.remove_qdiscs(node)
        done.append(f"{node.name}: removed qdisc(s) {'; '.join(qdiscs)}")
    if not clock.remote(node):  # the delayer runs only on this machine (nemesis.lag)
        for pid in procs.delayers_in(net.netns_id(node)):
            procs.terminate(pid)
            done.append(f"{node.name}: stopped delayer pid {pid}")
    pid = getattr(node, "pid", None)
    if pid and pause.server_state(node) == "T":  # read and signalled where the server runs
        node.resume()
        done.append(f"{node.name}: resumed paused server pid {pid}")
    cluster = getattr(node, "cluster", None)
    if cluster is not None and hasattr(cluster, "name") and not (pid and clock.is_skewed(node)):
        found = clock.shared_files(cluster, node)
        clock.remove_shared(cluster, node)
        done += [f"{node.name}: removed libfaketime file {path}" for path in found]
    return done


def cleanup_namespace(ns: str) -> list[str]:
    return cleanup_node(NetnsTarget(ns))


def cleanup_remembered(keep_netns=()) -> list[str]:
    """Stop delayers recorded in the state dir whose namespace may already be gone; those living in
    one of `keep_netns` ('net:[inode]', namespaces of clusters still in use) are left running."""
    done = []
    for rec in procs.remembered():
        if any(procs.is_delayer(rec["pid"], ns) for ns in keep_netns):
            continue
        if procs.is_delayer(rec["pid"]):
            procs.terminate(rec["pid"])
            done.append(f"stopped delayer pid {rec['pid']} ({rec.get('node')})")
        else:
            procs.forget(rec["pid"])
    return done
