"""The docker backend: the netns backend's clusters, each node a container.

    host 10.78.k.1 ──[docker bridge network eh<k>-<name>, internal]── container eh<k>-<name>-nN 10.78.k.(10+N)

One container per node, created from the locally built image (harness/backends/docker_image.py).
Its main process only holds the namespaces (`sleep infinity` under docker's tini); the database
server is launched into it with `docker exec`, so killing or restarting a server leaves the node's
network namespace, and any fault in it, in place: the same observable behaviour as a netns node.
The node's directory is bind-mounted at the same path, so the database definitions
(harness/cluster/dbs/) prepare files on the host exactly as for netns and apply unchanged.

How each Node operation reaches the container:
  run(argv)     `nsenter -t <container init pid> -m -u -i -n -r -w`: the container's filesystem and
                binaries (mariadb-install-db, psql, iptables, tc, ...) in its network namespace,
                from the host, as a plain child process (so timeouts kill it). No privileged
                container and no NET_ADMIN: iptables rules are installed by the host's root.
  popen(argv)   `nsenter -t <pid> -n`: only the network namespace, the host's filesystem: helpers
                such as the lag delayer are harness code run by the host's Python.
  launch(argv)  `docker exec` (in the container's cgroup and PID namespace) through the image's
                entry point (log file, user, bootstrap-once); the PID kept is the host's view of it.
  signals       os.kill on that PID (pause = SIGSTOP, as on netns).
`docker exec` with NET_ADMIN is never needed: the harness runs as root on the docker host.

Everything carries the label engine-harness=1; `cleanup_docker()` removes every labelled
container and network on the machine.
"""
import contextlib
import grp
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time

from harness.backends import docker_image
from harness.backends.docker_image import LABEL
from harness.cluster import netns, state
from harness.cluster.core import Cluster
from harness.cluster.dbs import get as get_db
from harness.cluster.node import NetnsNode, Node, _as_user
from harness.cluster.util import in_parallel
from harness.errors import ClusterError, UsageError

SUBNETS = range(1, 251)            # 10.78.<k>.0/24 (the netns backend uses 10.77.x.x)
ENTRYPOINT = "/usr/local/bin/harness-entrypoint"
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DB_USERS = ("mysql", "postgres")   # users whose ids the containers take from the host


def node_ip(subnet: int, index: int) -> str:
    return f"10.78.{subnet}.{10 + index}"


