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
