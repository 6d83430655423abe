"""Test "machines" for the ssh backend: N network namespaces on a bridge, each running its own sshd.

    root ns  ehs<k>h 10.79.k.1 ──veth── [hub ns: br0] ──veth── eth0 10.79.k.1N  (host ns ehs<k>-hN)

Each host's sshd (Debian's openssh-server) has its own generated host key and accepts one
generated client key. Namespaces share this machine's filesystem, so each sshd also runs in a
mount namespace of its own with a private tmpfs on BASE_DIR: what a host has under BASE_DIR exists
only for processes started through its sshd, and so is its /dev/shm. Each sshd also runs in a PID
namespace of its own (with its own /proc): a host's PIDs are not the control node's, as on real
machines. A harness step that touched the control node's filesystem or /proc instead of going
through ssh would not see the host (and fails the tests).

The fixture is recorded in FIXTURE_DIR before anything is made; `cleanup_stale()` removes the
fixtures of test processes that died (SIGKILL) on the next use.
"""
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from harness.backends.ssh_transport import Host
from harness.cluster import netns, state

FIXTURE_DIR = Path("/run/engine-harness-ssh-fixtures")
BASE_DIR = "/run/ehs-base"   # every host's base dir: a private tmpfs per host at the same path
SSHD = "/usr/sbin/sshd"


def sshd_available() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh-keygen") is not None and os.geteuid() == 0


def _subnet_taken() -> set[int]:
    out = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, timeout=10).stdout
    used = {int(m.group(1)) for m in re.finditer(r"\b10\.79\.(\d+)\.", out)}
    used |= {int(m.group(1)) for ns in state.netns_names() if (m := re.match(r"^ehs(\d+)-", ns))}
    return used


def _alive(pid) -> bool:
    return state.process_start(pid) is not None


def cleanup_stale() -> None:
    if not FIXTURE_DIR.is_dir():
        return
    for p in FIXTURE_DIR.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            rec = json.loads(p.read_text())
            if _alive(rec["owner_pid"]) and state.process_start(rec["owner_pid"]) == rec["owner_start"]:
                continue
            netns.destroy(rec)
            shutil.rmtree(rec["work"], ignore_errors=True)
            p.unlink()


