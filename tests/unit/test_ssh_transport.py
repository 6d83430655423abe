"""The ssh command lines the backend runs, and how it reads the hosts' process tables."""
import os
import shlex
import stat

import pytest

from harness.backends import ssh_transport as t
from harness.backends.ssh import parse_stat, tree
from harness.backends.ssh_transport import Host


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "st"))
    return tmp_path / "st"


def opts(argv) -> dict:
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-o")


def test_client_argv_checks_host_keys_never_prompts_and_uses_the_master(state):
    h = Host("10.0.0.5", user="deb", port=2222, key="/keys/id")
    argv = t.client_argv(h, "true")
    o = opts(argv)
    assert argv[0] == "ssh" and argv[-3:] == ["10.0.0.5", "--", "true"]
    assert o["BatchMode"] == "yes" and o["StrictHostKeyChecking"] == "accept-new"
    assert o["UserKnownHostsFile"] == str(state / "ssh" / "known_hosts")
    assert o["GlobalKnownHostsFile"] == "/dev/null" and o["ControlMaster"] == "no"
    assert o["ConnectTimeout"] == str(t.CONNECT_TIMEOUT) and int(o["ServerAliveInterval"]) > 0
    assert o["IdentitiesOnly"] == "yes" and ["-i", "/keys/id"] == argv[argv.index("-i"):argv.index("-i") + 2]
    assert ["-p", "2222", "-l", "deb"] == argv[argv.index("-p"):argv.index("-p") + 4]
    cm = os.path.dirname(o["ControlPath"])
    assert cm == str(state / "ssh" / "cm") and stat.S_IMODE(os.stat(cm).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(state / "ssh").st_mode) == 0o700


def test_master_persists_a_bounded_time_and_control_paths_differ_per_login(state):
    o = opts(t.master_argv(Host("h")))
    assert o["ControlMaster"] == "yes" and o["ControlPersist"] == str(t.CONTROL_PERSIST)
    assert {"-N", "-f"} <= set(t.master_argv(Host("h")))
    paths = {t.control_path(Host("h")), t.control_path(Host("h", user="x")), t.control_path(Host("h", port=2))}
    assert len(paths) == 3 and all(len(p) < 100 for p in paths)


def test_remote_command_quotes_every_argument_and_wraps_in_order():
    argv = ["psql", "-c", "SELECT 'a b'; $HOME `x`"]
    cmd = t.remote_command(Host("h", user="deb", sudo=True), argv, timeout=7, env={"PGPASSWORD": "p w"},
                           user="postgres")
    assert shlex.split(cmd) == ["sudo", "-n", "--", "timeout", "-k", "2", "7", "env", "PGPASSWORD=p w",
                                "setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]
    assert shlex.split(t.remote_command(Host("h"), ["true"], user="root")) == ["true"]


def test_a_changed_host_key_is_explained_in_one_line(state):
    err = ("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
           "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
           "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
           "Host key verification failed.\n")
    line = t.explain(Host("10.0.0.5"), err)
    assert "host key changed" in line and "known_hosts" in line and "\n" not in line
    assert t.explain(Host("h"), "ssh: connect to host h port 22: Connection refused\n") == \
        "root@h: ssh failed: ssh: connect to host h port 22: Connection refused"


def test_process_tree_from_stat_lines_by_pid_and_start_time():
    lines = ["100 (mariadbd) S 1 100 100 0 -1 4194560 " + " ".join(["0"] * 12) + " 5555 0 0",
             "101 (odd ) name) S 100 100 100 0 -1 0 " + " ".join(["0"] * 12) + " 5600 0 0",
             "102 (zombie) Z 100 100 100 0 -1 0 " + " ".join(["0"] * 12) + " 5601 0 0",
             "103 (grandchild) S 101 100 100 0 -1 0 " + " ".join(["0"] * 12) + " 5602 0 0",
             "200 (other) S 1 200 200 0 -1 0 " + " ".join(["0"] * 12) + " 5000 0 0"]
    table = [parse_stat(ln) for ln in lines]
    assert table[1] == (101, "S", 100, 5600)
    assert sorted(tree(table, 100, 5555)) == [100, 101, 103]
    assert tree(table, 100, 9999) == []  # same PID, another process: never touched
    assert tree(table, 102, 5601) == [] and parse_stat("garbage") is None
