"""The ssh backend: each node is a real host reached over SSH (harness/backends/ssh_transport.py).

    control node ──ssh (one multiplexed connection per host)──> host k: <base_dir>/eh-<tag>/<cluster>/nK

The same database definitions run unchanged through the Node interface: every command, file and
signal goes over ssh. The few steps the definitions do on the control node's own filesystem
(making node dirs, MariaDB's install) are replaced here with the same steps through the node
(`_MariaDBFiles`, `_PostgresFiles`), and pg_hba names the hosts and the control node.

Remote paths: everything lives under `<base_dir>/eh-<tag>/` on each host, tag = this state dir's
hash, so two state dirs sharing hosts never touch each other's files. The cluster record (written
before anything is made on a host) holds the hosts and every path; a server's PID is written by
the shell that launches it, with the process's start time, into `<node home>/launch.pid`, so
cleanup after a SIGKILLed harness finds exactly the processes it started (never by name).
"""
import hashlib
import json
import logging
import os
import re
import secrets
import shlex
import signal as sig_mod
import subprocess
import time
from pathlib import Path

from harness.backends import ssh_config
from harness.backends.ssh_transport import TRANSPORT, Host, remote_command
from harness.cluster import state
from harness.cluster.core import Cluster
from harness.cluster.dbs import get as get_db
from harness.cluster.dbs.mariadb import MYSQL_USER, MariaDB
from harness.cluster.dbs.postgres import PG_USER, Postgres
from harness.cluster.node import Node, NodeCommandError, NodeTimeout
from harness.cluster.util import in_parallel
from harness.errors import ClusterError, UsageError

LAUNCH_PID = "launch.pid"
log = logging.getLogger("harness.ssh")


def state_tag() -> str:
    return "eh-" + hashlib.sha1(str(state.state_dir().resolve()).encode()).hexdigest()[:10]


def cluster_dir(host: Host, name: str) -> str:
    return f"{host.base_dir}/{state_tag()}/{name}"


def parse_stat(line: str):
    """(pid, state, ppid, start time) of one /proc/PID/stat line; None if unreadable."""
    try:
        head, rest = line.rsplit(")", 1)
        f = rest.split()
        return int(head.split(" (", 1)[0]), f[0], int(f[1]), int(f[19])
    except (ValueError, IndexError):
        return None


def process_table(node_or_host_run) -> list[tuple]:
    out = node_or_host_run(["sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true"], timeout=15).stdout
    return [p for p in map(parse_stat, out.splitlines()) if p]


def tree(table, root_pid, root_start) -> list[int]:
    """root and its descendants, if root is still the process that was started (same start time)."""
    by_pid = {p[0]: p for p in table}
    root = by_pid.get(root_pid)
    if not root or root[3] != root_start or root[1] in ("Z", "X"):
        return []
    children = {}
    for pid, st, ppid, _ in table:
        if st not in ("Z", "X"):
            children.setdefault(ppid, []).append(pid)
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


