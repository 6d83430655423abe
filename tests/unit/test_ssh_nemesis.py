"""The pure parts of the nemesis on remote hosts: the script that makes libfaketime's files there
(run here on a private dir as it runs on a host: same shell, same coreutils)."""
import _multiprocessing
import os
import pwd
import subprocess

import pytest

from nemesis import clock

NOBODY = pwd.getpwnam("nobody")


def make(d, owner=""):
    sem, shm = f"{d}/sem.t_sem", f"{d}/t_shm"
    cp = subprocess.run(["sh", "-c", clock.MAKE_SHARED_SH, "sh", str(d), sem, shm, owner],
                        capture_output=True, text=True, timeout=10)
    return cp, sem, shm


def test_the_semaphore_is_the_one_sem_open_writes(tmp_path):
    cp, sem, shm = make(tmp_path)
    assert cp.returncode == 0, cp
    name = f"/eh_unit_{os.getpid()}"
    _multiprocessing.SemLock(1, 1, 1, name, False)
    try:
        glibc = open(f"/dev/shm/sem.{name[1:]}", "rb").read()
    finally:
        os.unlink(f"/dev/shm/sem.{name[1:]}")
    assert open(sem, "rb").read() == glibc
    assert open(shm, "rb").read() == b"\0" * 64
    assert sorted(os.listdir(tmp_path)) == ["sem.t_sem", "t_shm"]  # the private temp dir is gone


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_files_belong_to_the_server_user_only(tmp_path):
    cp, sem, shm = make(tmp_path, owner="nobody")
    assert cp.returncode == 0, cp
    for p in (sem, shm):
        st = os.lstat(p)
        assert (st.st_uid, st.st_mode & 0o777) == (NOBODY.pw_uid, 0o600)
    assert make(tmp_path, owner="nobody")[0].returncode == 0  # an earlier skew's files are replaced


@pytest.mark.parametrize("plant", ["symlink", "dir", "foreign"])
def test_a_planted_name_is_refused_never_followed(tmp_path, plant):
    target = tmp_path / "victim"
    target.write_text("keep")
    shm = tmp_path / "t_shm"
    if plant == "symlink":
        shm.symlink_to(target)
    elif plant == "dir":
        shm.mkdir()
    else:
        shm.write_text("theirs")
        os.chown(shm, NOBODY.pw_uid, NOBODY.pw_gid)
    cp, _, _ = make(tmp_path)
    assert cp.returncode == 3 and len(cp.stdout.strip().splitlines()) == 1, cp
    assert str(shm) in cp.stdout and "refusing" in cp.stdout
    assert target.read_text() == "keep"
    assert not (tmp_path / "sem.t_sem").exists()
