"""Per-cell ssh hosts in certification matrices, and `harness certify --hosts`."""
import subprocess
import sys

import pytest

from harness.backends import ssh_config
from harness.certify.matrix import load_matrix
from harness.errors import UsageError

CELL = '[[cell]]\nname = "g"\ndb = "galera"\nnemesis = ["none"]\nnetwork = "loopback"\n'


def write(tmp_path, text, name="m.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_a_cells_hosts_list_and_file(tmp_path):
    (tmp_path / "h.toml").write_text('[defaults]\nuser = "admin"\n[[hosts]]\naddress = "10.0.0.21"\n')
    m = load_matrix(write(tmp_path, CELL + 'backend = "ssh"\nhosts = ["10.0.0.11", "u@10.0.0.12:2222"]\n' +
                          CELL.replace('"g"', '"f"') + 'backend = "ssh"\nhosts = "h.toml"\n'))
    listed, filed = m.cells
    assert [(h.user, h.address, h.port) for h in listed.host_list] == [("root", "10.0.0.11", 22),
                                                                      ("u", "10.0.0.12", 2222)]
    assert [(h.user, h.address) for h in filed.host_list] == [("admin", "10.0.0.21")]  # relative to the matrix
    assert listed.cluster_key != filed.cluster_key  # other hosts: another cluster


@pytest.mark.parametrize("value, message", [
    ('"nope.txt"', "no such hosts file"),
    ('["bad host"]', "bad host 'bad host'"),
    ('["a,b"]', "hosts must be a hosts file or a non-empty list"),
    ("[]", "hosts must be a hosts file or a non-empty list"),
    ("3", "hosts must be a hosts file or a non-empty list"),
])
def test_a_bad_hosts_value_is_file_line(tmp_path, value, message):
    path = write(tmp_path, 'time_limit = 5\n' + CELL + f'backend = "ssh"\nhosts = {value}\n')
    with pytest.raises(UsageError) as e:
        load_matrix(path)
    assert str(e.value).startswith(f"{path}:8: cell 1: "), str(e.value)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_hosts_need_the_ssh_backend_and_yaml_lines_too(tmp_path):
    path = write(tmp_path, "cell:\n  - name: g\n    db: galera\n    hosts: [10.0.0.1]\n", "m.yaml")
    with pytest.raises(UsageError, match=rf'^{path}:4: cell 1: hosts is for backend = "ssh"'):
        load_matrix(path)
    with pytest.raises(UsageError, match="unknown field"):
        load_matrix(write(tmp_path, CELL + "host_list = []\n"))


def test_one_topology_on_two_sets_of_hosts_is_refused():
    ssh_config._BY_TOPOLOGY.clear()
    try:
        a, b = ssh_config.parse("10.0.0.1"), ssh_config.parse("10.0.0.2")
        ssh_config.for_topology("galera", None, {"camunda": True}, a)
        ssh_config.for_topology("galera", None, {"camunda": True}, a)  # the same again: fine
        assert ssh_config.hosts_for("galera", None, {"camunda": True}) == a
        with pytest.raises(UsageError, match="different hosts"):
            ssh_config.for_topology("galera", None, {"camunda": True}, b)
    finally:
        ssh_config._BY_TOPOLOGY.clear()


def certify(*argv, env=None):
    return subprocess.run([sys.executable, "-m", "harness", "certify", *argv], capture_output=True, text=True,
                          timeout=60, env=env)


def test_certify_refuses_an_ssh_cell_without_hosts_and_bad_flags(tmp_path):
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_SSH_")}
    path = write(tmp_path, CELL + 'backend = "ssh"\n')
    p = certify("--matrix", path, "--store", str(tmp_path), env=env)
    assert p.returncode == 2 and p.stderr.strip() == \
        "harness certify: cell 'g': backend = \"ssh\" needs hosts = FILE|[...] in the matrix or --hosts HOST,...|FILE"
    p = certify("--matrix", path, "--hosts", "bad host", "--store", str(tmp_path), env=env)
    assert p.returncode == 2 and "bad host 'bad host'" in p.stderr and len(p.stderr.splitlines()) == 1
    p = certify("--matrix", path, "--ssh-user", "x", "--store", str(tmp_path), env=env)
    assert p.returncode == 2 and "need --hosts" in p.stderr
