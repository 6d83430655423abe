"""Local security against real servers (issue 19, "Local security"): another local user gets no
way into a server through its unix socket, while the harness's own local admin access keeps
working."""
import os
import pwd
import stat
import subprocess

import pytest

import harness.cluster as hc
from harness.cluster.dbs.postgres import pg_bindir

pytestmark = pytest.mark.integration


def uname(tag):
    return f"t{os.getpid() % 10000}-{tag}"


def as_nobody(argv, timeout=20):
    """argv run as the unprivileged user `nobody` (Debian's own python3 for scripts: /root is 0700)."""
    return subprocess.run(["runuser", "-u", "nobody", "--", *argv], capture_output=True, text=True,
                          timeout=timeout)


PROBE = """
import os, socket, sys
rundir, sock = sys.argv[1], sys.argv[2]
try:
    os.listdir(rundir)
    print("listed")
except PermissionError:
    print("no-list")
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sock)
    print("connected")
except PermissionError:
    print("no-connect")
"""


@pytest.fixture(scope="module")
def mariadb():
    c = hc.up("mariadb", name=uname("sec-my"))
    yield c
    c.teardown()


@pytest.fixture(scope="module")
def postgres():
    c = hc.up("postgres", name=uname("sec-pg"))
    yield c
    c.teardown()


def socket_dir_is_private(cluster, sock):
    node = cluster.primary
    assert os.path.exists(sock)
    cp = as_nobody(["/usr/bin/python3", "-c", PROBE, node.rundir, sock])
    assert cp.stdout.split() == ["no-list", "no-connect"], cp.stdout + cp.stderr
    st = os.stat(node.rundir)
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == pwd.getpwnam(cluster.dbdef.server_user).pw_uid  # the server's user owns it


def test_mariadb_root_socket_is_out_of_other_users_reach(mariadb):
    node = mariadb.primary
    sock = mariadb.dbdef.socket(node)
    socket_dir_is_private(mariadb, sock)
    cp = as_nobody(["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "--connect-timeout=3",
                    "-N", "-e", "SELECT CURRENT_USER()"])
    assert cp.returncode != 0 and "root@localhost" not in cp.stdout, cp.stdout
    # the harness's own admin access over that socket still works
    assert mariadb.dbdef.sql(node, "SELECT CURRENT_USER()").strip() == "root@localhost"


def test_postgres_superuser_socket_is_out_of_other_users_reach(postgres):
    node = postgres.primary
    sock = os.path.join(node.rundir, f".s.PGSQL.{postgres.dbdef.port}")
    socket_dir_is_private(postgres, sock)
    cp = as_nobody([os.path.join(pg_bindir(), "psql"), "-h", node.rundir, "-U", "postgres", "-d", "postgres",
                    "-X", "-A", "-t", "-c", "SELECT current_user"])
    assert cp.returncode != 0 and "postgres" not in cp.stdout, cp.stdout
    assert postgres.dbdef.sql(node, "SELECT current_user").strip() == "postgres"
    # no `trust` left anywhere: even with the socket reachable, only the OS user postgres is let in
    hba = node.read_file(os.path.join(node.datadir, "pg_hba.conf"))
    assert "trust" not in hba and "local all postgres peer" in hba, hba


def test_cleanup_spares_the_cluster_of_a_live_run_until_forced(tmp_path):
    import json
    import sys
    import time
    from pathlib import Path

    from harness.cluster import netns
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": repo}
    name = uname("sec-live")
    run = subprocess.Popen([sys.executable, "-c", "import sys, harness.cluster as hc\n"
                            f"c = hc.up('mariadb', name={name!r})\nprint('up', flush=True)\nsys.stdin.read()"],
                           env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=repo)
    try:
        assert run.stdout.readline().strip() == "up"
        record = json.loads((tmp_path / "state" / "clusters" / f"{name}.json").read_text())
        assert record["owner_pid"] == run.pid
        cp = subprocess.run([sys.executable, "-m", "harness", "cleanup", "--no-docker"], env=env, cwd=repo,
                            capture_output=True, text=True, timeout=120)
        assert cp.returncode == 0, cp.stderr
        assert f"skipped cluster {name}: its run (pid {run.pid}) is still alive" in cp.stdout
        assert "removed 0 cluster(s)" in cp.stdout
        assert netns.pid_alive(record["nodes"][0]["pid"] or 0) and os.path.isdir(record["data_dir"])
        cp = subprocess.run([sys.executable, "-m", "harness", "cleanup", "--no-docker", "--force"], env=env,
                            cwd=repo, capture_output=True, text=True, timeout=120)
        assert cp.returncode == 0, cp.stderr
        assert f"removed 1 cluster(s): {name}" in cp.stdout
        deadline = time.monotonic() + 5  # namespace deletion is asynchronous
        while netns.leftovers(record) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert netns.leftovers(record) == []
    finally:
        run.stdin.close()
        run.wait(30)
        subprocess.run([sys.executable, "-m", "harness", "cleanup", "--no-docker", "--force"], env=env, cwd=repo,
                       capture_output=True, timeout=120)
