"""PostgreSQL primary + 1..N hot standbys, cloned with pg_basebackup, streaming replication.

Asynchronous by default: a read on a standby right after a commit on the primary usually sees the
old value. `synchronous_commit=on|remote_write|remote_apply` makes the primary wait for a standby
(synchronous_standby_names='*'); `recovery_min_apply_delay` makes standbys lag on purpose.
The replication-lag faults slow a standby's replay (recovery_min_apply_delay, pg_wal_replay_pause)
through the capabilities below.
"""
import os
import re
import time

from harness.cluster.dialects import postgres
from harness.cluster.dbs.base import Knob, NotYet, choice, isolation, nonneg_int, wait_until
from harness.cluster.dbs.postgres import PG_USER, Postgres, sql_literal
from harness.cluster.util import in_parallel, scalar
from harness.errors import UsageError

REPL_USER = "repl"


def delay_ms(v):
    """recovery_min_apply_delay: milliseconds, or a PostgreSQL duration like 500ms / 2s / 1min."""
    m = re.fullmatch(r"\s*(\d+)\s*(ms|s|min)?\s*", str(v))
    if not m:
        raise ValueError("milliseconds, or a duration like 500ms, 2s, 1min")
    return int(m.group(1)) * {"ms": 1, None: 1, "s": 1000, "min": 60000}[m.group(2)]