class DockerNode(Node):
    """A node = a container whose namespaces hold one database server at a time."""

    # The node's directory is the host's (bind mount, same path: write_file and copy_tree act on the
    # host), but its binaries are the image's: host-built data-dir templates are not used.
    shares_host_fs = False

    def __init__(self, cluster, spec):
        super().__init__(cluster, spec)
        self.container = spec["container"]
        self._helpers = []  # Popens of popen() helpers, killed at teardown

    # -- reaching the container -----------------------------------------------------------
    def init_pid(self) -> int:
        """Host PID of the container's init: the handle nsenter enters by. Verified against the
        network namespace recorded at creation, so a recycled PID is never entered."""
        pid, ino = self.spec.get("init_pid"), self.spec.get("netns_inode")
        if pid and ino and netns.pid_alive(pid) and netns.pid_ns_inode(pid) == ino:
            return pid
        raise ClusterError(f"{self}: container {self.container} is not running")

    def _nsenter(self, namespaces: list[str]) -> list[str]:
        return ["nsenter", "-t", str(self.init_pid()), *namespaces, "--"]

    def run(self, argv, timeout=10, check=True, input=None, user=None, env=None):
        envs = [f"{k}={v}" for k, v in (env or {}).items()]
        full = self._nsenter(["-m", "-u", "-i", "-n", "-r", "-w"]) + \
            ["env", "-i", f"PATH={CONTAINER_PATH}", "LANG=C.UTF-8", "HOME=/root", *envs] + \
            _as_user(user) + [str(a) for a in argv]
        return self._run_wrapped(argv, full, timeout, check, input)

    def popen(self, argv, **kw):
        user = kw.pop("user", None)
        # nsenter with only -n does not fork: the Popen's pid is the helper's own
        proc = subprocess.Popen(self._nsenter(["-n"]) + _as_user(user) + [str(a) for a in argv], **kw)
        self._helpers = [p for p in self._helpers if p.poll() is None] + [proc]
        return proc

    def launch(self, argv, env=None, user=None) -> int:
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        env = dict(env or {})
        environment = {"HARNESS_LOG": self.log_path,
                       "HARNESS_START_MARKER": os.path.join(self.home, ".started-once"),
                       **({"HARNESS_RUN_AS": user} if user else {}), **env}
        if "LD_PRELOAD" in env:  # loaded only by the server, after the entry point's set-up
            environment["HARNESS_LD_PRELOAD"] = environment.pop("LD_PRELOAD")
        api = self.cluster.api
        try:
            exec_id = api.exec_create(self.container, [ENTRYPOINT, *map(str, argv)],
                                      environment=environment)["Id"]
            api.exec_start(exec_id, detach=True)
            deadline = time.monotonic() + 10
            while True:
                info = api.exec_inspect(exec_id)
                if info.get("Pid") or not info.get("Running") and info.get("ExitCode") is not None:
                    break
                if time.monotonic() > deadline:
                    raise ClusterError(f"{self}: docker exec of the server did not start within 10 s")
                time.sleep(0.02)
        except docker_errors() as e:
            raise ClusterError(f"{self}: docker exec failed: {e}") from None
        self.spec["pid"] = info.get("Pid") or None
        self.cluster.save()
        return self.spec["pid"]

    # the node's directory is bind-mounted at the same path: host file access is the node's
    def write_file(self, path, content, user=None, mode=0o644):
        NetnsNode.write_file(self, path, content, user=user, mode=mode)

    def read_file(self, path):
        return NetnsNode.read_file(self, path)

    def copy_tree(self, source_node, src, dst, user=None):
        NetnsNode.copy_tree(self, source_node, src, dst, user=user)

    def alive(self) -> bool:
        pid = self.pid
        if not pid or not netns.pid_alive(pid):
            return False
        return netns.pid_ns_inode(pid) == self.spec.get("netns_inode")

    def stop_helpers(self):
        for proc in self._helpers:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        self._helpers = []


class DockerCluster(Cluster):
    def __init__(self, record, dbdef):
        super().__init__(record, dbdef, node_class=DockerNode)
        self._api = None

    @property
    def api(self):
        """The low-level docker API client (timeouts on every call), made on first use."""
        if self._api is None:
            self._api = docker_image.client().api
        return self._api

    def teardown(self) -> None:
        """Kill servers and helpers, remove containers, network, data dir and record. Idempotent."""
        for node in self.nodes:
            node.stop_helpers()
        destroy(self.record)
        state.remove(self.name)

    def leftovers(self) -> list[str]:
        return leftovers(self.record)


def docker_errors():
    import docker
    return (docker.errors.DockerException, OSError)


# -- create / load / destroy ------------------------------------------------------------------
def up(db: str, nodes: int | None = None, name: str | None = None, knobs: dict | None = None,
       timeout: float = 120.0) -> DockerCluster:
    """Create a cluster of containers and wait until it is ready. On any failure (or Ctrl-C)
    nothing is left behind."""
    dbdef = get_db(db)
    knobs = dbdef.validate_knobs(knobs)
    count = dbdef.node_count(nodes, knobs)
    if os.geteuid() != 0:
        raise UsageError("the docker backend needs root (nsenter into containers)")
    client = docker_image.client()
    image = docker_image.ensure_image(log=lambda m: print(f"docker backend: {m}", file=sys.stderr))
    name = state.check_name(name or f"{db}-{secrets.token_hex(3)}")
    record = state.new_record(name, db, "docker", dbdef.roles(count), knobs, image=image)
    try:
        _allocate_network(client, record)
        _create_containers(client, record)
        cluster = DockerCluster(record, dbdef)
        cluster.create(timeout)
        return cluster
    except BaseException:
        with contextlib.suppress(Exception):
            destroy(record)
            state.remove(name)
        raise