class SSHNode(Node):
    """A node = one host over ssh. Files, processes and signals are the host's, never the control node's."""

    shares_host_fs = False
    remote = True  # the nemesis reads /proc and /dev/shm, and finds libraries, through run() (nemesis.clock)

    def __init__(self, cluster, spec):
        super().__init__(cluster, spec)
        self.host = Host.from_dict(spec["host"])

    def __repr__(self):
        return f"<SSHNode {self.cluster.name}/{self.name} {self.host} {self.role}>"

    # -- commands ---------------------------------------------------------------------------
    def run(self, argv, timeout=10, check=True, input=None, user=None, env=None):
        command = remote_command(self.host, argv, timeout=timeout, env=env, user=user)
        try:
            cp = TRANSPORT.run(self.host, command, timeout, input=input)
        except subprocess.TimeoutExpired:
            raise NodeTimeout(self, argv, timeout) from None
        if cp.returncode == 124:  # the host's `timeout` ended it
            raise NodeTimeout(self, argv, timeout)
        if check and cp.returncode != 0:
            raise NodeCommandError(self, argv, cp)
        return cp

    def sh(self, script: str, *args, timeout=15, check=True, input=None):
        """A POSIX shell script on the host; args are its $1, $2, ..."""
        return self.run(["sh", "-c", script, "sh", *map(str, args)], timeout=timeout, check=check, input=input)

    def popen(self, argv, **kw):
        """A helper on the host. Killing the returned local process ends the ssh session; a helper
        that must not outlive it should exit on EOF/EPIPE (no tty, so no SIGHUP)."""
        user = kw.pop("user", None)
        return TRANSPORT.popen(self.host, "exec " + remote_command(self.host, argv, user=user), **kw)

    def launch(self, argv, env=None, user=None) -> int:
        """Start the server detached (setsid, own session) with its output appended to log_path.
        The launching shell writes the server's PID and start time to launch.pid."""
        pidfile = f"{self.home}/{LAUNCH_PID}"
        server = shlex.split(remote_command(self.host, argv, env=env, user=user))
        if server[:3] == ["sudo", "-n", "--"]:
            server = server[3:]  # the whole script below runs under sudo already
        # the wrapper shell stays the server's parent and reaps it at once: a zombie left to a
        # host's init would keep its PID "existing" (postgres then refuses to start on the stale
        # postmaster.pid). Its PID and start time go to launch.pid before it can be signalled.
        inner = ('pidfile=$1; shift; "$@" & pid=$!; s=$(cut -d" " -f22 /proc/$pid/stat); '
                 'echo "$pid $s" > "$pidfile.tmp"; mv "$pidfile.tmp" "$pidfile"; wait $pid')
        script = ('set -e; pidfile=$1; log=$2; inner=$3; shift 3; mkdir -p "$(dirname "$pidfile")"; rm -f "$pidfile"\n'
                  'setsid sh -c "$inner" sh "$pidfile" "$@" >> "$log" 2>&1 < /dev/null &\n'
                  'i=0; while [ ! -s "$pidfile" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; cat "$pidfile"')
        out = self.sh(script, pidfile, self.log_path, inner, *server, timeout=15).stdout.split()
        if len(out) != 2 or not all(w.isdigit() for w in out):
            raise ClusterError(f"{self}: the server did not start (no pid file {pidfile})")
        self.spec["pid"], self.spec["pid_start"] = int(out[0]), int(out[1])
        self.cluster.save()
        return self.spec["pid"]

    # -- files ------------------------------------------------------------------------------
    def write_file(self, path, content, user=None, mode=0o644):
        self.sh('set -e; mkdir -p "$(dirname "$1")"; cat > "$1.tmp"; chmod "$2" "$1.tmp"; '
                '[ -z "$3" ] || chown "$3:" "$1.tmp"; mv -f "$1.tmp" "$1"',
                path, f"{mode:o}", user or "", input=content)

    def read_file(self, path):
        cp = self.sh('[ -e "$1" ] || exit 3; cat "$1"', path, check=False)
        if cp.returncode == 3:
            return None
        if cp.returncode != 0:
            raise NodeCommandError(self, ["cat", path], cp)
        return cp.stdout

    def make_dirs(self, *paths, user=None, mode=None):
        """mkdir -p each path on the host, then chown/chmod it (the definitions' os.makedirs + chown)."""
        self.sh('set -e; owner=$1; mode=$2; shift 2; mkdir -p "$@"; '
                '[ -z "$owner" ] || chown "$owner:" "$@"; [ -z "$mode" ] || chmod "$mode" "$@"',
                user or "", f"{mode:o}" if mode else "", *paths)

    def same_host(self, other) -> bool:
        return isinstance(other, SSHNode) and (other.host.address, other.host.port) == \
            (self.host.address, self.host.port)

    def copy_tree(self, source_node, src, dst, user=None):
        """dst := a copy of src on source_node (cp -a on one host, else tar streamed through the control node)."""
        source_node = source_node or self
        if self.same_host(source_node):
            self.sh('rm -rf "$2" && cp -a "$1" "$2"', src, dst, timeout=120)
            return
        self.sh('rm -rf "$1" && mkdir -p "$1"', dst)
        reader = source_node.popen(["tar", "-C", src, "-cf", "-", "."], stdout=subprocess.PIPE)
        try:
            writer = self.popen(["tar", "-C", dst, "-xpf", "-"], stdin=reader.stdout,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            reader.stdout.close()
            _, err = writer.communicate(timeout=120)
            if reader.wait(timeout=30) != 0 or writer.returncode != 0:
                raise ClusterError(f"{self}: copying {source_node.name}:{src} failed: {err.decode()[-200:]}")
        finally:
            for p in (reader,):
                if p.poll() is None:
                    p.kill()
        if user:
            self.sh('chown -R "$2:" "$1"', dst, user)

    # -- processes --------------------------------------------------------------------------
    def _table(self):
        return process_table(self.run)

    def server_pids(self) -> list[int]:
        if not self.pid:
            return []
        return tree(self._table(), self.pid, self.spec.get("pid_start"))

    def alive(self) -> bool:
        if not self.pid:
            return False
        cp = self.sh('cat "/proc/$1/stat" 2>/dev/null; true', self.pid, timeout=10)
        st = parse_stat(cp.stdout.strip())
        return bool(st) and st[3] == self.spec.get("pid_start") and st[1] not in ("Z", "X")

    def _signal_pids(self, pids, sig) -> None:
        if pids:
            self.sh('sig=$1; shift; kill -s "$sig" "$@" 2>/dev/null; true', sig_mod.Signals(sig).name[3:], *pids)

    def _living(self, pids) -> list[int]:
        """Which of pids still exist and are not zombies (one call)."""
        if not pids:
            return []
        cp = self.sh('for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done; true', *pids)
        return [p[0] for p in map(parse_stat, cp.stdout.splitlines()) if p and p[1] not in ("Z", "X")]

    def signal(self, sig) -> list[int]:
        pids = self.server_pids()
        self._signal_pids(pids, sig)
        return pids

    def stop(self, timeout=30.0) -> None:
        pids = self.signal(sig_mod.SIGCONT)  # a paused server cannot shut down
        if not pids:
            return
        self._signal_pids([self.pid], getattr(self.cluster.dbdef, "stop_signal", sig_mod.SIGTERM))
        deadline = time.monotonic() + timeout
        while self._living(pids):
            if time.monotonic() > deadline:
                self.kill()
                return
            time.sleep(0.1)

    def kill(self, sig=sig_mod.SIGKILL) -> None:
        pids = self.signal(sig)
        if sig == sig_mod.SIGKILL:
            deadline = time.monotonic() + 10
            while self._living(pids):
                if time.monotonic() > deadline:
                    raise ClusterError(f"{self}: processes {pids} survived SIGKILL")
                time.sleep(0.05)


# -- the definitions' host-side file steps, through the node -------------------------------------
class _MariaDBFiles:
    def prepare_dirs(self, cluster, node):
        node.make_dirs(node.home)
        # root's socket (root has no password there): only the server's user and root may reach it
        node.make_dirs(node.rundir, user=MYSQL_USER, mode=0o700)
        node.write_file(self.conf_path(node), self.config(cluster, node))

    def install(self, cluster, node):
        node.make_dirs(node.datadir, user=MYSQL_USER)
        node.run(["mariadb-install-db", f"--defaults-file={self.conf_path(node)}", f"--user={MYSQL_USER}",
                  "--auth-root-authentication-method=normal", "--skip-test-db"], timeout=120)


class _PostgresFiles:
    bindir = "/usr/lib/postgresql/15/bin"  # replaced by what the hosts have (find_bindir)

    def bin(self, tool):
        return f"{self.bindir}/{tool}"

    def check_installed(self):
        pass  # checked on the hosts (up)

    def hba(self, cluster) -> str:
        """Only the cluster's hosts and the control node, each by its own address."""
        peers = sorted({n.ip for n in cluster.nodes} | ({cluster.host_ip} if cluster.host_ip else set()))
        lines = [f"local all {PG_USER} peer"]
        for ip in peers:
            lines += [f"host all all {ip}/32 scram-sha-256", f"host replication all {ip}/32 scram-sha-256"]
        return "\n".join(lines) + "\n"

    def prepare_dirs(self, node):
        node.make_dirs(node.home)
        node.make_dirs(node.rundir, node.datadir, user=PG_USER, mode=0o700)


def over_ssh(dbdef):
    """The definition with its host-side file steps done through the node."""
    for base, mixin in ((MariaDB, _MariaDBFiles), (Postgres, _PostgresFiles)):
        if isinstance(dbdef, base):
            return type(f"SSH{type(dbdef).__name__}", (mixin, type(dbdef)), {})()
    raise UsageError(f"--db {dbdef.name} is not supported by the ssh backend")


def binaries(dbdef) -> list[str]:
    if isinstance(dbdef, Postgres):
        return [dbdef.bin(t) for t in ("postgres", "initdb", "psql", "pg_basebackup")]
    return list(dbdef.binaries)


class SSHCluster(Cluster):
    def __init__(self, record, dbdef):
        super().__init__(record, dbdef, node_class=SSHNode)

    def teardown(self) -> None:
        destroy(self.record)
        state.remove(self.name)
        log.info("ssh: this process opened %d ssh connection(s)", TRANSPORT.connections)

    def collect(self, dest) -> list[str]:
        """Each host's server log and configuration into dest/<node>/, clock offsets into dest/clocks.json."""
        return collect(self, dest)

    def leftovers(self) -> list[str]:
        return leftovers(self.record)


# -- create / load / destroy ------------------------------------------------------------------
def up(db: str, nodes: int | None = None, name: str | None = None, knobs: dict | None = None,
       timeout: float = 120.0, hosts: list[Host] | None = None) -> SSHCluster:
    """Create a cluster on the hosts (--hosts, see ssh_config) and wait until it is ready. On any
    failure (or Ctrl-C) what was made on the hosts is removed again."""
    hosts = hosts or ssh_config.hosts_for(db, nodes, knobs)
    dbdef = over_ssh(get_db(db))
    knobs = dbdef.validate_knobs(knobs)
    if nodes is None and knobs.get("standbys") is None:
        nodes = max(dbdef.min_nodes, min(len(hosts), dbdef.max_nodes))  # every host given
    count = dbdef.node_count(nodes, knobs)
    if count > len(hosts):
        raise UsageError(f"--db {db} with {count} nodes needs {count} hosts, --hosts gives {len(hosts)}")
    name = state.check_name(name or f"{db}-{secrets.token_hex(3)}")
    record = state.new_record(name, db, "ssh", dbdef.roles(count), knobs, local_data=False, state_tag=state_tag())
    for node, host in zip(record["nodes"], hosts):
        node["host"] = host.to_dict()
        node["ip"] = host.ip
        node["home"] = f"{cluster_dir(host, name)}/{node['name']}"
    with state.global_lock():
        if state.read(name) is not None:
            raise UsageError(f"a cluster named {name!r} already exists (harness cluster down --name {name})")
        state.save(record)  # before anything exists on a host
    cluster = SSHCluster(record, dbdef)
    try:
        _check_hosts(cluster, dbdef)
    except BaseException:
        state.remove(name)  # nothing was made on any host yet
        raise
    try:
        in_parallel([lambda n=n: n.make_dirs(os.path.dirname(n.home), mode=0o711) for n in cluster.nodes])
        cluster.create(timeout)
        record_clocks(cluster, "start")
        return cluster
    except BaseException:
        try:
            destroy(record)
            state.remove(name)
        except Exception:  # noqa: BLE001 - the original error matters more; cleanup retries later
            pass
        raise


def _check_hosts(cluster, dbdef) -> None:
    """Connect to every host at once (nothing is made there), check its binaries, learn the control node's address as the
    hosts see it (pg_hba), find PostgreSQL's bindir there."""
    def prepare(node):
        script = 'echo "${SSH_CONNECTION%% *}"; for b in "$@"; do [ -e "$b" ] || command -v "$b" >/dev/null ' \
                 '|| echo "missing $b"; done; ls -d /usr/lib/postgresql/*/bin 2>/dev/null; true'
        out = node.sh(script, *binaries(dbdef) if not isinstance(dbdef, Postgres) else []).stdout.split("\n")
        node.spec["control_ip"] = out[0].strip()
        missing = [ln[8:] for ln in out if ln.startswith("missing ")]
        if missing:
            raise UsageError(f"{node.host}: {missing[0]} is missing (install the database packages there: "
                             "apt-get install mariadb-server galera-4 postgresql rsync iptables)")
        node.spec["pg_bindirs"] = [ln.strip() for ln in out if ln.startswith("/usr/lib/postgresql/")]
    in_parallel([lambda n=n: prepare(n) for n in cluster.nodes])
    cluster.host_ip = cluster.record["host_ip"] = cluster.nodes[0].spec["control_ip"]
    if isinstance(dbdef, Postgres):
        found = [d for d in cluster.nodes[0].spec["pg_bindirs"] if re.search(r"/\d+/bin$", d)]
        if not found:
            raise UsageError(f"{cluster.nodes[0].host}: PostgreSQL is not installed (apt-get install postgresql)")
        cluster.record["pg_bindir"] = max(found, key=lambda d: int(d.split("/")[-2]))
        dbdef.bindir = cluster.record["pg_bindir"]
        in_parallel([lambda n=n: _check_binaries(n, binaries(dbdef)) for n in cluster.nodes])
    cluster.save()


def _check_binaries(node, names):
    cp = node.sh('for b in "$@"; do [ -e "$b" ] || echo "$b"; done', *names)
    if cp.stdout.strip():
        raise UsageError(f"{node.host}: {cp.stdout.split()[0]} is missing (apt-get install postgresql)")


def load(name: str) -> SSHCluster:
    record = state.read(state.check_name(name))
    if record is None:
        raise UsageError(f"no cluster named {name!r} (see `harness cluster status`)")
    return _bare_cluster(record)


def _bare_cluster(record) -> SSHCluster:
    dbdef = over_ssh(get_db(record["db"]))
    if record.get("pg_bindir"):
        dbdef.bindir = record["pg_bindir"]
    return SSHCluster(record, dbdef)


def _recorded_pid(node) -> tuple[int, int] | None:
    """(pid, start) from the node's launch.pid on the host, else from the record."""
    text = node.read_file(f"{node.home}/{LAUNCH_PID}")
    words = (text or "").split()
    if len(words) == 2 and all(w.isdigit() for w in words):
        return int(words[0]), int(words[1])
    if node.spec.get("pid") and node.spec.get("pid_start"):
        return node.spec["pid"], node.spec["pid_start"]
    return None


def _kill_tree(node, pid, start) -> None:
    pids = tree(node._table(), pid, start)
    node._signal_pids(pids, sig_mod.SIGKILL)
    deadline = time.monotonic() + 10
    while node._living(pids):
        if time.monotonic() > deadline:
            raise ClusterError(f"{node}: processes {pids} survived SIGKILL")
        time.sleep(0.05)


def _remove_from_host(node, path) -> None:
    """The harness's iptables chains, then `path`, then the tag dir and base dir if now empty."""
    from nemesis import net  # the nemesis's own chain removal: one definition of what it adds
    net.remove_all_chains(node)
    base = node.host.base_dir
    node.sh('rm -rf "$1"; rmdir "$2" "$3" 2>/dev/null; true', path, f"{base}/{state_tag()}", base)


def _destroy_node(node) -> None:
    from nemesis import clock  # a skew's libfaketime files in the host's /dev/shm, named after the cluster
    TRANSPORT.connect(node.host)
    if not node.sh('[ -d "$1" ] || echo absent', os.path.dirname(node.home)).stdout.strip():
        found = _recorded_pid(node)
        if found:
            _kill_tree(node, *found)
    clock.remove_shared(node.cluster, node)
    _remove_from_host(node, os.path.dirname(node.home))


def sweep(hosts: list[Host]) -> list[str]:
    """`harness cleanup --hosts`: on each host, everything this state dir's harness made there,
    recorded or not: the servers named by launch.pid files under <base_dir>/eh-<tag>/, the iptables
    chains, the directory. Returns one line per host."""
    lines = []

    def one(host):
        tagdir = f"{host.base_dir}/{state_tag()}"
        record = {"name": "sweep", "db": "mariadb", "user": "", "password": "", "database": "",
                  "nodes": [{"name": "n1", "index": 1, "role": "single", "ip": host.ip, "home": f"{tagdir}/x/x",
                             "host": host.to_dict()}]}
        node = _bare_cluster(record).nodes[0]
        TRANSPORT.connect(host)
        out = node.sh('for f in "$1"/*/*/launch.pid; do [ -f "$f" ] && cat "$f"; done; true', tagdir).stdout
        killed = 0
        for line in out.splitlines():
            words = line.split()
            if len(words) == 2 and all(w.isdigit() for w in words):
                _kill_tree(node, int(words[0]), int(words[1]))
                killed += 1
        _remove_from_host(node, tagdir)
        lines.append(f"{host}: removed {tagdir} ({killed} server(s) stopped)")
    in_parallel([lambda h=h: one(h) for h in hosts])
    return sorted(lines)


def destroy(record: dict) -> None:
    """Kill the servers the record names, remove the harness's iptables chains and every file it made
    on each host. Idempotent; ClusterError when a host cannot be reached (the record stays for a retry)."""
    if not record.get("nodes") or not all(n.get("host") for n in record["nodes"]):
        return
    cluster = _bare_cluster(record)
    in_parallel([lambda n=n: _destroy_node(n) for n in cluster.nodes])
    for node in cluster.nodes:  # no ssh process outlives the cluster (a later call reconnects)
        TRANSPORT.close(node.host)


def leftovers(record: dict) -> list[str]:
    """What of this cluster still exists on its hosts (empty = nothing)."""
    out = []
    cluster = _bare_cluster(record)
    for node in cluster.nodes:
        d = os.path.dirname(node.home)
        if node.sh('[ -e "$1" ] && echo yes; true', d).stdout.strip():
            out.append(f"{node.host}: dir {d}")
        pid = node.spec.get("pid")
        if pid and node._living([pid]) and node.alive():
            out.append(f"{node.host}: process {pid}")
    return out


# -- what a run keeps of each host: logs, configuration, clock ----------------------------------
def clock_offset(node, samples: int = 3) -> dict:
    """The host's clock minus the control node's, seconds, from the sample with the shortest round
    trip (±half of it)."""
    best = None
    for _ in range(samples):
        t0 = time.time()
        out = node.run(["date", "+%s.%N"], timeout=10).stdout.strip()
        t1 = time.time()
        try:
            remote = float(out)
        except ValueError:
            raise ClusterError(f"{node}: `date +%s.%N` said {out[:80]!r}") from None
        if best is None or t1 - t0 < best[1]:
            best = (remote - (t0 + t1) / 2, t1 - t0)
    return {"offset_s": round(best[0], 6), "uncertainty_s": round(best[1] / 2, 6)}


def record_clocks(cluster, when: str) -> None:
    offsets = {}
    for node in cluster.nodes:
        try:
            offsets[node.name] = clock_offset(node)
        except ClusterError as e:
            offsets[node.name] = {"error": str(e)}
    cluster.record.setdefault("clock_offsets", {})[when] = offsets
    cluster.save()


def config_files(cluster, node) -> list[str]:
    if isinstance(cluster.dbdef, Postgres):
        return [f"{node.datadir}/{f}" for f in ("postgresql.conf", "harness.conf", "postgresql.auto.conf",
                                                "pg_hba.conf")]
    return [cluster.dbdef.conf_path(node)]


def collect(cluster, dest) -> list[str]:
    """Copy every host's server log and configuration to dest/<node>/ and record the clock
    offsets at the end (clocks.json: start and end). Returns the files written; a host that cannot
    be read gets an error.txt instead, so collecting never hides the run's own outcome."""
    dest = Path(dest)
    record_clocks(cluster, "end")
    written = []
    for node in cluster.nodes:
        d = dest / node.name
        d.mkdir(parents=True, exist_ok=True)
        for path in [node.log_path] + config_files(cluster, node):
            try:
                text = node.read_file(path)
            except ClusterError as e:
                with (d / "error.txt").open("a") as f:
                    f.write(f"{path}: {e}\n")
                continue
            if text is not None:
                (d / os.path.basename(path)).write_text(text)
                written.append(str(d / os.path.basename(path)))
    (dest / "clocks.json").write_text(json.dumps(cluster.record.get("clock_offsets", {}), indent=1))
    written.append(str(dest / "clocks.json"))
    return written
