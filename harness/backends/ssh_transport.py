"""Reaching database hosts over SSH: OpenSSH's `ssh` client, one multiplexed connection per host.

Why OpenSSH and not paramiko / asyncssh: the `ssh` binary is what every operator already trusts
and configures (keys, agents, ProxyJump, ~/.ssh/config all keep working), it is maintained with the
OS and its security updates, and ControlMaster multiplexing (as Ansible uses it) makes a command
over an open connection cost one local process spawn (~5-10 ms) with no Python protocol code of
ours. Each remote call is a plain child process, so a timeout is `subprocess`'s kill; a Python
SSH library would put a second implementation of host-key policy and channel handling in the
harness. Host keys: a per-state-dir known_hosts; a first-seen key is recorded
(StrictHostKeyChecking=accept-new), a changed key refuses to connect (UsageError: one line, exit 2).

One master connection per host is started explicitly (`ssh -M -N -f`, its output to a file, so
no backgrounded master ever holds one of our pipes open) and persists at most CONTROL_PERSIST
seconds after its last use; every call goes through it (`ControlMaster=no`). `connections` counts
the masters this process started: the number of SSH connections a run opens.
"""
import contextlib
import dataclasses
import hashlib
import os
import shlex
import subprocess
import tempfile
import threading
from pathlib import Path

from harness.cluster import state
from harness.errors import ClusterError, UsageError

CONNECT_TIMEOUT = 5        # seconds for TCP connect + key exchange + auth
CONTROL_PERSIST = 60       # seconds a master lingers after its last client
ALIVE_INTERVAL = 5         # ServerAliveInterval; 3 missed answers end a dead connection
MAX_SESSIONS = 8           # concurrent channels per host (sshd's MaxSessions default is 10)


@dataclasses.dataclass(frozen=True)
class Host:
    """One database host: how to log in, where the harness may write."""
    address: str
    user: str = "root"
    port: int = 22
    key: str | None = None          # private key file; None: ssh's defaults / agent
    sudo: bool = False              # wrap commands in `sudo -n` (user is not root)
    base_dir: str = "/var/lib/engine-harness-node"  # everything the harness makes lives below
    ip: str | None = None           # the address the databases bind to (default: address)

    def __str__(self):
        return f"{self.user}@{self.address}" + (f":{self.port}" if self.port != 22 else "")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Host":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


def ssh_dir() -> Path:
    """<state dir>/ssh (0700): known_hosts, master logs, and cm/ (0700) with the control sockets."""
    state.private_dir(state.state_dir())
    return state.private_dir(state.state_dir() / "ssh")


def known_hosts() -> Path:
    return ssh_dir() / "known_hosts"


def control_path(host: Host) -> str:
    # short and fixed-length: unix socket paths are limited to 108 bytes
    digest = hashlib.sha1(f"{host.user}@{host.address}:{host.port}".encode()).hexdigest()[:16]
    path = str(state.private_dir(ssh_dir() / "cm") / digest)
    if len(path) > 100:
        raise UsageError(f"state dir {state.state_dir()} is too long for an ssh control socket path")
    return path


def options(host: Host) -> list[str]:
    """The ssh options every call uses (master and clients)."""
    opts = {
        "BatchMode": "yes",                       # never prompt: no password, no passphrase
        "StrictHostKeyChecking": "accept-new",    # record first-seen keys, refuse changed ones
        "UserKnownHostsFile": str(known_hosts()),
        "GlobalKnownHostsFile": "/dev/null",
        "UpdateHostKeys": "no",
        "HashKnownHosts": "no",
        "CheckHostIP": "no",
        "ConnectTimeout": str(CONNECT_TIMEOUT),
        "ServerAliveInterval": str(ALIVE_INTERVAL),
        "ServerAliveCountMax": "3",
        "ControlPath": control_path(host),
        "LogLevel": "ERROR",
    }
    argv = []
    for k, v in opts.items():
        argv += ["-o", f"{k}={v}"]
    argv += ["-p", str(host.port), "-l", host.user]
    if host.key:
        argv += ["-i", os.path.expanduser(host.key), "-o", "IdentitiesOnly=yes"]
    return argv