def load(name: str) -> DockerCluster:
    record = state.read(state.check_name(name))
    if record is None:
        raise UsageError(f"no cluster named {name!r} (see `harness cluster status`)")
    if record.get("backend") != "docker":
        raise UsageError(f"cluster {name!r} is not a docker cluster")
    return DockerCluster(record, get_db(record["db"]))


def _labels(record, node=None) -> dict:
    labels = {LABEL: "1", f"{LABEL}.cluster": record["name"]}
    if node:
        labels[f"{LABEL}.node"] = node["name"]
    return labels


def _allocate_network(client, record) -> None:
    """Pick a free 10.78.k.0/24, save the record, create the network: all under the machine-wide
    lock, so harnesses with different state dirs never pick the same subnet."""
    with state.global_lock():
        if state.read(record["name"]) is not None:
            raise UsageError(f"a cluster named {record['name']!r} already exists "
                             f"(harness cluster down --name {record['name']})")
        taken = {r.get("subnet") for r in state.all_records() if r.get("backend") == "docker"}
        taken |= _docker_subnets_in_use(client)
        free = [k for k in SUBNETS if k not in taken]
        if not free:
            raise UsageError("no free 10.78.x.0/24 subnet: run `harness cleanup`")
        k = record["subnet"] = free[0]
        record["network"] = f"eh{k}-{record['name']}"
        record["cidr"] = f"10.78.{k}.0/24"
        record["host_ip"] = f"10.78.{k}.1"
        for i, node in enumerate(record["nodes"], start=1):
            node["ip"] = node_ip(k, i)
            node["container"] = f"eh{k}-{record['name']}-{node['name']}"
        state.save(record)
        import docker
        ipam = docker.types.IPAMConfig(pool_configs=[
            docker.types.IPAMPool(subnet=record["cidr"], gateway=record["host_ip"])])
        # internal: no default route and no NAT, nodes reach each other and the host only
        client.networks.create(record["network"], driver="bridge", ipam=ipam, internal=True,
                               labels=_labels(record), check_duplicate=True)


def _docker_subnets_in_use(client) -> set[int]:
    used = set()
    for net in client.networks.list():
        for pool in (net.attrs.get("IPAM") or {}).get("Config") or []:
            with contextlib.suppress(ValueError, KeyError):
                n = ipaddress.ip_network(pool["Subnet"], strict=False)
                if n.overlaps(ipaddress.ip_network("10.78.0.0/16")):
                    used.add(int(str(n.network_address).split(".")[2]))
    out = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, timeout=10).stdout
    used |= {int(m.group(1)) for m in re.finditer(r"\b10\.78\.(\d+)\.", out)}
    return used


def _host_ids() -> str:
    """HARNESS_UIDS for the entry point: the host's ids of the database users that exist here."""
    pairs = []
    for user in DB_USERS:
        with contextlib.suppress(KeyError):
            pw = pwd.getpwnam(user)
            pairs.append(f"{user}={pw.pw_uid}:{grp.getgrgid(pw.pw_gid).gr_gid}")
    return " ".join(pairs)


