"""MariaDB, single node: the documented baseline, and the base of galera and mariadb-mm."""
import os
import subprocess

from harness.cluster import state
from harness.cluster.dbs import template
from harness.cluster.dbs.base import DbDef, Knob, NotYet, isolation, wait_until
from harness.cluster.server_options import Entry
from harness.cluster.util import chown

MYSQL_USER = "mysql"  # rsync SST fails when mariadbd runs as root


def sql_quote(s: str) -> str:
    return "'" + str(s).replace("\\", "\\\\").replace("'", "\\'") + "'"


class MariaDB(DbDef):
    name = "mariadb"
    dialect = "mysql"
    port = 3306
    server_user = MYSQL_USER
    binaries = ("mariadbd", "mariadb-install-db", "mariadb")
    knobs = {"isolation": Knob(None, isolation, "server default transaction isolation")}
    # what the harness wires itself (and options that would leave files outside the node's dir)
    owned_options = frozenset({
        "datadir", "port", "bind_address", "socket", "pid_file", "user", "log_error", "skip_networking",
        "tmpdir", "innodb_data_home_dir", "innodb_log_group_home_dir", "innodb_undo_directory",
        "defaults_file", "defaults_extra_file", "defaults_group_suffix", "basedir"})
    merged_options: tuple = ()  # options a subclass folds into its own line instead (galera)

    # -- files and commands ------------------------------------------------------------
    def conf_path(self, node):
        return os.path.join(node.home, "my.cnf")

    def socket(self, node):
        return os.path.join(node.rundir, "mysqld.sock")

    def config(self, cluster, node) -> str:
        lines = [
            "[mariadbd]",
            f"user={MYSQL_USER}",
            f"datadir={node.datadir}",
            f"socket={self.socket(node)}",
            f"pid-file={os.path.join(node.rundir, 'mysqld.pid')}",
            f"port={self.port}",
            f"bind-address={node.ip}",
            "skip-name-resolve",
            "skip-host-cache",
            "default-storage-engine=InnoDB",
            "binlog_format=ROW",
            "innodb_autoinc_lock_mode=2",
            "innodb_buffer_pool_size=64M",
            "innodb_log_file_size=16M",
            "performance_schema=OFF",
            "max_connections=300",
            "character-set-server=utf8mb4",
            "collation-server=utf8mb4_general_ci",
        ]
        iso = cluster.knobs.get("isolation")
        if iso:
            lines.append(f"transaction-isolation={iso.upper()}")
        # the user's options last: in my.cnf the last setting wins
        user = ["# --server-opt / --server-config"] + [
            str(Entry(None, e.key, e.value)) for e in self.server_entries(cluster.knobs, node)
            if e.key not in self.merged_options]
        return "\n".join(lines + self.extra_config(cluster, node) + (user if len(user) > 1 else [])) + "\n"

    def extra_config(self, cluster, node) -> list[str]:
        return []

    def server_command(self, cluster, node, extra=()) -> list[str]:
        return ["mariadbd", f"--defaults-file={self.conf_path(node)}", *extra]

    def sql(self, node, statement, timeout=10, header=False) -> str:
        """Run SQL as root over the node's unix socket; tab-separated output (with header=True, the
        column names first)."""
        argv = ["mariadb", "--no-defaults", f"--socket={self.socket(node)}", "-uroot", "--connect-timeout=3",
                *([] if header else ["-N"]), "-B", "-e", statement]
        return node.run(argv, timeout=timeout).stdout

    # -- init / start --------------------------------------------------------------------
    def prepare_dirs(self, cluster, node):
        for d in (node.home, node.rundir):
            os.makedirs(d, exist_ok=True)
        chown(node.rundir, MYSQL_USER)
        # root's socket (root has no password there): only the server's user and root may reach it
        os.chmod(node.rundir, 0o700)
        node.write_file(self.conf_path(node), self.config(cluster, node))

    def install(self, cluster, node):
        key = "mariadb-" + template.version_tag(("mariadbd", "--version"))
        if template.seed(node, key, self.build_template):
            return
        os.makedirs(node.datadir, exist_ok=True)
        chown(node.datadir, MYSQL_USER)
        node.run(["mariadb-install-db", f"--defaults-file={self.conf_path(node)}", f"--user={MYSQL_USER}",
                  "--auth-root-authentication-method=normal", "--skip-test-db"], timeout=120)

    @staticmethod
    def build_template(path):
        os.makedirs(path)
        chown(path, MYSQL_USER)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={path}", f"--user={MYSQL_USER}",
                        "--auth-root-authentication-method=normal", "--skip-test-db",
                        "--innodb-log-file-size=16M"], check=True, capture_output=True, timeout=180)

    def start(self, cluster, node, wait=True, timeout=60.0, extra=()):
        node.launch(self.server_command(cluster, node, extra), env=node.env or None)
        if wait:
            self.wait_ready(cluster, node, timeout)

    def create_users(self, cluster, node, replicate=True):
        u, p, db = sql_quote(cluster.user), sql_quote(cluster.password), cluster.database
        pre = "" if replicate else "SET sql_log_bin=0; "
        self.sql(node, f"{pre}CREATE USER {u}@'%' IDENTIFIED BY {p}; "
                       f"GRANT ALL PRIVILEGES ON *.* TO {u}@'%' WITH GRANT OPTION; "
                       f"CREATE DATABASE `{db}`;")

    def create(self, cluster):
        node = cluster.nodes[0]
        self.prepare_dirs(cluster, node)
        self.install(cluster, node)
        self.start(cluster, node)
        self.create_users(cluster, node)

    # -- health, status ------------------------------------------------------------------
    def status_vars(self, node, like) -> dict:
        out = self.sql(node, f"SHOW GLOBAL STATUS LIKE '{like}'", timeout=5)
        return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)

    def node_status(self, cluster, node) -> dict:
        self.sql(node, "SELECT 1", timeout=5)
        return {"ready": True}

    def versions(self, cluster) -> dict:
        return {"server": self.sql(cluster.nodes[0], "SELECT VERSION()").strip()}

    def crash_note(self, cluster) -> str | None:
        """Why a crash cannot lose an InnoDB commit here, whatever the durability settings say."""
        if state.fs_type(cluster.nodes[0].datadir) == "tmpfs" and getattr(cluster.nodes[0], "shares_host_fs", False):
            return ("data dirs on tmpfs: InnoDB memory-maps its redo log there, so a SIGKILL loses no commit "
                    "whatever innodb_flush_log_at_trx_commit says (set HARNESS_DATA_DIR to a disk directory "
                    "to test durability settings)")
        return None

    def read_settings(self, cluster, node, keys):
        names = ", ".join(sql_quote(k) for k in keys)
        out = self.sql(node, f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({names})", timeout=10)
        got = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        got = {k.lower(): v for k, v in got.items()}
        return {k: got.get(k) for k in keys}

    def reset_data(self, cluster):
        self.wait_healthy(cluster, 60)  # e.g. right after a nemesis healed: let it become whole first
        db = cluster.database
        self.sql(cluster.nodes[0], f"DROP DATABASE IF EXISTS `{db}`; CREATE DATABASE `{db}`;", timeout=60)
        self.wait_database_everywhere(cluster)

    def wait_database_everywhere(self, cluster, timeout=30.0):
        """Replicated DDL may land a moment later on the other nodes: wait for an empty database."""
        def check(node):
            out = self.try_sql(node, "SELECT COUNT(*) FROM information_schema.tables "
                                     f"WHERE table_schema = {sql_quote(cluster.database)}; "
                                     f"SELECT COUNT(*) FROM information_schema.schemata "
                                     f"WHERE schema_name = {sql_quote(cluster.database)};")
            tables, exists = out.split()
            if tables != "0" or exists != "1":
                raise NotYet(f"{node}: database not fresh yet")
        for node in cluster.nodes:
            wait_until(lambda: check(node), timeout, f"{node} to show a fresh database", [node])