class PostgresStandby(Postgres):
    name = "postgres-standby"
    min_nodes, max_nodes, default_nodes = 2, 9, 2
    knobs = {
        "isolation": Knob(None, isolation, "default_transaction_isolation"),
        "standbys": Knob(None, nonneg_int, "number of hot standbys (nodes - 1)"),
        "synchronous_commit": Knob(None, choice("off", "local", "on", "remote_write", "remote_apply"),
                                   "unset = asynchronous replication"),
        "recovery_min_apply_delay": Knob(0, delay_ms, "standby apply delay in ms"),
        "synchronous_standbys": Knob(None, nonneg_int, "how many standbys a synchronous commit waits "
                                                       "for (default: all)"),
    }
    owned_options = Postgres.owned_options | {  # the replication wiring
        "primary_conninfo", "primary_slot_name", "synchronous_standby_names", "hot_standby", "wal_level"}

    def node_count(self, nodes, knobs):
        standbys = knobs.get("standbys")
        if standbys is not None:
            if standbys < 1:
                raise UsageError("--db postgres-standby needs at least 1 standby")
            if nodes is not None and int(nodes) != standbys + 1:
                raise UsageError(f"--nodes {nodes} contradicts knob standbys={standbys} (nodes = standbys + 1)")
            nodes = standbys + 1
        return super().node_count(nodes, knobs)

    def roles(self, n):
        return ["primary"] + ["standby"] * (n - 1)

    def settings(self, cluster):
        lines = super().settings(cluster)
        sc = cluster.knobs.get("synchronous_commit")
        if sc:  # synchronous_standby_names is set only once the standbys stream (see create)
            lines.append(f"synchronous_commit = {sc}")
        lines += [f"recovery_min_apply_delay = {int(cluster.knobs.get('recovery_min_apply_delay') or 0)}",
                  "wal_receiver_status_interval = 1s",
                  "wal_retrieve_retry_interval = 500ms",  # a standby reconnects fast after a primary restart
                  "hot_standby_feedback = on"]
        return lines

    def create(self, cluster):
        primary, standbys = cluster.nodes[0], cluster.nodes[1:]
        self.initdb(cluster, primary)
        if getattr(primary, "shares_host_fs", False):
            # a cleanly shut-down data dir is a valid base backup: every node starts at once from a
            # copy and the standbys stream from the primary as soon as the repl role exists
            for node in standbys:
                self.prepare_dirs(node)
                node.copy_tree(primary, primary.datadir, node.datadir, user=PG_USER)
                self.make_standby(cluster, primary, node)
            in_parallel([lambda n=n: self.start(cluster, n) for n in cluster.nodes])
            self.create_users(cluster, primary)
        else:  # the backend cannot copy host-side: clone each standby with pg_basebackup
            self.start(cluster, primary)
            self.create_users(cluster, primary)
            in_parallel([lambda n=n: self.clone(cluster, primary, n) for n in standbys])
        cluster.save()
        if cluster.knobs.get("synchronous_commit") in ("on", "remote_write", "remote_apply"):
            # only now: with it set, every commit (even CREATE ROLE) waits for a standby
            self.wait_healthy(cluster, 60)
            want = cluster.knobs.get("synchronous_standbys") or len(standbys)
            self.sql(primary, f"ALTER SYSTEM SET synchronous_standby_names = 'ANY {min(want, len(standbys))} (*)'")
            self.sql(primary, "SELECT pg_reload_conf()")
        # with recovery_min_apply_delay a standby runs CREATE DATABASE only that much later
        self.wait_replayed(cluster, "the new roles and database")

    def create_users(self, cluster, node):
        self.sql(node, f"CREATE ROLE {REPL_USER} LOGIN REPLICATION PASSWORD "
                       f"{sql_literal(self.repl_password(cluster))}; "
                       f"CREATE ROLE {cluster.user} LOGIN SUPERUSER PASSWORD {sql_literal(cluster.password)}")
        self.sql(node, f"CREATE DATABASE {cluster.database} OWNER {cluster.user}")

    def make_standby(self, cluster, primary, node):
        """What `pg_basebackup -R` writes: standby.signal and primary_conninfo."""
        conninfo = (f"host={primary.ip} port={self.port} user={REPL_USER} "
                    f"password={self.repl_password(cluster)} application_name={node.name} connect_timeout=5")
        node.write_file(os.path.join(node.datadir, "standby.signal"), "", user=PG_USER, mode=0o600)
        auto = os.path.join(node.datadir, "postgresql.auto.conf")
        node.write_file(auto, (node.read_file(auto) or "") + f"primary_conninfo = '{conninfo}'\n",
                        user=PG_USER, mode=0o600)

    def clone(self, cluster, primary, node):
        self.prepare_dirs(node)
        node.run([self.bin("pg_basebackup"), "-h", primary.ip, "-p", str(self.port), "-U", REPL_USER,
                  "-D", node.datadir, "-R", "-X", "stream", "-c", "fast", "--no-sync"],
                 timeout=120, user=PG_USER, env={"PGPASSWORD": self.repl_password(cluster), "PGCONNECT_TIMEOUT": "5"})
        self.start(cluster, node)

    def wait_healthy(self, cluster, timeout=60.0):
        super().wait_healthy(cluster, timeout)
        primary, want = cluster.nodes[0], len(cluster.nodes) - 1

        def streaming():
            n = self.try_sql(primary, postgres.STREAMING_STANDBYS).strip()
            if n != str(want):
                raise NotYet(f"{n} of {want} standbys streaming")
        wait_until(streaming, timeout, "every standby to stream from the primary", cluster.nodes)

    def node_status(self, cluster, node):
        st = super().node_status(cluster, node)
        if st["in_recovery"]:
            out = self.sql(node, "SELECT coalesce(status, 'none') FROM pg_stat_wal_receiver "
                                 "UNION ALL SELECT 'none' LIMIT 1", timeout=5).strip()
            lag = self.sql(node, "SELECT coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)",
                           timeout=5).strip()
            st.update(receiver=out, replay_lag_s=round(float(lag or 0), 3))
        else:
            st["streaming_standbys"] = int(self.sql(node, postgres.STREAMING_STANDBYS, timeout=5).strip())
        return st

    def reset_data(self, cluster):
        super().reset_data(cluster)
        self.wait_replayed(cluster, "the fresh database")

    def wait_replayed(self, cluster, what):
        """Until every standby has applied all the primary wrote so far: a client connecting to a
        standby right after (the runner's reachability check) finds the database there."""
        primary = cluster.nodes[0]
        lsn = self.sql(primary, "SELECT pg_current_wal_lsn()").strip()
        delay = (cluster.knobs.get("recovery_min_apply_delay") or 0) / 1000.0

        def replayed(node):
            ok = self.try_sql(node, f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn").strip()
            if ok != "t":
                raise NotYet(f"{node} has not replayed {lsn}")
        for node in cluster.nodes[1:]:
            wait_until(lambda n=node: replayed(n), 30 + delay, f"{node} to replay {what}", [node])

    # -- capabilities (harness/cluster/dbs/base.py): the standbys are async replicas ----------------
    def replicas(self, cluster):
        return [n for n in cluster.nodes if n.role == "standby"]

    def reads_may_lag(self, cluster):
        """Unless a commit waits until the standbys applied it."""
        return cluster.knobs.get("synchronous_commit") != "remote_apply"

    def in_recovery(self, cluster, node) -> bool:
        """Still a standby (not promoted meanwhile)."""
        return bool(self.execute(cluster, node, [postgres.IN_RECOVERY])[0][0][0])

    def delay_apply(self, cluster, node, seconds):
        self.execute(cluster, node, [f"ALTER SYSTEM SET recovery_min_apply_delay = '{int(seconds)}s'",
                                     "SELECT pg_reload_conf()"])

    def pause_apply(self, cluster, node):
        self.execute(cluster, node, ["SELECT pg_wal_replay_pause()"])

    def resume_apply(self, cluster, node):
        if not self.in_recovery(cluster, node):
            return  # promoted meanwhile: nothing replays any more
        # RESET: back to the knob's value in harness.conf
        self.execute(cluster, node, ["ALTER SYSTEM RESET recovery_min_apply_delay", "SELECT pg_reload_conf()",
                                     "SELECT pg_wal_replay_resume()"])

    def apply_leftovers(self, cluster, node):
        if not self.in_recovery(cluster, node):
            return []
        (delay,), (paused,) = [r[0] for r in self.execute(cluster, node, [
            "SELECT setting FROM pg_settings WHERE name = 'recovery_min_apply_delay'",  # ms
            "SELECT pg_is_wal_replay_paused()"])]
        found = []
        if int(delay) != int((cluster.knobs or {}).get("recovery_min_apply_delay") or 0):
            found.append(f"{node.name}: recovery_min_apply_delay = {delay} ms")
        if paused:
            found.append(f"{node.name}: WAL replay paused")
        return found

    def commit_position(self, conn):
        """The primary's current WAL LSN."""
        return scalar(conn, postgres.CURRENT_LSN)

    def wait_applied(self, conn, position, timeout):
        """Poll until the standby's replay LSN reaches `position`."""
        deadline = time.monotonic() + timeout
        while True:
            if scalar(conn, postgres.REPLAYED, (position,)):
                return None
            if time.monotonic() > deadline:
                return f"did not replay {position} within {timeout:g} s"
            time.sleep(0.005)
