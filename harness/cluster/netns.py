"""Network topology of a netns cluster: one hub namespace holding a bridge, one namespace per node.

    root ns  eh<k>h 10.77.k.1 ──veth── [hub ns: br0] ──veth── eth0 10.77.k.1N  (node ns nN)

The bridge lives in its own namespace because a bridge in the root namespace passes through the
host's iptables FORWARD chain (dockerd sets it to DROP). Nodes get no default route: they can
reach each other and the host address, nothing else.
"""
import contextlib
import os
import shutil
import signal
import subprocess
import time

from harness.errors import ClusterError


def sh(argv, timeout=10, check=True, input=None) -> subprocess.CompletedProcess:
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired:
        raise ClusterError(f"`{' '.join(argv)}` timed out after {timeout}s") from None
    if check and cp.returncode != 0:
        msg = (cp.stderr or cp.stdout).strip().splitlines()
        raise ClusterError(f"`{' '.join(argv)}` failed: {msg[-1] if msg else 'exit %d' % cp.returncode}")
    return cp


def ns_inode(ns: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return None


def pid_ns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def pid_alive(pid: int) -> bool:
    """True when pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def pids_in(inodes: set[int]) -> list[int]:
    """Every process whose network namespace is one of `inodes`."""
    if not inodes:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and pid_ns_inode(int(entry)) in inodes:
            out.append(int(entry))
    return out


def node_ip(subnet: int, index: int) -> str:
    return f"10.77.{subnet}.{10 + index}"


def host_ip(subnet: int) -> str:
    return f"10.77.{subnet}.1"


def fill_names(record: dict, node_count: int) -> None:
    """Derive every kernel name of the topology from the allocated subnet (saved before creation)."""
    k, name = record["subnet"], record["name"]
    record["hub_ns"] = f"eh{k}-{name}-hub"
    record["host_veth"] = f"eh{k}h"
    record["host_ip"] = host_ip(k)
    record["cidr"] = f"10.77.{k}.0/24"
    for i, node in enumerate(record["nodes"][:node_count], start=1):
        node["ns"] = f"eh{k}-{name}-{node['name']}"
        node["ip"] = node_ip(k, i)


def create(record: dict, save) -> None:
    """Build hub, bridge, host veth and one namespace per node; `save(record)` after each namespace."""
    hub, veth = record["hub_ns"], record["host_veth"]
    record.setdefault("ns_inodes", {})
    sh(["ip", "netns", "add", hub])
    record["ns_inodes"][hub] = ns_inode(hub)
    save(record)
    sh(["ip", "-n", hub, "link", "add", "br0", "type", "bridge"])
    sh(["ip", "-n", hub, "link", "set", "br0", "up"])
    # bridged frames must not traverse iptables (only exists when br_netfilter is loaded)
    sh(["ip", "netns", "exec", hub, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0"], check=False)
    sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", "host", "netns", hub])
    sh(["ip", "addr", "add", f"{record['host_ip']}/24", "dev", veth])
    sh(["ip", "link", "set", veth, "up"])
    sh(["ip", "-n", hub, "link", "set", "host", "master", "br0", "up"])
    for node in record["nodes"]:
        ns = node["ns"]
        sh(["ip", "netns", "add", ns])
        record["ns_inodes"][ns] = ns_inode(ns)
        save(record)
        sh(["ip", "-n", hub, "link", "add", node["name"], "type", "veth", "peer", "name", "eth0", "netns", ns])
        sh(["ip", "-n", hub, "link", "set", node["name"], "master", "br0", "up"])
        sh(["ip", "-n", ns, "addr", "add", f"{node['ip']}/24", "dev", "eth0"])
        sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])


def _namespaces(record: dict) -> list[str]:
    return [n["ns"] for n in record.get("nodes", []) if n.get("ns")] + \
        ([record["hub_ns"]] if record.get("hub_ns") else [])


def kill_all(record: dict, timeout: float = 5.0) -> None:
    """SIGKILL every process living in one of the cluster's namespaces and wait until they are gone.

    Processes are found by namespace identity, never by name: the live namespace inode, or, when
    the namespace file is already gone, a recorded server PID that still sits in the recorded inode.
    """
    recorded = record.get("ns_inodes", {})
    inodes = set()
    for ns in _namespaces(record):
        ino = ns_inode(ns)
        if ino is not None and recorded.get(ns) in (None, ino):
            inodes.add(ino)
    targets = set(pids_in(inodes))
    for node in record.get("nodes", []):
        pid, ino = node.get("pid"), recorded.get(node.get("ns"))
        if pid and ino and pid_ns_inode(pid) == ino:
            targets.add(pid)
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while targets and time.monotonic() < deadline:
        for pid in list(targets):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)  # reap our own children
            if not pid_alive(pid):
                targets.discard(pid)
        if targets:
            time.sleep(0.02)
    if targets:
        raise ClusterError(f"processes {sorted(targets)} of cluster {record['name']} did not die")


def destroy(record: dict) -> None:
    """Remove processes, namespaces, veth and data dir of a cluster. Idempotent."""
    kill_all(record)
    veth = record.get("host_veth")  # deleted first and explicitly: namespace deletion is asynchronous
    if veth and os.path.exists(f"/sys/class/net/{veth}"):
        sh(["ip", "link", "del", veth], check=False)
    for ns in _namespaces(record):
        if ns_inode(ns) is not None:
            sh(["ip", "netns", "del", ns], check=False)
    home = record.get("data_dir")
    if home and os.path.isdir(home):
        shutil.rmtree(home, ignore_errors=True)


def leftovers(record: dict) -> list[str]:
    """What of this cluster still exists in the kernel or on disk (empty = nothing)."""
    left = [f"netns {ns}" for ns in _namespaces(record) if ns_inode(ns) is not None]
    veth = record.get("host_veth")
    if veth and os.path.exists(f"/sys/class/net/{veth}"):
        left.append(f"veth {veth}")
    recorded = record.get("ns_inodes", {})
    for node in record.get("nodes", []):
        pid = node.get("pid")
        if pid and pid_alive(pid) and pid_ns_inode(pid) == recorded.get(node.get("ns")):
            left.append(f"process {pid}")
    if record.get("data_dir") and os.path.exists(record["data_dir"]):
        left.append(f"dir {record['data_dir']}")
    return left