class SSHHosts:
    """`with SSHHosts(3) as hosts:` hosts.hosts (harness Host objects), hosts.arg (--hosts value)."""

    def __init__(self, n: int = 3):
        self.n = n
        self.record = None
        self.procs: dict[int, subprocess.Popen] = {}

    # -- life cycle ------------------------------------------------------------------------------
    def __enter__(self):
        cleanup_stale()
        FIXTURE_DIR.mkdir(mode=0o700, exist_ok=True)
        with state.global_lock():
            k = next(k for k in range(1, 251) if k not in _subnet_taken())
            work = f"/run/ehs{k}"
            self.record = {
                "name": f"ehs{k}", "hub_ns": f"ehs{k}-hub", "host_veth": f"ehs{k}h",
                "host_ip": f"10.79.{k}.1", "work": work, "owner_pid": os.getpid(),
                "owner_start": state.process_start(os.getpid()),
                "nodes": [{"name": f"h{i}", "ns": f"ehs{k}-h{i}", "ip": f"10.79.{k}.{10 + i}"}
                          for i in range(1, self.n + 1)],
            }
            self._save(self.record)
            try:
                netns.create(self.record, self._save)
            except BaseException:
                self.__exit__(None, None, None)
                raise
        try:
            self._make_keys()
            for i in range(1, self.n + 1):
                self.start_sshd(i)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self.record:
            netns.destroy(self.record)  # every process in the namespaces: sshds and what they started
            for p in self.procs.values():
                with contextlib.suppress(Exception):
                    p.wait(timeout=5)
            shutil.rmtree(self.record["work"], ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                (FIXTURE_DIR / f"{self.record['name']}.json").unlink()
        return False

    def _save(self, record):
        path = FIXTURE_DIR / f"{record['name']}.json"
        path.write_text(json.dumps(record))

    # -- keys and daemons -----------------------------------------------------------------------
    @property
    def work(self) -> Path:
        return Path(self.record["work"])

    @property
    def client_key(self) -> str:
        return str(self.work / "client_key")

    def _make_keys(self):
        self.work.mkdir(mode=0o700, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "harness-test",
                        "-f", self.client_key], check=True, timeout=30)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        Path(BASE_DIR).mkdir(mode=0o755, exist_ok=True)     # the mount point (empty on the root ns)
        for i in range(1, self.n + 1):
            self.new_host_key(i)

    def host_dir(self, i) -> Path:
        return self.work / f"h{i}"

    def new_host_key(self, i):
        d = self.host_dir(i)
        d.mkdir(mode=0o700, exist_ok=True)
        for f in d.glob("ssh_host_ed25519_key*"):
            f.unlink()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "ssh_host_ed25519_key")],
                       check=True, timeout=30)
        shutil.copy(self.client_key + ".pub", d / "authorized_keys")
        node = self.record["nodes"][i - 1]
        (d / "sshd_config").write_text(
            f"ListenAddress {node['ip']}\nPort 22\nHostKey {d}/ssh_host_ed25519_key\n"
            f"AuthorizedKeysFile {d}/authorized_keys\nPidFile none\nStrictModes no\nUsePAM no\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "MaxSessions 30\nMaxStartups 100\nLogLevel ERROR\n")

    def start_sshd(self, i):
        node, d = self.record["nodes"][i - 1], self.host_dir(i)
        log = open(d / "sshd.log", "ab")
        # this machine's /root/.bashrc runs pyenv (0.2 s per ssh command: bash reads it under sshd);
        # the host gets an empty one, as a fresh Debian install has
        script = ('mount -t tmpfs -o mode=0755,size=2g ehs-base "$1" && '
                  'mount -t tmpfs -o mode=1777,size=256m ehs-shm /dev/shm && '
                  '{ [ ! -e /root/.bashrc ] || mount --bind /dev/null /root/.bashrc; } && exec "$2" -D -e -f "$3"')
        # sshd is the PID namespace's init: it reaps what the harness's launch shells leave
        self.procs[i] = subprocess.Popen(
            ["ip", "netns", "exec", node["ns"], "unshare", "--mount", "--propagation", "private",
             "--pid", "--fork", "--mount-proc",
             "sh", "-c", script, "sh", BASE_DIR, SSHD, str(d / "sshd_config")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection((node["ip"], 22), timeout=1):
                return
            if self.procs[i].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd on {node['ip']} did not start: {(d / 'sshd.log').read_text()[-300:]}")
            time.sleep(0.05)

    def stop_sshd(self, i):
        """Kill host i's sshd (the one this fixture started) and whatever runs in its namespace."""
        netns.kill_all({"name": self.record["name"], "nodes": [self.record["nodes"][i - 1]]})
        self.procs.pop(i).wait(timeout=5)

    def rekey(self, i):
        """Host i comes back with a new host key (as a reinstalled machine would)."""
        self.stop_sshd(i)
        self.new_host_key(i)
        self.start_sshd(i)

    # -- what tests use ------------------------------------------------------------------------
    @property
    def ips(self) -> list[str]:
        return [n["ip"] for n in self.record["nodes"]]

    @property
    def hosts(self) -> list[Host]:
        return [Host(address=ip, key=self.client_key, base_dir=BASE_DIR, ip=ip) for ip in self.ips]

    @property
    def arg(self) -> str:
        return ",".join(self.ips)

    def hosts_file(self, ips=None) -> str:
        """A TOML hosts file for `--hosts FILE` (the comma form cannot name the base dir)."""
        path = self.work / "hosts.toml"
        path.write_text(f'[defaults]\nuser = "root"\nkey = "{self.client_key}"\nbase_dir = "{BASE_DIR}"\n' +
                        "".join(f'[[hosts]]\naddress = "{ip}"\n' for ip in (ips or self.ips)))
        return str(path)

    def env(self) -> dict:
        """The environment `--hosts FILE` sets (for in-process up(backend="ssh"))."""
        return {"HARNESS_SSH_HOSTS": self.hosts_file()}

    def unreachable_ip(self) -> str:
        """An address on the test bridge that no host answers."""
        return self.record["host_ip"].rsplit(".", 1)[0] + ".99"

    def on_host(self, i, script: str) -> str:
        """Run a shell script on host i as its sshd's sessions see the machine (own mount namespace,
        with its /proc and /dev/shm)."""
        pid = self.procs[i].pid
        cp = subprocess.run(["nsenter", "-t", str(pid), "-m", "-n", "sh", "-c", script],
                            capture_output=True, text=True, timeout=30)
        return cp.stdout

