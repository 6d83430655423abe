"""MariaDB asynchronous master-master: two nodes, GTID replication both ways.

Each node has its own server_id, gtid_domain_id and auto-increment offset; users are created with
sql_log_bin=0 so that neither binlog carries them. Replication is asynchronous: concurrent updates of
one row on both masters diverge silently, which is exactly what a test should be able to show.
Each master is also the other's replica: the replication-lag faults slow either one's applier
(MASTER_DELAY, STOP SLAVE SQL_THREAD) through the capabilities below.
"""
import time

from harness.cluster.dialects import mysql
from harness.cluster.dbs.base import Knob, NotYet, isolation, last_log_line, nonneg_int, wait_until
from harness.cluster.dbs.mariadb import MariaDB, sql_quote
from harness.cluster.util import in_parallel, scalar
from harness.errors import ClusterError

REPL_USER = "repl"


class MariaDBMM(MariaDB):
    name = "mariadb-mm"
    min_nodes = max_nodes = default_nodes = 2
    knobs = {
        "isolation": Knob(None, isolation, "server default transaction isolation"),
        "master_delay": Knob(0, nonneg_int, "seconds each replica lags behind its master (MASTER_DELAY)"),
    }
    owned_options = MariaDB.owned_options | {  # the replication wiring
        "server_id", "log_bin", "log_slave_updates", "gtid_domain_id", "auto_increment_increment",
        "auto_increment_offset", "relay_log", "skip_slave_start", "master_host", "master_port"}

    def roles(self, n):
        return ["master"] * n

    def extra_config(self, cluster, node):
        return [
            f"server_id={node.index}",
            "log_bin=mariadb-bin",
            "log_slave_updates=ON",
            f"gtid_domain_id={node.index}",
            "auto_increment_increment=2",
            f"auto_increment_offset={node.index}",
            "slave_net_timeout=4",   # with a 1 s heartbeat: a dead master is noticed within seconds
            "relay_log=relay-bin",
        ]

    def other(self, cluster, node):
        return cluster.nodes[1] if node is cluster.nodes[0] else cluster.nodes[0]

    def create(self, cluster):
        for node in cluster.nodes:
            self.prepare_dirs(cluster, node)
        in_parallel([lambda n=n: self.install(cluster, n) for n in cluster.nodes])
        in_parallel([lambda n=n: self.start(cluster, n) for n in cluster.nodes])
        rp = sql_quote(self.repl_password(cluster))
        for node in cluster.nodes:
            self.create_users(cluster, node, replicate=False)
            self.sql(node, f"SET sql_log_bin=0; CREATE USER '{REPL_USER}'@'%' IDENTIFIED BY {rp}; "
                           f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'%';")
        for node in cluster.nodes:
            self.change_master(cluster, node)
        cluster.save()

    def change_master(self, cluster, node, gtid_slave_pos=None):
        other = self.other(cluster, node)
        pos = f"SET GLOBAL gtid_slave_pos = {sql_quote(gtid_slave_pos)}; " if gtid_slave_pos is not None else ""
        self.sql(node, "STOP SLAVE; " + pos +
                 f"CHANGE MASTER TO MASTER_HOST={sql_quote(other.ip)}, MASTER_PORT={self.port}, "
                 f"MASTER_USER='{REPL_USER}', MASTER_PASSWORD={sql_quote(self.repl_password(cluster))}, "
                 f"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1, "
                 f"MASTER_DELAY={int(cluster.knobs.get('master_delay') or 0)}; START SLAVE;")

    def replica_status(self, node) -> mysql.ReplicaStatus:
        """SHOW SLAVE STATUS through the node's socket (answers while the node's network is cut)."""
        return mysql.parse_replica_status(self.sql(node, mysql.REPLICA_STATUS, header=True, timeout=5))

    def wait_healthy(self, cluster, timeout=60.0):
        for node in cluster.nodes:
            if not node.alive():
                raise ClusterError(f"{node} is not running; last log line: {last_log_line(node)}")
            self.wait_ready(cluster, node, timeout)

        def running(node):
            try:
                st = self.replica_status(node)
            except ClusterError as e:
                raise NotYet(str(e)) from None
            if not st.running:
                err = st.error or ""
                if st.broken:
                    raise ClusterError(f"{node}: replication stopped: {err}")  # will not heal by waiting
                raise NotYet(f"{node}: IO={st.io_running} SQL={st.sql_running} {err}")
        for node in cluster.nodes:
            wait_until(lambda n=node: running(n), timeout, f"{node} to replicate from its peer", [node])

    def node_status(self, cluster, node):
        st = self.replica_status(node)
        return {"io_running": st.io_running, "sql_running": st.sql_running,
                "seconds_behind": st.get("Seconds_Behind_Master"),
                "gtid_io_pos": st.get("Gtid_IO_Pos"),
                "last_error": st.error}

    def reset_data(self, cluster):
        """Fresh database on both masters, replication restarted (also repairs broken replication)."""
        db = cluster.database
        for node in cluster.nodes:
            self.wait_ready(cluster, node, 60)
        for node in cluster.nodes:
            self.sql(node, "STOP SLAVE;", timeout=30)
        for node in cluster.nodes:
            self.sql(node, f"SET sql_log_bin=0; DROP DATABASE IF EXISTS `{db}`; CREATE DATABASE `{db}`;",
                     timeout=60)
        # skip whatever the peer's binlog still holds: both sides start equal and empty
        positions = {n.name: self.sql(n, "SELECT @@gtid_binlog_pos").strip() for n in cluster.nodes}
        for node in cluster.nodes:
            self.change_master(cluster, node, gtid_slave_pos=positions[self.other(cluster, node).name])
        self.wait_healthy(cluster, 60)
        self.wait_database_everywhere(cluster)

    # -- capabilities (harness/cluster/dbs/base.py): each master is the other's async replica --------
    def replicas(self, cluster):
        return list(cluster.nodes)

    def reads_may_lag(self, cluster):
        return True

    def configured_delay(self, cluster) -> int:
        """The cluster's own MASTER_DELAY (seconds, a knob): resuming returns to it, not to 0."""
        return int((cluster.knobs or {}).get("master_delay") or 0)

    def delay_apply(self, cluster, node, seconds):
        # MariaDB changes MASTER_DELAY only with both replica threads stopped
        self.execute(cluster, node, ["STOP SLAVE", f"CHANGE MASTER TO MASTER_DELAY={int(seconds)}", "START SLAVE"])

    def pause_apply(self, cluster, node):
        self.execute(cluster, node, ["STOP SLAVE SQL_THREAD"])

    def resume_apply(self, cluster, node):
        self.delay_apply(cluster, node, self.configured_delay(cluster))

    def apply_leftovers(self, cluster, node):
        conn = cluster.connect(node, timeout=10.0, autocommit=True)
        try:
            st = mysql.replica_status(conn)
        finally:
            conn.close()
        found = []
        if not st.fields:
            return found
        if st.delay_s != self.configured_delay(cluster):
            found.append(f"{node.name}: MASTER_DELAY = {st.get('SQL_Delay')}")
        if st.apply_stopped:
            found.append(f"{node.name}: replica SQL thread stopped")
        return found

    def commit_position(self, conn):
        """The newest GTID this master wrote in its own domain."""
        with conn.cursor() as cur:
            cur.execute("SELECT @@gtid_domain_id, @@gtid_binlog_pos")
            domain, pos = cur.fetchone()
        for gtid in (pos or "").split(","):
            if gtid.strip().startswith(f"{domain}-"):
                return gtid.strip()
        return None

    def wait_applied(self, conn, position, timeout):
        """MASTER_GTID_WAIT in short slices, so that a replica that stopped on an error is reported
        at once (and given up when its applier waits for a row lock an open session holds)."""
        if position is None:
            return None
        deadline = time.monotonic() + timeout
        while True:
            if scalar(conn, "SELECT MASTER_GTID_WAIT(%s, 0.05)", (position,)) == 0:
                return None
            st = mysql.replica_status(conn)
            if st.sql_errno:
                return f"replication stopped: {st.get('Last_SQL_Error')}"
            if self.applier_waits_for_lock(conn):  # for a session that is still open: no use waiting
                return f"did not apply {position}: its replication applier waits for a row lock an open transaction holds"
            if time.monotonic() > deadline:
                return f"did not apply {position} within {timeout:g} s"

    @staticmethod
    def applier_waits_for_lock(conn) -> bool:
        return bool(scalar(conn, "SELECT COUNT(*) FROM information_schema.innodb_trx t JOIN "
                                 "information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
                                 "WHERE t.trx_state = 'LOCK WAIT' AND p.command LIKE 'Slave%%'"))

    def one_applier(self) -> bool:
        return True   # one replication SQL thread per node applies every database's changes

    def skip_failed_apply(self, conn):
        done = []
        for _ in range(10):
            st = mysql.replica_status(conn)
            if not st.sql_errno:
                break
            with conn.cursor() as cur:
                for statement in ("STOP SLAVE", "SET GLOBAL sql_slave_skip_counter = 1", "START SLAVE"):
                    cur.execute(statement, ())
            done.append(f"skipped the event replication stopped on ({st.get('Last_SQL_Error')})")
        return done