def remote_command(host: Host, argv, timeout: float | None = None, env: dict | None = None,
                   user: str | None = None) -> str:
    """The command line the remote shell runs: sudo, a remote timeout (so a command whose
    connection died does not run on forever), env, then argv as user (setpriv execs)."""
    words = []
    if host.sudo:
        words += ["sudo", "-n", "--"]
    if timeout:
        words += ["timeout", "-k", "2", f"{timeout:g}"]
    if env:
        words += ["env", *[f"{k}={v}" for k, v in env.items()]]
    if user and user != "root":
        words += ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"]
    words += [str(a) for a in argv]
    return shlex.join(words)


def client_argv(host: Host, command: str) -> list[str]:
    return ["ssh", *options(host), "-o", "ControlMaster=no", "-T", host.address, "--", command]


def master_argv(host: Host) -> list[str]:
    return ["ssh", *options(host), "-o", "ControlMaster=yes", "-o", f"ControlPersist={CONTROL_PERSIST}",
            "-N", "-f", "-T", host.address]


def explain(host: Host, stderr: str) -> str:
    """ssh's failure as one line naming the host."""
    text = stderr.strip()
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "Host key verification failed" in text:
        return (f"{host}: host key changed since it was first recorded in {known_hosts()}: refusing to "
                f"connect (if the host was reinstalled, delete its line there)")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("@")]
    return f"{host}: ssh failed: {lines[-1] if lines else 'no message'}"


class Transport:
    """Open masters per host, counted; one lock per host so concurrent first calls share a master."""

    def __init__(self):
        self._locks: dict[str, threading.Lock] = {}
        self._sessions: dict[str, threading.BoundedSemaphore] = {}
        self._guard = threading.Lock()
        self.connections = 0

    def _per_host(self, host):
        key = control_path(host)
        with self._guard:
            return (self._locks.setdefault(key, threading.Lock()),
                    self._sessions.setdefault(key, threading.BoundedSemaphore(MAX_SESSIONS)))

    def master_alive(self, host: Host) -> bool:
        if not os.path.exists(control_path(host)):
            return False
        cp = subprocess.run(["ssh", *options(host), "-O", "check", host.address], capture_output=True,
                            text=True, timeout=10)
        return cp.returncode == 0

    def connect(self, host: Host) -> None:
        """Make sure the host's master connection is up; ClusterError / UsageError (host key) in one line."""
        if os.path.exists(control_path(host)):  # a master removes its socket when it exits
            return
        lock, _ = self._per_host(host)
        with lock:
            if os.path.exists(control_path(host)) and self.master_alive(host):
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(control_path(host))  # a stale socket of a master that died
            with tempfile.TemporaryFile(mode="w+") as err:
                try:
                    # -f: returns once authenticated, the master stays in the background
                    cp = subprocess.run(master_argv(host), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=err, timeout=CONNECT_TIMEOUT * 2 + 5)
                except subprocess.TimeoutExpired:
                    raise ClusterError(f"{host}: unreachable: no SSH session within {CONNECT_TIMEOUT * 2 + 5}s") \
                        from None
                err.seek(0)
                message = err.read()
            if cp.returncode != 0:
                line = explain(host, message)
                if "host key changed" in line:
                    raise UsageError(line)
                if "timed out" in message or "No route" in message or "refused" in message:
                    raise ClusterError(f"{host}: unreachable: {message.strip().splitlines()[-1]}")
                raise ClusterError(line)
            self.connections += 1

    def run(self, host: Host, command: str, timeout: float, input=None) -> subprocess.CompletedProcess:
        """Run a remote command line; raises subprocess.TimeoutExpired after timeout (+ connect slack)."""
        self.connect(host)
        _, sessions = self._per_host(host)
        with sessions:
            cp = subprocess.run(client_argv(host, command), capture_output=True, text=True,
                                timeout=timeout + CONNECT_TIMEOUT, input=input,
                                stdin=None if input is not None else subprocess.DEVNULL)
        if cp.returncode == 255 and not cp.stdout:  # ssh's own failure (the connection), not the command's
            raise ClusterError(explain(host, cp.stderr))
        return cp

    def popen(self, host: Host, command: str, **kw) -> subprocess.Popen:
        self.connect(host)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen(client_argv(host, command), **kw)

    def close(self, host: Host) -> None:
        """End the host's master connection (idempotent)."""
        if os.path.exists(control_path(host)):
            subprocess.run(["ssh", *options(host), "-O", "exit", host.address], capture_output=True, timeout=10)


TRANSPORT = Transport()  # one per process: masters are shared by every cluster on the same host

