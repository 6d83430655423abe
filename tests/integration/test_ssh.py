"""The ssh backend against real sshds (tests/ssh_hosts.py: one network namespace per host, each with
its own sshd, host key and private base dir): Galera and postgres-standby up and down, a list-append
run with a partition and a kill, cleanup after a SIGKILLed run, a changed host key, an unreachable
host. What a host holds is looked at from inside that host (its own mount namespace), never from the
control node's filesystem, where none of it may appear."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

import nemesis
from harness import cluster as cl
from harness.backends import ssh as ssh_backend
from harness.backends import ssh_transport
from tests.integration.support import sql, wait_for
from tests.ssh_hosts import BASE_DIR, SSHHosts

pytestmark = [pytest.mark.integration, pytest.mark.ssh, pytest.mark.slow]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ehs")  # short enough for the control socket paths
    old = os.environ.get("HARNESS_STATE_DIR")
    os.environ["HARNESS_STATE_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("HARNESS_STATE_DIR", None)
    else:
        os.environ["HARNESS_STATE_DIR"] = old


@pytest.fixture(scope="module")
def hosts(state_dir):
    with SSHHosts(3) as h:
        old = dict(os.environ)
        os.environ.update(h.env())
        try:
            yield h
        finally:
            os.environ.clear()
            os.environ.update(old)


def harness(*argv, timeout=180, env=None):
    return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def host_files(hosts, i) -> list[str]:
    """Everything under the base dir, as host i sees it."""
    return [p for p in hosts.on_host(i, f"find {BASE_DIR} -mindepth 1").split() if p]


def gone_on_host(hosts, i, pid) -> bool:
    """Host i has no live process `pid` (its own PID namespace: the control node's /proc cannot tell)."""
    stat = hosts.on_host(i, f"cat /proc/{pid}/stat 2>/dev/null; true")
    return not stat or stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def assert_hosts_empty(hosts):
    for i in range(1, hosts.n + 1):
        assert host_files(hosts, i) == [], f"host {i} keeps files"
        assert not hosts.on_host(i, "iptables -S | grep HN- ; true").strip()


def test_galera_up_and_down_over_ssh(hosts, tmp_path):
    c = cl.up(db="galera", backend="ssh", name="sshgal")
    try:
        assert c.backend == "ssh" and [n.ip for n in c.nodes] == hosts.ips
        assert all(s["cluster_size"] == 3 and s["state"] == "Synced" for s in c.status())
        sql(c, c.nodes[0], "CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        sql(c, c.nodes[0], "INSERT INTO t VALUES (1, 42)")
        assert sql(c, c.nodes[2], "SELECT v FROM t WHERE id = 1") == ((42,),)
        # the files exist on the hosts only: each host's own base dir, never the control node's
        assert any(p.endswith("/n2/my.cnf") for p in host_files(hosts, 2))
        assert not any("/n1/" in p for p in host_files(hosts, 2))
        assert os.listdir(BASE_DIR) == []
        # the record names the server by PID and start time, as launch.pid on the host does
        n3 = c.nodes[2]
        assert hosts.on_host(3, f"cat {n3.home}/launch.pid").split() == [str(n3.pid), str(n3.spec["pid_start"])]
        n3.kill()
        assert not n3.alive()
        n3.start()
        c.wait_healthy(60)
        assert sql(c, n3, "SELECT v FROM t WHERE id = 1") == ((42,),)
        # what a run keeps: each host's log and configuration, the clocks at start and end
        c.collect(tmp_path / "nodes")
        assert f"wsrep_node_address={n3.ip}" in (tmp_path / "nodes" / "n3" / "my.cnf").read_text()
        assert "Synchronized with group" in (tmp_path / "nodes" / "n3" / "server.log").read_text()
        clocks = json.loads((tmp_path / "nodes" / "clocks.json").read_text())
        assert set(clocks) == {"start", "end"} and set(clocks["end"]) == {"n1", "n2", "n3"}
        assert all(abs(o["offset_s"]) < 0.5 for o in clocks["start"].values())  # one machine's clock
    finally:
        cl.down(c.name)
    assert_hosts_empty(hosts)
    assert cl.list_clusters() == []


def test_postgres_standby_up_and_down_over_ssh(hosts, tmp_path, monkeypatch):
    data_root = tmp_path / "data-root"  # where a netns cluster would keep its files: nothing of this one
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_root))
    c = cl.up(db="postgres-standby", backend="ssh", nodes=2, name="sshpg")
    try:
        assert not data_root.exists() and c.record["data_dir"] is None
        primary, standby = c.nodes
        conf = hosts.on_host(1, f"cat {primary.datadir}/postgresql.conf")  # Postgres.initdb, through the node
        assert conf.count("include 'harness.conf'") == 1 and "include_if_exists 'node.conf'" in conf
        assert [n.role for n in c.nodes] == ["primary", "standby"]
        sql(c, primary, "CREATE TABLE reg (k INT PRIMARY KEY, v INT)")
        sql(c, primary, "INSERT INTO reg VALUES (1, 7)")
        wait_for(lambda: sql(c, standby, "SELECT v FROM reg WHERE k = 1") == [(7,)], 10, "the standby to replay")
        with pytest.raises(psycopg.Error):  # read-only
            sql(c, standby, "INSERT INTO reg VALUES (2, 0)")
        hba = hosts.on_host(1, f"cat {primary.datadir}/pg_hba.conf")
        assert f"{hosts.record['host_ip']}/32" in hba and "0.0.0.0" not in hba
    finally:
        c.teardown()
    assert_hosts_empty(hosts)


