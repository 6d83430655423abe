"""Local security of what the harness leaves on the machine (issue 19, "Local security"): who can
read the records that hold the database password, whether a planted symlink or someone else's
directory can make root write elsewhere, independent credentials."""
import os
import pwd
import stat

import pytest

from harness.cluster import state
from harness.errors import UsageError

NOBODY = pwd.getpwnam("nobody")


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def private_state(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "data"))
    old = os.umask(0o022)  # the usual umask: files 644, dirs 755 unless the code says otherwise
    yield tmp_path
    os.umask(old)


def a_record(name="c1"):
    return state.new_record(name, "mariadb", "netns", ["single"], {})


# -- 1. the cluster record holds the password: 0600 in 0700 dirs ------------------------------------
def test_records_are_0600_in_0700_dirs(private_state):
    state.save(a_record())
    path = state.record_path("c1")
    assert mode(path) == 0o600
    assert mode(private_state / "state" / "clusters") == 0o700
    assert mode(private_state / "state") == 0o700
    assert state.read("c1")["password"]


def test_an_existing_lax_state_dir_is_tightened(private_state):
    (private_state / "state" / "clusters").mkdir(parents=True, mode=0o755)
    os.chmod(private_state / "state", 0o755)
    state.save(a_record())
    assert mode(private_state / "state") == 0o700
    assert mode(private_state / "state" / "clusters") == 0o700


def test_save_does_not_write_through_a_symlink_at_its_temp_name(private_state):
    record = a_record()
    state.clusters_dir()
    target = private_state / "target"
    target.write_text("untouched")
    import threading
    tmp = state.record_path("c1").with_suffix(f".tmp{os.getpid()}-{threading.get_ident()}")
    os.symlink(target, tmp)
    state.save(record)
    assert target.read_text() == "untouched"
    assert state.read("c1")["name"] == "c1" and not os.path.lexists(tmp)


def test_state_dir_that_is_a_symlink_or_not_ours_is_refused(private_state, monkeypatch):
    elsewhere = private_state / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, private_state / "state")
    with pytest.raises(UsageError, match=f"{private_state / 'state'}.*symlink"):
        state.save(a_record())
    assert list(elsewhere.iterdir()) == []
    theirs = private_state / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    monkeypatch.setenv("HARNESS_STATE_DIR", str(theirs))
    with pytest.raises(UsageError, match=f"{theirs}.*owned by uid {NOBODY.pw_uid}"):
        state.save(a_record())
    assert list(theirs.iterdir()) == []


# -- 2. data root, global lock, libfaketime files: no planted symlink or foreign dir is used ---------
def test_data_root_is_created_private_and_a_planted_one_is_refused(private_state, monkeypatch):
    state.new_record("c1", "mariadb", "netns", ["single"], {})
    # the servers (mysql, postgres) must traverse it to their data dirs; nobody may list or write it
    assert mode(private_state / "data") == 0o711
    elsewhere = private_state / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("HARNESS_DATA_DIR", str(private_state / "planted"))
    os.symlink(elsewhere, private_state / "planted")
    with pytest.raises(UsageError, match=f"{private_state / 'planted'} is a symlink"):
        state.new_record("c1", "mariadb", "netns", ["single"], {})
    theirs = private_state / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    monkeypatch.setenv("HARNESS_DATA_DIR", str(theirs))
    with pytest.raises(UsageError, match=f"{theirs} is owned by uid {NOBODY.pw_uid}"):
        state.new_record("c1", "mariadb", "netns", ["single"], {})


def test_default_data_root_on_shared_tmpfs_planted_by_someone_else_is_refused(private_state, monkeypatch):
    monkeypatch.delenv("HARNESS_DATA_DIR")
    root = state.data_root()
    assert str(root).startswith("/dev/shm/engine-harness-")  # world-writable: anyone can plant it
    elsewhere = private_state / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, root)
    try:
        with pytest.raises(UsageError, match=f"{root} is a symlink"):
            state.new_record("c1", "mariadb", "netns", ["single"], {})
    finally:
        os.unlink(root)
    os.mkdir(root)
    os.chown(root, NOBODY.pw_uid, NOBODY.pw_gid)
    try:
        with pytest.raises(UsageError, match=f"{root} is owned by uid {NOBODY.pw_uid}"):
            state.new_record("c1", "mariadb", "netns", ["single"], {})
    finally:
        os.rmdir(root)


