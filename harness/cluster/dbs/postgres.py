"""PostgreSQL, single node; the base of postgres-standby.

postgres refuses to run as root, so every server and tool runs as the postgres user through
`Node.run(..., user="postgres")` / `Node.launch(..., user="postgres")` (netns: setpriv, which execs,
so the PID we keep is the postmaster's).
"""
import glob
import os
import signal
import subprocess

from harness.cluster.dbs import template
from harness.cluster.dbs.base import DbDef, Knob, isolation
from harness.cluster.server_options import quoted_pg
from harness.cluster.util import chown

PG_USER = "postgres"


def pg_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def sql_literal(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


class Postgres(DbDef):
    name = "postgres"
    dialect = "postgres"
    port = 5432
    server_user = PG_USER
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM ("smart") would wait for every client to leave
    knobs = {"isolation": Knob(None, isolation, "default_transaction_isolation")}
    owned_options = frozenset({  # what the harness wires itself (server_command, initdb, hba)
        "data_directory", "config_file", "hba_file", "ident_file", "external_pid_file", "port",
        "listen_addresses", "unix_socket_directories", "unix_socket_group", "unix_socket_permissions",
        "dynamic_shared_memory_type"})

    def check_installed(self):
        from harness.errors import UsageError
        if not pg_bindir():
            raise UsageError("PostgreSQL server binaries are missing: run ./setup.sh")

    def bin(self, tool):
        return os.path.join(pg_bindir(), tool)

    # -- config ---------------------------------------------------------------------------
    def settings(self, cluster) -> list[str]:
        """postgresql.conf lines shared by every node (a standby copies them with the base backup)."""
        lines = [
            "shared_buffers = 32MB",
            "max_connections = 300",
            "fsync = on",
            "wal_level = replica",
            "max_wal_senders = 10",
            "max_replication_slots = 10",
            "hot_standby = on",
            "wal_keep_size = 128MB",
            "log_line_prefix = '%m [%p] '",
            # segments in the data dir, not /dev/shm: a SIGKILLed postmaster (nemesis, teardown)
            # would otherwise leave its POSIX segments behind in /dev/shm for good
            "dynamic_shared_memory_type = mmap",
        ]
        iso = cluster.knobs.get("isolation")
        if iso:
            lines.append(f"default_transaction_isolation = '{iso.replace('-', ' ')}'")
        return lines

    def user_settings(self, cluster) -> list[str]:
        """The user's options for every node, written after settings(): a later setting wins."""
        user = [e for e in self.server_entries(cluster.knobs) if e.node is None]
        return ["# --server-opt / --server-config"] + [f"{e.key} = {quoted_pg(e.value)}" for e in user] \
            if user else []

    def node_conf(self, cluster, node) -> str:
        """node.conf: the user's options for this node alone (included after harness.conf)."""
        own = [e for e in self.server_entries(cluster.knobs) if e.node == node.name]
        return "".join(f"{e.key} = {quoted_pg(e.value)}\n" for e in own)

    def hba(self, cluster) -> str:
        """Over the socket only the OS user postgres, as the superuser postgres (how sql() connects);
        everyone else comes over TCP with a password."""
        cidr = cluster.cidr
        return (f"local all {PG_USER} peer\n"
                f"host all all {cidr} scram-sha-256\n"
                f"host replication all {cidr} scram-sha-256\n")

    def server_command(self, cluster, node) -> list[str]:
        # node-specific settings on the command line: config files travel with pg_basebackup
        return [self.bin("postgres"), "-D", node.datadir, "-c", f"listen_addresses={node.ip}",
                "-c", f"unix_socket_directories={node.rundir}", "-c", f"port={self.port}"]

    def sql(self, node, statement, database="postgres", timeout=10) -> str:
        return node.run([self.bin("psql"), "-h", node.rundir, "-p", str(self.port), "-U", PG_USER,
                         "-d", database, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", statement],
                        timeout=timeout, user=PG_USER, env={"PGCONNECT_TIMEOUT": "3"}).stdout

    # -- init / start ---------------------------------------------------------------------
    def prepare_dirs(self, node):
        os.makedirs(node.home, exist_ok=True)
        for d in (node.rundir, node.datadir):
            os.makedirs(d, exist_ok=True)
            chown(d, PG_USER)
            os.chmod(d, 0o700)  # rundir: the socket, out of other local users' reach

    def initdb_argv(self, datadir):
        return [self.bin("initdb"), "-D", datadir, "-U", PG_USER, "--auth-local=trust",
                "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]

    def build_template(self, path):
        os.makedirs(path)
        chown(path, PG_USER)
        os.chmod(path, 0o700)
        subprocess.run(["setpriv", f"--reuid={PG_USER}", f"--regid={PG_USER}", "--init-groups",
                        *self.initdb_argv(path)], check=True, capture_output=True, timeout=180)

    def initdb(self, cluster, node):
        """A fresh data dir with the harness's settings; every file step goes through the node (the
        ssh backend's nodes are other machines). Templates only where they can be copied from here."""
        self.prepare_dirs(node)
        here = getattr(node, "shares_host_fs", False)
        if not (here and template.seed(node, "postgres-" + template.version_tag((self.bin("postgres"), "--version")),
                                       self.build_template)):
            node.run(self.initdb_argv(node.datadir), timeout=120, user=PG_USER)
        settings = self.settings(cluster) + self.user_settings(cluster)
        node.write_file(os.path.join(node.datadir, "harness.conf"), "\n".join(settings) + "\n",
                        user=PG_USER, mode=0o600)
        conf = os.path.join(node.datadir, "postgresql.conf")
        include = "\ninclude 'harness.conf'\ninclude_if_exists 'node.conf'\n"
        node.write_file(conf, (node.read_file(conf) or "") + include, user=PG_USER, mode=0o600)
        node.write_file(os.path.join(node.datadir, "pg_hba.conf"), self.hba(cluster), user=PG_USER, mode=0o600)

    def start(self, cluster, node, wait=True, timeout=60.0):
        # written at every start: a standby's data dir arrives as a copy of the primary's
        node.write_file(os.path.join(node.datadir, "node.conf"), self.node_conf(cluster, node), user=PG_USER,
                        mode=0o600)
        node.launch(self.server_command(cluster, node), env=node.env or None, user=PG_USER)
        if wait:
            self.wait_ready(cluster, node, timeout)

    def create_users(self, cluster, node):
        self.sql(node, f"CREATE ROLE {cluster.user} LOGIN SUPERUSER PASSWORD {sql_literal(cluster.password)}")
        self.sql(node, f"CREATE DATABASE {cluster.database} OWNER {cluster.user}")

    def create(self, cluster):
        node = cluster.nodes[0]
        self.initdb(cluster, node)
        self.start(cluster, node)
        self.create_users(cluster, node)

    # -- health, status -------------------------------------------------------------------
    def node_status(self, cluster, node) -> dict:
        rec = self.sql(node, "SELECT pg_is_in_recovery()", timeout=5).strip()
        return {"ready": True, "in_recovery": rec == "t"}

    def versions(self, cluster) -> dict:
        return {"server": self.sql(cluster.nodes[0], "SHOW server_version").strip()}

    def read_settings(self, cluster, node, keys):
        """What SHOW would print for each key (current_setting), None for an unknown one."""
        arr = ", ".join(sql_literal(k) for k in keys)
        out = self.sql(node, f"SELECT k || E'\\t' || coalesce(current_setting(k, true), E'\\\\N') "
                             f"FROM unnest(ARRAY[{arr}]::text[]) k", timeout=10)
        got = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        return {k: (None if got.get(k) in (None, "\\N") else got[k]) for k in keys}

    def reset_data(self, cluster):
        self.wait_healthy(cluster, 60)
        db, node = cluster.database, cluster.nodes[0]
        self.sql(node, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", timeout=60)
        self.sql(node, f"CREATE DATABASE {db} OWNER {cluster.user}", timeout=60)
