"""Hosts for the ssh backend: the comma form, TOML and YAML hosts files, and the flags' checks."""
import argparse
import os

import pytest

from harness.backends import ssh_config
from harness.backends.ssh_transport import Host
from harness.errors import UsageError


def test_comma_list_with_flag_defaults_and_per_host_user_and_port():
    hosts = ssh_config.parse("10.0.0.1, admin@10.0.0.2:2222", user="deb", key="/k", port=2200)
    assert hosts == [Host("10.0.0.1", user="deb", port=2200, key="/k", ip="10.0.0.1"),
                     Host("10.0.0.2", user="admin", port=2222, key="/k", ip="10.0.0.2")]
    assert hosts[0].base_dir == "/var/lib/engine-harness-node" and hosts[0].sudo is False


@pytest.mark.parametrize("spec, words", [
    ("10.0.0.1,bad host", "bad host"),
    ("10.0.0.1,10.0.0.1", "listed twice"),
    (" , ", "no hosts"),
    ("h:99999", "port must be"),
])
def test_bad_comma_lists_are_one_line_errors(spec, words):
    with pytest.raises(UsageError) as e:
        ssh_config.parse(spec)
    assert words in str(e.value) and "\n" not in str(e.value)


TOML = """
[defaults]
user = "admin"
key = "~/.ssh/harness"
sudo = true
[[hosts]]
address = "10.0.0.11"
[[hosts]]
address = "db2.example"
ip = "10.0.0.12"
port = 2222
sudo = false
base_dir = "/srv/eh/"
"""

YAML = """
defaults: {user: admin, key: ~/.ssh/harness, sudo: true}
hosts:
  - 10.0.0.11
  - {address: db2.example, ip: 10.0.0.12, port: 2222, sudo: false, base_dir: /srv/eh/}
"""


def test_toml_and_yaml_files_give_the_same_hosts(tmp_path):
    (tmp_path / "h.toml").write_text(TOML)
    (tmp_path / "h.yaml").write_text(YAML)
    want = [Host("10.0.0.11", user="admin", key="~/.ssh/harness", sudo=True, ip="10.0.0.11"),
            Host("db2.example", user="admin", port=2222, key="~/.ssh/harness", sudo=False, base_dir="/srv/eh",
                 ip="10.0.0.12")]
    assert ssh_config.parse(str(tmp_path / "h.toml")) == want
    assert ssh_config.parse(str(tmp_path / "h.yaml")) == want


def test_file_values_override_the_flags(tmp_path):
    (tmp_path / "h.toml").write_text('[[hosts]]\naddress = "10.0.0.1"\nuser = "own"\n')
    (h,) = ssh_config.parse(str(tmp_path / "h.toml"), user="flag", key="/flagkey")
    assert (h.user, h.key) == ("own", "/flagkey")


@pytest.mark.parametrize("text, words", [
    ('[[hosts]]\naddress = "a"\ncolour = "red"\n', "unknown key 'colour'"),
    ('[[hosts]]\nuser = "u"\n', "no address"),
    ('[[hosts]]\naddress = "10.0.0.1"\nbase_dir = "rel/dir"\n', "base_dir must be an absolute path"),
    ('[[hosts]]\naddress = "10.0.0.1"\nbase_dir = "/"\n', "base_dir must be an absolute path"),
    ('[[hosts]]\naddress = "10.0.0.1"\nsudo = "yes"\n', "sudo must be true or false"),
    ('[[hosts]]\naddress = "10.0.0.1"\nport = "22"\n', "port must be"),
    ('hosts = "10.0.0.1"\n', "expected a 'hosts' list"),
    ('[[hosts]\n', "not valid TOML"),
])
def test_bad_hosts_files_are_one_line_errors_naming_the_file(tmp_path, text, words):
    path = tmp_path / "h.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as e:
        ssh_config.parse(str(path))
    assert words in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_missing_file_is_one_line():
    with pytest.raises(UsageError, match="cannot read"):
        ssh_config.parse("/nonexistent/hosts.yaml")


def _args(**kw):
    base = {"backend": "ssh", "hosts": None, "ssh_user": None, "ssh_key": None, "ssh_port": None}
    return argparse.Namespace(**{**base, **kw})


def test_apply_checks_the_flags_and_hands_them_on(monkeypatch):
    for var in ssh_config.ENV.values():
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(UsageError, match="need --hosts"):
        ssh_config.apply(_args(ssh_user="u"))
    with pytest.raises(UsageError, match="for --backend ssh"):
        ssh_config.apply(_args(backend="netns", hosts="10.0.0.1"))
    with pytest.raises(UsageError, match="needs --hosts"):
        ssh_config.from_env()
    ssh_config.apply(_args(hosts="10.0.0.1,10.0.0.2", ssh_user="deb", ssh_port=2022))
    assert os.environ["HARNESS_SSH_HOSTS"] == "10.0.0.1,10.0.0.2"
    assert [(h.user, h.port) for h in ssh_config.from_env()] == [("deb", 2022), ("deb", 2022)]
