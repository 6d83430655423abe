"""MariaDB Galera: N synchronous multi-master nodes.

Fast bring-up (3 nodes ready in ~3-4 s instead of 9-11 s with one rsync SST after another): every
node starts at once from an identical freshly installed datadir, with the same grastate.dat (a new
state UUID at seqno 0) and a gvwstate.dat describing one primary view of all N members. That is
the state a cluster leaves on disk when all its nodes crash, and Galera's pc.recovery restores the
primary component as soon as all members of the saved view see each other: no bootstrap node, no
state transfer. The harness user is then created on n1 and replicated.
Restart after a kill: `--wsrep-recover` finds the last committed position, and
`--wsrep-start-position` lets the node rejoin by IST instead of a full SST. After a clean stop of
every node the one marked safe_to_bootstrap founds the cluster again (`--wsrep-new-cluster`).
"""
import os
import re
import time
import uuid

from harness.cluster.dbs.base import Knob, NotYet, boolean, choice, isolation, last_log_line, wait_until
from harness.cluster.dbs.mariadb import MYSQL_USER, MariaDB, sql_quote
from harness.cluster import server_options
from harness.cluster.util import in_parallel
from harness.errors import ClusterError, UsageError

PROVIDER = "/usr/lib/galera/libgalera_smm.so"
FAST_DETECTION = ("evs.keepalive_period=PT0.5S; evs.suspect_timeout=PT1.5S; evs.inactive_timeout=PT3S; "
                  "evs.inactive_check_period=PT0.5S; evs.install_timeout=PT3S; evs.join_retrans_period=PT0.5S")
CAMUNDA = {"isolation": "read-committed", "wsrep_sync_wait": 7}  # Camunda 7's documented Galera settings


def most_advanced(positions: dict, order: list[str]) -> str:
    """The node to found the cluster from: the highest recovered seqno ("uuid:seqno"; None = unknown,
    below every known one), the first in `order` among equals."""
    def seqno(name):
        pos = positions.get(name)
        try:
            return int(pos.rsplit(":", 1)[1]) if pos else -2
        except ValueError:
            return -2
    return max(order, key=lambda name: (seqno(name), -order.index(name)))