def test_list_append_run_with_partition_and_kill_heals(hosts, tmp_path):
    ssh_transport.TRANSPORT.connections = 0
    p = harness("run", "--backend", "ssh", "--hosts", hosts.hosts_file(), "--db", "galera",
                "--workload", "list-append", "--nemesis", "partition-one,kill-one", "--nemesis-interval", "2.5",
                "--time-limit", "14", "--final-time-limit", "10", "--op-timeout", "3", "--rate", "50",
                "--concurrency", "4", "--store", str(tmp_path), "--no-progress", "--json", "--seed", "7")
    assert p.returncode in (0, 1), p.stderr[-2000:]
    r = json.loads(p.stdout)
    assert r["backend"] == "ssh"
    history = [json.loads(ln) for ln in (Path(r["run_dir"]) / "history.jsonl").read_text().splitlines()]
    faults = [op["value"]["fault"] for op in history if op["process"] == "nemesis" and op["f"].startswith("start")
              and op["type"] == "info"]
    plan = json.loads((Path(r["run_dir"]) / "test.json").read_text())["nemesis_info"]["plan"]
    assert faults == [st["fault"] for st in plan][:len(faults)], (faults, plan)  # the run follows its plan
    assert faults[:2] == ["partition-one", "kill-one"], faults  # seed 7's plan starts with both
    assert any("verified clean" in n for n in r["nemesis_notes"]), r["nemesis_notes"]
    assert r["run"]["counts"]["ok"] > 20
    copied = Path(r["run_dir"]) / "nodes"  # every host's server log and config, and the clock offsets
    assert {"n1", "n2", "n3", "clocks.json"} <= {f.name for f in copied.iterdir()}, list(copied.iterdir())
    assert all(any((copied / n).iterdir()) for n in ("n1", "n2", "n3"))
    assert_hosts_empty(hosts)
    assert cl.list_clusters() == []


