"""`harness setup --hosts`: the command each host runs (dry run), and its one line per host."""
import shlex
import subprocess
import sys

from harness import setup_cmd
from harness.backends.ssh_transport import Host


def harness(*argv):
    return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, timeout=60)


def test_the_command_installs_only_the_missing_packages_noninteractively():
    words = shlex.split(setup_cmd.command(Host(address="192.0.2.1"), timeout=300))
    assert words[:4] == ["timeout", "-k", "2", "300"]  # bounded on the host too
    assert words[4:6] == ["sh", "-c"]
    script, args = words[6], words[7:]
    assert args == ["sh", "mariadb postgresql", *setup_cmd.PACKAGES]
    assert {"mariadb-server", "galera-4", "postgresql", "rsync", "iptables", "libfaketime", "iproute2"} <= set(args)
    assert "dpkg-query -W" in script and "export DEBIAN_FRONTEND=noninteractive" in script
    assert "install -y --no-install-recommends $missing" in script
    assert 'systemctl disable --now "$s.service"' in script
    assert shlex.split(setup_cmd.command(Host(address="h", sudo=True)))[:3] == ["sudo", "-n", "--"]


def test_dry_run_prints_one_command_per_host_and_contacts_nobody():
    p = harness("setup", "--hosts", "192.0.2.1,admin@192.0.2.2:2222", "--dry-run", "--timeout", "60")
    assert p.returncode == 0, p.stderr
    heads = [ln for ln in p.stdout.splitlines() if ": ssh -p " in ln]  # the script spans lines
    assert len(heads) == 2 and p.stdout.count("apt-get -q -o DPkg::Lock::Timeout=120 install") == 2
    lines = heads
    assert lines[0].startswith("root@192.0.2.1: ssh -p 22 -l root 192.0.2.1 -- timeout -k 2 60 sh -c ")
    assert lines[1].startswith("admin@192.0.2.2:2222: ssh -p 2222 -l admin 192.0.2.2 -- ")
    assert p.stdout.count(" galera-4 ") == 2


def test_bad_input_is_one_line_exit_2():
    for argv in (["--dry-run"], ["--ssh-user", "x"], ["--hosts", "bad host"],
                 ["--hosts", "192.0.2.1", "--timeout", "0"]):
        p = harness("setup", *argv)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, (argv, p.stderr)


def test_one_line_per_host_from_the_script_output():
    h = Host(address="10.0.0.1")
    assert setup_cmd.summary(h, "missing:\nservices: disabled\n") == \
        f"root@10.0.0.1: all {len(setup_cmd.PACKAGES)} packages present, installed nothing; " \
        "mariadb, postgresql services disabled"
    assert setup_cmd.summary(h, "missing: galera-4 rsync\nservices: no systemd running\n") == \
        "root@10.0.0.1: installed galera-4 rsync; no systemd running: no distro service to disable"