class Galera(MariaDB):
    name = "galera"
    min_nodes, max_nodes, default_nodes = 2, 9, 3
    binaries = MariaDB.binaries + (PROVIDER, "rsync")
    knobs = {
        "isolation": Knob(None, isolation, "server default transaction isolation"),
        "wsrep_sync_wait": Knob(None, lambda v: choice(0, 1, 3, 7)(int(v)), "causality checks 0/1/3/7"),
        "fast_failure_detection": Knob(True, boolean, "evs timeouts ~2 s instead of ~6 s"),
        "camunda": Knob(False, boolean, "Camunda 7 preset: READ-COMMITTED, wsrep_sync_wait=7"),
    }
    owned_options = MariaDB.owned_options | {
        "wsrep_on", "wsrep_provider", "wsrep_cluster_address", "wsrep_cluster_name", "wsrep_node_address",
        "wsrep_node_name", "wsrep_node_incoming_address", "wsrep_sst_method", "wsrep_sst_receive_address",
        "wsrep_new_cluster", "wsrep_start_position", "wsrep_recover"}
    # the user's wsrep_provider_options are appended to the harness's (a later key wins), except these
    owned_provider_options = ("gmcast.listen_addr", "base_host", "base_port", "ist.recv_addr", "pc.recovery")
    merged_options = ("wsrep_provider_options",)

    def validate_server_options(self, given):
        out = super().validate_server_options(given)
        for raw in out:
            e = server_options.parse_entry(raw, self.dialect, "server_options")
            if e.key == "wsrep_provider_options":
                for part in (e.value or "").strip("\"'").split(";"):
                    if part.split("=", 1)[0].strip().lower() in self.owned_provider_options:
                        raise UsageError(f"--server-opt {e}: {part.split('=', 1)[0].strip()} is set by the "
                                         "harness: refused")
        return out

    def validate_knobs(self, given):
        knobs = super().validate_knobs(given)
        if knobs["camunda"]:  # the preset fills what the user did not set explicitly
            for key, value in CAMUNDA.items():
                if knobs[key] is None:
                    knobs[key] = value
        if knobs["wsrep_sync_wait"] is None:
            knobs["wsrep_sync_wait"] = 0
        return knobs

    def roles(self, n):
        return ["member"] * n

    def extra_config(self, cluster, node):
        opts = "gcache.size=32M; pc.recovery=TRUE"
        if cluster.knobs.get("fast_failure_detection", True):
            opts += "; " + FAST_DETECTION
        for e in self.server_entries(cluster.knobs, node):
            if e.key == "wsrep_provider_options" and (e.value or "").strip("\"' "):
                opts += "; " + (e.value or "").strip("\"' ")
        return [
            "wsrep_on=ON",
            f"wsrep_provider={PROVIDER}",
            f"wsrep_cluster_name={cluster.name}",
            "wsrep_cluster_address=gcomm://" + ",".join(n.ip for n in cluster.nodes),
            f"wsrep_node_address={node.ip}",
            f"wsrep_node_name={node.name}",
            "wsrep_sst_method=rsync",
            f"wsrep_sync_wait={cluster.knobs.get('wsrep_sync_wait') or 0}",
            f'wsrep_provider_options="{opts}"',
        ]

    def read_settings(self, cluster, node, keys):
        got = super().read_settings(cluster, node, keys)
        if got.get("wsrep_provider_options"):  # ~3 KB of every provider option: keep the ones given
            given = {p.split("=", 1)[0].strip().lower() for e in self.server_entries(cluster.knobs, node)
                     if e.key == "wsrep_provider_options" for p in (e.value or "").strip("\"'").split(";")}
            got["wsrep_provider_options"] = "; ".join(
                p.strip() for p in got["wsrep_provider_options"].split(";")
                if p.split("=", 1)[0].strip().lower() in given)
        return got

    def grastate_path(self, node):
        return os.path.join(node.datadir, "grastate.dat")

    def create(self, cluster):
        first, joiners = cluster.nodes[0], cluster.nodes[1:]
        for node in cluster.nodes:
            self.prepare_dirs(cluster, node)
        self.install(cluster, first)
        for node in joiners:
            node.copy_tree(first, first.datadir, node.datadir, user=MYSQL_USER)
        # the on-disk state of a cluster whose N members all crashed at seqno 0 (see the module doc)
        state_uuid = str(uuid.uuid4())
        members = [str(uuid.uuid1()) for _ in cluster.nodes]
        view = "#vwbeg\n" + f"view_id: 3 {members[0]} 1\nbootstrap: 0\n" + \
            "".join(f"member: {m} 0\n" for m in members) + "#vwend\n"
        for node, me in zip(cluster.nodes, members):
            node.write_file(self.grastate_path(node), "# GALERA saved state\nversion: 2.1\n"
                            f"uuid:    {state_uuid}\nseqno:   0\nsafe_to_bootstrap: 0\n",
                            user=MYSQL_USER, mode=0o660)
            node.write_file(os.path.join(node.datadir, "gvwstate.dat"), f"my_uuid: {me}\n" + view,
                            user=MYSQL_USER, mode=0o660)
        # a plain launch: the restart logic (recover, wait for eviction) is for rejoining nodes
        in_parallel([lambda n=n: MariaDB.start(self, cluster, n, wait=False) for n in cluster.nodes])
        for node in cluster.nodes:
            node.spec["bootstrapped"] = True
        cluster.save()
        self.wait_healthy(cluster, 120)
        self.create_users(cluster, first)
        self.wait_user_everywhere(cluster)

    def start(self, cluster, node, wait=True, timeout=60.0, extra=()):
        extra = list(extra)
        if node.spec.get("bootstrapped") and "--wsrep-new-cluster" not in extra:
            pos = self.recover_position(node)
            if pos:
                extra.append(f"--wsrep-start-position={pos}")
            elif self.must_bootstrap(cluster, node):
                extra.append("--wsrep-new-cluster")
            self.wait_evicted(cluster, node)
        super().start(cluster, node, wait=wait, timeout=timeout, extra=extra)

    def position(self, node) -> str | None:
        """The node's last committed position "uuid:seqno": grastate.dat after a clean stop, else
        what InnoDB recovers (--wsrep-recover); None when neither knows."""
        text = node.read_file(self.grastate_path(node)) or ""
        u, m = re.search(r"uuid:\s*([0-9a-f-]{36})", text), re.search(r"seqno:\s*(-?\d+)", text)
        if u and m and m.group(1) != "-1":
            return f"{u.group(1)}:{m.group(1)}"
        return self.recover_position(node)

    def restart_all(self, cluster, timeout=120.0) -> dict:
        """The whole-cluster restart after every node stopped or crashed, done the documented way and
        deterministically: recover every node's position, bootstrap the most advanced one (highest
        seqno; the lowest node index among equals) with safe_to_bootstrap: 1 and --wsrep-new-cluster,
        then join the others to it (IST from its gcache). Each node's saved view (gvwstate.dat) is
        removed first: with pc.recovery the nodes would otherwise restore the old primary component
        among themselves, whichever met first, and the founder would be an accident of timing."""
        t0 = time.monotonic()
        positions = {}

        def recover(node):
            positions[node.name] = self.position(node)
        in_parallel([lambda n=n: recover(n) for n in cluster.nodes])
        founder = cluster.node(most_advanced(positions, [n.name for n in cluster.nodes]))
        for node in cluster.nodes:
            node.run(["rm", "-f", os.path.join(node.datadir, "gvwstate.dat")])
        gs = founder.read_file(self.grastate_path(founder)) or ""
        gs = re.sub(r"safe_to_bootstrap:\s*\d", "safe_to_bootstrap: 1", gs) if "safe_to_bootstrap" in gs \
            else gs + "safe_to_bootstrap: 1\n"
        founder.write_file(self.grastate_path(founder), gs, user=MYSQL_USER, mode=0o660)
        start = [f"--wsrep-start-position={positions[founder.name]}"] if positions[founder.name] else []
        MariaDB.start(self, cluster, founder, wait=False, extra=["--wsrep-new-cluster", *start])
        self.wait_synced(cluster, founder, 1, timeout)
        founded = time.monotonic()
        joiners = [n for n in cluster.nodes if n is not founder]
        # one at a time: the same total time as all at once here (~4 s each, EVS reconnect rounds),
        # and each joiner's IST then comes from a cluster of known size
        for size, n in enumerate(joiners, 2):
            MariaDB.start(self, cluster, n, wait=False,
                          extra=[f"--wsrep-start-position={positions[n.name]}"] if positions[n.name] else [])
            self.wait_synced(cluster, n, size, timeout)
        self.wait_healthy(cluster, timeout)
        return {"founder": founder.name, "positions": positions,
                "founded_s": round(founded - t0, 3), "restart_s": round(time.monotonic() - t0, 3)}

    def wait_evicted(self, cluster, node, timeout=6.0):
        """Rejoining while the others still count the killed incarnation stalls the join in EVS
        install timeouts (kill -> healthy 11 s); waiting until they evicted it first: 7 s."""
        others = [n for n in cluster.nodes if n is not node and n.alive()]
        if not others:
            return

        def evicted():
            try:
                size = int(self.status_vars(others[0], "wsrep_cluster_size").get("wsrep_cluster_size", 0))
            except (ClusterError, ValueError) as e:
                raise NotYet(str(e)) from None
            if size > len(others):
                raise NotYet(f"{others[0]} still counts {size} members")
        try:
            wait_until(evicted, timeout, f"the others to evict {node}'s old incarnation")
        except ClusterError:
            pass  # a paused or partitioned peer cannot answer: start anyway, Galera sorts it out

    def must_bootstrap(self, cluster, node) -> bool:
        """After every node was stopped cleanly there is no saved view (gvwstate.dat) to recover the
        primary component from: the node Galera marked safe_to_bootstrap (the last to leave) must
        found the cluster again. After kills the saved view restores it (pc.recovery) instead."""
        if any(n.alive() for n in cluster.nodes if n is not node):
            return False
        if node.read_file(os.path.join(node.datadir, "gvwstate.dat")) is not None:
            return False
        return bool(re.search(r"safe_to_bootstrap:\s*1", node.read_file(self.grastate_path(node)) or ""))

    def recover_position(self, node) -> str | None:
        """After an unclean stop grastate.dat says seqno -1: ask InnoDB for the last committed position."""
        text = node.read_file(self.grastate_path(node)) or ""
        m = re.search(r"seqno:\s*(-?\d+)", text)
        if m and m.group(1) != "-1":
            return None  # clean shutdown: grastate.dat has the position already
        log = os.path.join(node.home, "recover.log")
        node.run(["rm", "-f", log])
        cp = node.run(self.server_command(None, node, ["--wsrep-recover", f"--log-error={log}"]), timeout=120,
                      check=False)
        text = cp.stdout + cp.stderr + (node.read_file(log) or "")
        found = re.findall(r"Recovered position:\s*([0-9a-f-]{36}:-?\d+)", text)
        if not found:
            node.write_file(log, text)
            return None
        pos = found[-1]
        return None if pos.endswith(":-1") or pos.startswith("00000000-") else pos

    # -- health -----------------------------------------------------------------------------
    def wsrep(self, node) -> dict:
        return self.status_vars(node, "wsrep_%")

    def wait_synced(self, cluster, node, size, timeout):
        def check():
            try:
                w = self.wsrep(node)
            except ClusterError as e:
                raise NotYet(str(e)) from None
            got = (w.get("wsrep_cluster_size"), w.get("wsrep_local_state_comment"),
                   w.get("wsrep_cluster_status"), w.get("wsrep_ready"))
            if got != (str(size), "Synced", "Primary", "ON"):
                raise NotYet(f"{node}: size={got[0]} state={got[1]} status={got[2]} ready={got[3]}")
        wait_until(check, timeout, f"{node} to be Synced in a Primary cluster of {size}", [node])

    def wait_healthy(self, cluster, timeout=60.0):
        for node in cluster.nodes:
            if not node.alive():
                raise ClusterError(f"{node} is not running; last log line: {last_log_line(node)}")
        for node in cluster.nodes:
            self.wait_synced(cluster, node, len(cluster.nodes), timeout)

    def wait_user_everywhere(self, cluster, timeout=30.0):
        """TOI DDL returns on the originator first: wait until every node knows the harness user."""
        q = f"SELECT COUNT(*) FROM mysql.user WHERE user = {sql_quote(cluster.user)}"
        for node in cluster.nodes:
            def check(node=node):
                if self.try_sql(node, q).strip() != "1":
                    raise NotYet()
            wait_until(check, timeout, f"{node} to know the harness user", [node])

    def node_status(self, cluster, node):
        w = self.wsrep(node)
        return {"cluster_size": int(w.get("wsrep_cluster_size", 0) or 0),
                "state": w.get("wsrep_local_state_comment"), "cluster_status": w.get("wsrep_cluster_status"),
                "ready": w.get("wsrep_ready") == "ON"}

    def causal_reads(self):
        return ["SET SESSION wsrep_sync_wait = 1"]

    def reads_may_lag(self, cluster):
        """Certification is synchronous, applying is not: only causal reads (wsrep_sync_wait & 1)
        wait for what the cluster committed."""
        return not int(cluster.knobs.get("wsrep_sync_wait") or 0) & 1

    def versions(self, cluster):
        v = super().versions(cluster)
        v["galera"] = self.status_vars(cluster.nodes[0], "wsrep_provider_version").get("wsrep_provider_version")
        return v