def test_cleanup_after_a_sigkilled_run_leaves_nothing(hosts, tmp_path):
    run = subprocess.Popen([sys.executable, "-m", "harness", "run", "--backend", "ssh",
                            "--hosts", hosts.hosts_file(hosts.ips[:2]), "--db", "postgres-standby",
                            "--workload", "list-append", "--time-limit", "120", "--store", str(tmp_path),
                            "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    try:
        wait_for(lambda: (tmp_path / "latest").exists() or run.poll() is not None, 60, "the run to start")
        assert run.poll() is None, run.stderr.read().decode()[-500:]
        records = cl.list_clusters()
        pids = [n["pid"] for r in records for n in r["nodes"]]
        assert len(pids) == 2 and all(pids)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert host_files(hosts, 1)  # the killed run left its cluster behind
    p = harness("cleanup", "--hosts", hosts.hosts_file())
    assert p.returncode == 0, p.stderr
    assert "removed 1 cluster(s)" in p.stdout
    assert_hosts_empty(hosts)
    for i, pid in enumerate(pids, 1):  # an independent witness on each host that the servers are gone
        assert gone_on_host(hosts, i, pid)
    assert cl.list_clusters() == []


def test_sweep_finds_what_no_record_names(hosts):
    """cleanup --hosts also removes a cluster whose record is gone (a lost state file)."""
    c = cl.up(db="postgres", backend="ssh", nodes=1, name="sshsweep")
    pid = c.primary.pid
    Path(os.environ["HARNESS_STATE_DIR"], "clusters", "sshsweep.json").unlink()
    lines = ssh_backend.sweep(hosts.hosts)
    assert any("1 server(s) stopped" in ln for ln in lines), lines
    assert_hosts_empty(hosts)
    assert gone_on_host(hosts, 1, pid)


def test_changed_host_key_refuses_with_one_line(tmp_path):
    env = {"HARNESS_STATE_DIR": str(tmp_path)}
    with SSHHosts(1) as one:
        hosts_file = one.hosts_file()
        first = harness("cleanup", "--hosts", hosts_file, env=env)  # first contact: the key is recorded
        assert first.returncode == 0, first.stderr
        assert one.ips[0] in (tmp_path / "ssh" / "known_hosts").read_text()
        one.rekey(1)
        p = harness("cluster", "up", "--db", "postgres", "--backend", "ssh", "--hosts", hosts_file, env=env)
        assert p.returncode == 2
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert "host key changed" in p.stderr
        assert host_files(one, 1) == []  # refused before anything was made


def test_unreachable_host_fails_within_its_timeout(hosts, tmp_path):
    start = time.monotonic()
    p = harness("cluster", "up", "--db", "postgres", "--backend", "ssh", "--hosts", hosts.unreachable_ip(),
                "--ssh-key", hosts.client_key, env={"HARNESS_STATE_DIR": str(tmp_path)})
    took = time.monotonic() - start
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "unreachable" in p.stderr
    assert took < ssh_transport.CONNECT_TIMEOUT + 8, took
    assert cl.list_clusters() == []


# -- faults read and made where the server runs (each host: own PID namespace, /proc, /dev/shm) -----
def test_pause_and_clock_skew_are_seen_on_the_host(hosts):
    """verify_clean and cleanup find a paused or skewed server on its host; clock-skew's libfaketime
    files are made on the host (owner postgres, 0600) and the server's clock moves."""
    from nemesis import cleanup, clock
    c = cl.up(db="postgres", backend="ssh", nodes=1, name="sshfault")
    try:
        n1 = c.primary
        local_pids = {int(p) for p in os.listdir("/proc") if p.isdigit()}
        n1.pause()
        assert hosts.on_host(1, f"grep State: /proc/{n1.pid}/status").split()[1] == "T"
        found = nemesis.verify_clean(c)
        assert f"n1: server pid {n1.pid} is paused (SIGSTOP)" in found, (found, n1.pid in local_pids)
        assert any("resumed paused server" in x for x in cleanup.cleanup_node(n1))
        assert hosts.on_host(1, f"grep State: /proc/{n1.pid}/status").split()[1] != "T"
        assert nemesis.verify_clean(c) == []

        skew = nemesis.make("clock-skew")
        assert skew.applicable(c) is None  # libfaketime found on the host
        value = skew.start(c, random.Random(3))
        offset = value["offsets_s"]["n1"]
        server_time = sql(c, c.primary, "SELECT extract(epoch FROM now())")[0][0]
        assert abs(float(server_time) - time.time() - offset) < 5, (server_time, offset)
        name = clock.shared_name(c, n1)
        listing = hosts.on_host(1, f"stat -c '%U %a %n' /dev/shm/sem.{name}_sem /dev/shm/{name}_shm")
        assert [ln.split()[:2] for ln in listing.splitlines()] == [["postgres", "600"]] * 2, listing
        assert not Path(f"/dev/shm/sem.{name}_sem").exists()  # never on the control node
        found = nemesis.verify_clean(c)
        assert f"n1: server pid {c.primary.pid} runs under libfaketime" in found, found
        assert sum("libfaketime file" in x for x in found) == 2, found
        skew.stop(c)
        assert nemesis.verify_clean(c) == []
        assert not hosts.on_host(1, f"ls /dev/shm/ | grep {name}; true").strip()

        lag = nemesis.make("lag")  # this kernel has no netem; the delayer is not run on remote hosts
        assert lag.applicable(c) == ("lag needs tc netem (kernel module sch_netem) on "
                                     f"{n1.host}: the NetfilterQueue delayer runs only on netns/docker nodes")
        skew.start(c, random.Random(4))  # left skewed: teardown removes its files from the host too
    finally:
        c.teardown()
    assert_hosts_empty(hosts)
    assert not hosts.on_host(1, f"ls /dev/shm/ | grep {name}; true").strip()


def test_setup_finds_the_packages_present_and_installs_nothing(hosts, tmp_path):
    policy = Path("/usr/sbin/policy-rc.d")  # the hosts share this machine's /usr: left as it was
    before = policy.read_bytes() if policy.exists() else None
    p = harness("setup", "--hosts", hosts.hosts_file(), env={"HARNESS_STATE_DIR": str(tmp_path)}, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines == [f"root@{ip}: all 8 packages present, installed nothing; no systemd running: no distro "
                     "service to disable" for ip in hosts.ips], p.stdout
    assert (policy.read_bytes() if policy.exists() else None) == before
    assert not list((tmp_path / "ssh" / "cm").iterdir())  # every master connection closed


def test_certify_a_cell_on_its_own_hosts(hosts, tmp_path):
    """A matrix cell names its hosts (no --hosts, no HARNESS_SSH_HOSTS): its cluster is made there."""
    matrix = tmp_path / "m.toml"
    matrix.write_text(f'time_limit = 4\nmin_exposure = 0\nprobe = false\n[[cell]]\nname = "pg"\ndb = "postgres"\n'
                      f'backend = "ssh"\nhosts = "{hosts.hosts_file(hosts.ips[2:])}"\nworkloads = ["list-append"]\n'
                      'nemesis = ["none"]\nnetwork = "loopback"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_SSH_")}
    p = subprocess.run([sys.executable, "-m", "harness", "certify", "--matrix", str(matrix), "--store",
                        str(tmp_path / "store"), "--seed", "1"], capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode in (0, 1, 2), p.stderr[-2000:]
    cert = json.loads(next((tmp_path / "store").rglob("certificate.json")).read_text())
    row, = cert["rows"]
    assert "did not start" not in json.dumps(row) and "error" not in row.get("evidence", ""), row
    runs = [json.loads(f.read_text()) for f in (tmp_path / "store").rglob("test.json")]
    assert runs and all(r.get("backend") == "ssh" for r in runs), runs
    assert_hosts_empty(hosts)
    assert cl.list_clusters() == []
