"""Network plumbing shared by the partition, loss and lag faults, acting only through `node.run`.

Every iptables rule the harness adds lives in a chain of its own named `HN-<KIND>-IN` (jumped to
from INPUT) or `HN-<KIND>-OUT` (from OUTPUT). Healing a kind = removing its two chains, and a node
is clean when `iptables -S` mentions no `HN-` chain: nothing to remember, nothing to guess.
"""
import shlex
import subprocess

CHAIN_PREFIX = "HN-"
KINDS = ("PART", "LOSS", "LAG", "NET")  # one pair of chains per fault kind (NET: nemesis.network)
HOOKS = (("IN", "INPUT"), ("OUT", "OUTPUT"))
QDISC_KINDS = ("netem", "prio")        # qdiscs only the lag fault adds (netem path)


class NetError(RuntimeError):
    """A network command inside a node failed; the message names the node and the command."""


def sh(node, script: str, timeout: float = 15.0, check: bool = True):
    """Run a small POSIX shell script in the node's network namespace: one process spawn for many
    iptables/tc commands (each spawn through `ip netns exec` costs ~10 ms)."""
    res = node.run(["sh", "-c", script], timeout=timeout, check=False)
    if check and res.returncode != 0:
        err = _text(res.stderr).strip().splitlines()
        raise NetError(f"{node.name}: `{script.splitlines()[-1][:120]}` failed: "
                       f"{err[-1] if err else 'exit ' + str(res.returncode)}")
    return res


def _text(b) -> str:
    if b is None:
        return ""
    return b.decode(errors="replace") if isinstance(b, bytes) else b


def out(res) -> str:
    return _text(res.stdout)


def chain_names(kind: str):
    return [(f"{CHAIN_PREFIX}{kind}-{d}", hook) for d, hook in HOOKS]


def install_chains(node, kind: str, in_rules: list[list[str]], out_rules: list[list[str]]):
    """Create HN-KIND-IN/OUT holding the given rules (argument lists after `-A CHAIN`) and jump to
    them first thing in INPUT/OUTPUT. Replaces whatever that kind had installed before."""
    lines = [_remove_script(kind), "set -e"]
    for (chain, hook), rules in zip(chain_names(kind), (in_rules, out_rules)):
        lines.append(f"iptables -w 5 -N {chain}")
        lines += [f"iptables -w 5 -A {chain} " + shlex.join(r) for r in rules]
        lines.append(f"iptables -w 5 -I {hook} 1 -j {chain}")
    sh(node, "\n".join(lines))


def _remove_script(kind: str) -> str:
    parts = []
    for chain, hook in chain_names(kind):
        # a jump may have been added twice by an interrupted install: delete until none is left
        parts.append(f"while iptables -w 5 -D {hook} -j {chain} 2>/dev/null; do :; done; "
                     f"iptables -w 5 -F {chain} 2>/dev/null; iptables -w 5 -X {chain} 2>/dev/null")
    return "; ".join(parts) + "; true"


def remove_chains(node, kind: str):
    sh(node, _remove_script(kind))


def remove_all_chains(node):
    sh(node, "; ".join(_remove_script(k) for k in KINDS))


def leftover_rules(node) -> list[str]:
    """Lines of `iptables -S` that the harness put there (any HN- chain or jump, any NFQUEUE)."""
    res = sh(node, "iptables -w 5 -S", check=False)
    return [ln for ln in out(res).splitlines() if CHAIN_PREFIX in ln or "NFQUEUE" in ln]


def interface_of(node) -> str:
    """The interface holding the node's address (eth0 for both backends, but ask rather than assume)."""
    res = sh(node, "ip -o -4 addr show")
    for ln in out(res).splitlines():
        f = ln.split()
        if len(f) >= 4 and f[3].split("/")[0] == node.ip:
            return f[1].split("@")[0]
    raise NetError(f"{node.name}: no interface holds {node.ip}")


def interfaces(node) -> list[str]:
    res = sh(node, "ip -o link show", check=False)
    names = []
    for ln in out(res).splitlines():
        f = ln.split(":")
        if len(f) >= 2:
            name = f[1].strip().split("@")[0]
            if name != "lo":
                names.append(name)
    return names


def leftover_qdiscs(node) -> list[str]:
    res = sh(node, "tc qdisc show", check=False)
    return [ln.strip() for ln in out(res).splitlines()
            if ln.split()[1:2] and ln.split()[1] in QDISC_KINDS]


def remove_qdiscs(node):
    """Delete the root qdisc of every non-loopback interface that carries one the lag fault adds."""
    for ln in leftover_qdiscs(node):
        f = ln.split()
        if "dev" in f and "root" in f:
            dev = f[f.index("dev") + 1]
            sh(node, f"tc qdisc del dev {shlex.quote(dev)} root 2>/dev/null; true")


def in_netns(node, argv, timeout: float = 10.0) -> str:
    """Run argv in the node's network namespace with the host's filesystem and /proc (node.popen:
    on the docker backend node.run would see the container's /proc, where /proc/self is not us)."""
    proc = node.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise NetError(f"{node.name}: `{' '.join(argv)}` timed out after {timeout}s") from None
    return _text(stdout)


def bound_queues(node) -> list[str]:
    """NFQUEUE queues bound in the node's namespace (/proc/net is per network namespace)."""
    text = in_netns(node, ["sh", "-c", "cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null; true"])
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def netns_id(node) -> str:
    """The node's network-namespace identity, e.g. 'net:[4026532178]', as seen from inside it."""
    ident = in_netns(node, ["readlink", "/proc/self/ns/net"]).strip()
    if not ident.startswith("net:["):
        raise NetError(f"{node.name}: cannot tell its network namespace")
    return ident