def test_global_lock_refuses_a_planted_symlink_or_foreign_file(tmp_path, monkeypatch):
    lock = tmp_path / "engine-harness.lock"
    monkeypatch.setattr(state, "GLOBAL_LOCK", str(lock))
    old = os.umask(0o022)
    try:
        with state.global_lock():
            pass
        assert mode(lock) == 0o600
        lock.unlink()
        target = tmp_path / "etc-file"
        os.symlink(target, lock)
        with pytest.raises(UsageError, match=f"{lock}.*symlink"):
            with state.global_lock():
                pass
        assert not target.exists()  # root did not create a file where the symlink pointed
        lock.unlink()
        lock.write_text("")
        os.chown(lock, NOBODY.pw_uid, NOBODY.pw_gid)
        with pytest.raises(UsageError, match=f"{lock} is owned by uid {NOBODY.pw_uid}"):
            with state.global_lock():
                pass
    finally:
        os.umask(old)


@pytest.fixture
def faketime_target(tmp_path):
    import types

    from nemesis import clock
    cluster = types.SimpleNamespace(name=f"sec{os.getpid()}", dbdef=types.SimpleNamespace(server_user="postgres"))
    node = types.SimpleNamespace(name="n1")
    name = clock.shared_name(cluster, node)
    paths = [f"{clock.SHM_DIR}/sem.{name}_sem", f"{clock.SHM_DIR}/{name}_shm"]
    yield cluster, node, paths
    for p in paths:
        if os.path.lexists(p):
            os.unlink(p)


def test_faketime_files_are_made_for_the_server_user_only(faketime_target):
    from nemesis import clock
    cluster, node, paths = faketime_target
    pg = pwd.getpwnam("postgres")
    for _ in range(2):  # a second skew of the same node replaces the files of the first
        assert clock.make_shared(cluster, node).split() == ["/" + os.path.basename(p).removeprefix("sem.")
                                                            for p in paths]
        for p in paths:
            st = os.lstat(p)
            assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, p
            assert st.st_uid == pg.pw_uid, p


@pytest.mark.parametrize("which", [0, 1], ids=["semaphore", "shared-memory"])
def test_faketime_files_planted_as_symlinks_are_refused(faketime_target, tmp_path, which):
    from nemesis import clock
    cluster, node, paths = faketime_target
    target = tmp_path / "victim"
    target.write_text("x")
    os.chmod(target, 0o600)
    os.symlink(target, paths[which])
    with pytest.raises(clock.ClockError, match=f"{paths[which]}.*symlink"):
        clock.make_shared(cluster, node)
    assert target.read_text() == "x" and mode(target) == 0o600  # not truncated, not made 0666


def test_faketime_file_planted_by_another_user_is_refused(faketime_target):
    from nemesis import clock
    cluster, node, paths = faketime_target
    fd = os.open(paths[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    os.fchown(fd, NOBODY.pw_uid, NOBODY.pw_gid)
    os.close(fd)
    with pytest.raises(clock.ClockError, match=f"{paths[1]} is owned by uid {NOBODY.pw_uid}"):
        clock.make_shared(cluster, node)


# -- 3. no local superuser for everyone ------------------------------------------------------------
@pytest.mark.parametrize("db", ["postgres", "postgres-standby"])
def test_pg_hba_trusts_no_one_and_lets_only_the_os_user_postgres_in_over_the_socket(db):
    import types

    from harness.cluster.dbs import get
    hba = get(db).hba(types.SimpleNamespace(cidr="10.77.9.0/24"))
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert not [r for r in rules if "trust" in r]
    assert [r for r in rules if r[0] == "local"] == [["local", "all", "postgres", "peer"]]


# -- 4. the replication password is not derived from the main one ----------------------------------
@pytest.mark.parametrize("db", ["mariadb-mm", "postgres-standby"])
def test_replication_password_is_independent_and_kept_in_the_record(private_state, db):
    import types

    from harness.cluster.dbs import get
    record = state.new_record("c1", db, "netns", ["a", "b"], {})
    cluster = types.SimpleNamespace(record=record, password=record["password"])
    repl = get(db).repl_password(cluster)
    assert repl == record["repl_password"] and len(repl) == 24 and int(repl, 16) >= 0
    assert repl != record["password"][::-1] and repl != record["password"]
    state.save(record)
    assert state.read("c1")["repl_password"] == repl  # in the 0600 record
    # a record made elsewhere without one gets a fresh random one, not the reversed password
    old = types.SimpleNamespace(record={"password": "abc123"}, password="abc123")
    got = get(db).repl_password(old)
    assert got not in ("321cba", "abc123") and len(got) == 24 and old.record["repl_password"] == got


# -- 5. `harness cleanup` leaves clusters of live runs alone; templates go only under their lock ---
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sleeper():
    p = subprocess.Popen(["sleep", "60"])
    yield p
    p.kill()
    p.wait()


def test_owner_is_alive_only_while_the_same_process_runs(private_state, sleeper):
    record = a_record()
    assert record["owner_pid"] == os.getpid() and record["owner_start"] == state.process_start(os.getpid())
    assert state.live_owner(record) == os.getpid()
    theirs = dict(record, owner_pid=sleeper.pid, owner_start=state.process_start(sleeper.pid))
    assert state.live_owner(theirs) == sleeper.pid
    # the same PID, another process (PIDs wrap): not the owner
    assert state.live_owner(dict(theirs, owner_start=theirs["owner_start"] - 1)) is None
    # a record without owner_start: a process that started after the record was written is not its owner
    old = {k: v for k, v in theirs.items() if k != "owner_start"}
    assert state.live_owner(dict(old, created=time.time() - 3600)) is None
    assert state.live_owner(dict(old, created=time.time() + 5)) == sleeper.pid
    sleeper.kill()
    sleeper.wait()
    assert state.live_owner(theirs) is None
    assert state.live_owner(dict(record, owner_pid=None)) is None


def harness(args, env):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env, "PYTHONPATH": str(REPO)}, cwd=REPO)