def _create_containers(client, record) -> None:
    """One container per node, created and started in parallel (each ~0.5 s of dockerd's time)."""
    api = client.api
    ids = _host_ids()

    def create(node):
        os.makedirs(node["home"], exist_ok=True)
        host_config = api.create_host_config(
            init=True, network_mode=record["network"],
            binds={node["home"]: {"bind": node["home"], "mode": "rw"}})
        netcfg = api.create_networking_config({
            record["network"]: api.create_endpoint_config(ipv4_address=node["ip"])})
        api.create_container(record["image"], command=["sleep", "infinity"], name=node["container"],
                             hostname=node["name"], labels=_labels(record, node), detach=True,
                             environment={"HARNESS_UIDS": ids}, host_config=host_config,
                             networking_config=netcfg)
        api.start(node["container"])
        pid = api.inspect_container(node["container"])["State"]["Pid"]
        node["init_pid"] = pid
        node["netns_inode"] = netns.pid_ns_inode(pid)
        # the entry point adjusts user ids before `sleep`: wait until it has
        _wait_ids(node)

    in_parallel([lambda n=n: create(n) for n in record["nodes"]])
    state.save(record)


def _wait_ids(node, timeout=10.0) -> None:
    deadline = time.monotonic() + timeout
    want = _host_ids().split()
    while True:
        cmd = " ".join(f"echo {u}=$(id -u {u}):$(id -g {u});" for u in DB_USERS)
        cp = subprocess.run(["nsenter", "-t", str(node["init_pid"]), "-m", "-r", "--", "sh", "-c", cmd],
                            capture_output=True, text=True, timeout=10)
        if all(w in cp.stdout.split() for w in want):
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"container {node['container']}: user ids not adjusted: {cp.stdout.strip()}")
        time.sleep(0.05)


def destroy(record: dict) -> None:
    """Remove containers, network and data dir of a docker cluster. Idempotent."""
    import docker
    client = docker_image.client()
    def remove(container):
        with contextlib.suppress(docker.errors.NotFound):
            _kill_helpers(client.api, container)
            client.api.remove_container(container, force=True, v=True)

    in_parallel([lambda c=n["container"]: remove(c) for n in record.get("nodes", []) if n.get("container")])
    if record.get("network"):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_network(record["network"])
    home = record.get("data_dir")
    if home and os.path.isdir(home):
        shutil.rmtree(home, ignore_errors=True)


def _kill_helpers(api, container) -> None:
    """SIGKILL every process in the container's network namespace: helpers started there from
    the host (popen) are not in the container and would otherwise keep the namespace alive.
    The namespace is taken from the running container itself, never from a stale record."""
    st = api.inspect_container(container)["State"]
    ino = netns.pid_ns_inode(st["Pid"]) if st.get("Running") and st.get("Pid") else None
    if ino is None:
        return
    for pid in netns.pids_in({ino}):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def leftovers(record: dict) -> list[str]:
    """What of this cluster still exists (empty = nothing)."""
    client = docker_image.client()
    left = []
    names = {n.get("container") for n in record.get("nodes", [])}
    for c in client.api.containers(all=True, filters={"label": f"{LABEL}.cluster={record['name']}"}):
        left += [f"container {n.lstrip('/')}" for n in c["Names"] if n.lstrip("/") in names]
    if record.get("network") and client.api.networks(names=[record["network"]]):
        left.append(f"network {record['network']}")
    if record.get("data_dir") and os.path.exists(record["data_dir"]):
        left.append(f"dir {record['data_dir']}")
    return left


def cleanup_docker(cluster: str | None = None) -> list[str]:
    """Remove every container and network labelled engine-harness=1 on this machine (any cluster,
    any state dir), or only those of the named cluster. Returns one line per thing removed; []
    when dockerd is not running."""
    try:
        client = docker_image.client()
    except ClusterError:
        return []
    import docker
    done = []
    label = f"{LABEL}.cluster={cluster}" if cluster else f"{LABEL}=1"
    for c in client.api.containers(all=True, filters={"label": label}):
        with contextlib.suppress(docker.errors.NotFound):
            _kill_helpers(client.api, c["Id"])
            client.api.remove_container(c["Id"], force=True, v=True)
            done.append(f"container {c['Names'][0].lstrip('/')}")
    for n in client.api.networks(filters={"label": label}):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_network(n["Id"])
            done.append(f"network {n['Name']}")
    return done
