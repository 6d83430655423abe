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