def test_cleanup_skips_clusters_whose_run_is_alive_unless_forced(private_state, sleeper):
    env = {"HARNESS_STATE_DIR": os.environ["HARNESS_STATE_DIR"], "HARNESS_DATA_DIR": os.environ["HARNESS_DATA_DIR"]}
    live = dict(a_record("live"), owner_pid=sleeper.pid, owner_start=state.process_start(sleeper.pid))
    dead = dict(a_record("dead"), owner_pid=sleeper.pid, owner_start=state.process_start(sleeper.pid) - 1)
    for r in (live, dead):
        os.makedirs(r["data_dir"])
        state.save(r)
    cp = harness(["cleanup", "--no-docker"], env)
    assert cp.returncode == 0, cp.stderr
    assert f"skipped cluster live: its run (pid {sleeper.pid}) is still alive" in cp.stdout
    assert "removed 1 cluster(s): dead" in cp.stdout
    assert state.read("live") and os.path.isdir(live["data_dir"])
    assert state.read("dead") is None and not os.path.exists(dead["data_dir"])
    cp = harness(["cleanup", "--no-docker", "--force"], env)
    assert cp.returncode == 0, cp.stderr
    assert "removed 1 cluster(s): live" in cp.stdout and "skipped" not in cp.stdout
    assert state.read("live") is None and not os.path.exists(live["data_dir"])


def test_cleanup_leaves_the_delayers_of_a_live_cluster_running(private_state):
    from nemesis import cleanup, procs
    # a process that passes the delayer identity check (argv names the module) in our own netns
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", procs.DELAYER_MODULE])
    try:
        deadline = time.monotonic() + 10
        while not procs.is_delayer(fake.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # until it has exec'd (before, its cmdline is the forking pytest's)
        netns = os.readlink(f"/proc/{fake.pid}/ns/net")
        procs.remember(fake.pid, netns, "n1")
        assert cleanup.cleanup_remembered(keep_netns={netns}) == []
        assert fake.poll() is None and procs.remembered()
        assert cleanup.cleanup_remembered() == [f"stopped delayer pid {fake.pid} (n1)"]
        assert fake.wait(5) is not None
    finally:
        fake.kill()
        fake.wait()


class FakeNode:  # only what template.seed touches: a host-side data dir to copy into
    shares_host_fs = True

    def __init__(self, datadir):
        self.datadir = str(datadir)

    def copy_tree(self, source_node, src, dst, user=None):
        import shutil
        shutil.copytree(src, dst)


def test_templates_are_removed_only_under_the_template_lock(private_state):
    import fcntl

    from harness.cluster.dbs import template
    built = []
    assert template.seed(FakeNode(private_state / "n1"), "k", lambda d: (os.makedirs(d), built.append(d)))
    assert (template.templates_dir() / "k").is_dir()
    lock = os.fdopen(state.open_lock_file(template.templates_dir() / ".lock"), "r+")
    fcntl.flock(lock, fcntl.LOCK_EX)  # a builder (another harness) is working
    t = threading.Thread(target=template.remove_all)
    t.start()
    time.sleep(0.5)
    assert t.is_alive() and (template.templates_dir() / "k").is_dir()
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    t.join(10)
    assert not t.is_alive() and not template.templates_dir().exists()
    # and seeding afterwards rebuilds under a fresh lock file
    assert template.seed(FakeNode(private_state / "n2"), "k", lambda d: (os.makedirs(d), built.append(d)))
    assert len(built) == 2 and (private_state / "n2").is_dir()
