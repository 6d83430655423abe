"""The node interface every backend shares, and the netns implementation.

A `Node` is one database server. The nemesis, the runner and the database definitions
(`harness/cluster/dbs/`) use only these methods, so a docker or SSH backend can stand in by
subclassing `Node` and implementing the backend part (run, popen, launch, file access).
"""
import contextlib
import os
import pwd
import shutil
import signal as sig_mod
import subprocess
import time

from harness.cluster import netns
from harness.errors import ClusterError


class NodeCommandError(ClusterError, subprocess.CalledProcessError):
    """A command run on a node failed (catch as ClusterError or CalledProcessError)."""

    def __init__(self, node, argv, cp):
        subprocess.CalledProcessError.__init__(self, cp.returncode, argv, cp.stdout, cp.stderr)
        lines = [line.strip() for line in ((cp.stderr or "") + "\n" + (cp.stdout or "")).splitlines()
                 if line.strip()]
        errors = [line for line in lines if "ERROR" in line or "rror:" in line or "FATAL" in line]
        self.message = f"{node}: `{' '.join(map(str, argv))[-200:]}` exited {cp.returncode}: " \
                       f"{(errors or lines or ['(no output)'])[-1][:300]}"

    def __str__(self):
        return self.message


class NodeTimeout(ClusterError, subprocess.TimeoutExpired):
    def __init__(self, node, argv, timeout):
        subprocess.TimeoutExpired.__init__(self, argv, timeout)
        self.message = f"{node}: `{' '.join(map(str, argv))[-200:]}` timed out after {timeout}s"

    def __str__(self):
        return self.message


class Node:
    """One database server. Backend-neutral part: lifecycle via the cluster's database definition.

    Attributes: name ("n1"), index (1-based), ip, role (primary|standby|master|member|single),
    home (node directory), datadir, rundir (sockets, pid files), log_path, cluster.
    """

    def __init__(self, cluster, spec: dict):
        self.cluster = cluster
        self.spec = spec  # the node's part of the cluster record (pid is saved there)
        self.name = spec["name"]
        self.index = spec["index"]
        self.ip = spec["ip"]
        self.role = spec["role"]
        self.home = spec["home"]
        self.datadir = os.path.join(self.home, "data")
        self.rundir = os.path.join(self.home, "run")
        self.log_path = os.path.join(self.home, "server.log")
        self.env = spec.get("env") or {}

    def __repr__(self):
        return f"<Node {self.cluster.name}/{self.name} {self.ip} {self.role}>"

    def __str__(self):
        return f"{self.cluster.name}/{self.name}"

    # -- backend part (subclasses) --------------------------------------------------------
    def run(self, argv, timeout=10, check=True, input=None, user=None, env=None) -> subprocess.CompletedProcess:
        """Run argv inside the node (its network namespace), as `user` if given; text output captured."""
        raise NotImplementedError

    def popen(self, argv, **kw) -> subprocess.Popen:
        """A long-lived helper inside the node; it is killed with the node at teardown."""
        raise NotImplementedError

    def launch(self, argv, env=None, user=None) -> int:
        """Start the server process (argv) with extra env; return and remember its PID."""
        raise NotImplementedError

    def write_file(self, path, content: str, user=None, mode=0o644) -> None:
        raise NotImplementedError

    def read_file(self, path) -> str | None:
        raise NotImplementedError

    def copy_tree(self, source_node, src, dst, user=None) -> None:
        """Copy directory src of source_node to dst on this node (used to seed Galera joiners)."""
        raise NotImplementedError

    def _run_wrapped(self, argv, full, timeout, check, input, env=None) -> subprocess.CompletedProcess:
        """Run `full` (argv as the backend wraps it to reach the node); errors name the node and argv."""
        try:
            cp = subprocess.run(full, capture_output=True, text=True, timeout=timeout, input=input, env=env)
        except subprocess.TimeoutExpired:
            raise NodeTimeout(self, argv, timeout) from None
        if check and cp.returncode != 0:
            raise NodeCommandError(self, argv, cp)
        return cp

    @property
    def pid(self) -> int | None:
        return self.spec.get("pid")

    def alive(self) -> bool:
        raise NotImplementedError

    def server_pids(self) -> list[int]:
        """The server and its child processes (postgres backends, SST scripts)."""
        return [self.pid] if self.pid and self.alive() else []

    def signal(self, sig) -> list[int]:
        """Signal the whole server process tree: SIGSTOP of a postmaster alone would leave its
        backends serving, SIGKILL of it alone would leave orphans holding shared memory.
        Returns the PIDs signalled."""
        pids = self.server_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    # -- lifecycle (backend-neutral) ------------------------------------------------------
    def start(self, env=None, wait=True, timeout=60.0) -> None:
        """Start the server (Galera: recover position and rejoin by IST). env: extra variables
        for this start and later restarts without env (e.g. libfaketime); {} clears them."""
        if self.alive():
            return
        if env is not None:
            self.env = dict(env)
            self.spec["env"] = self.env
        self.cluster.dbdef.start(self.cluster, self, wait=wait, timeout=timeout)

    def stop(self, timeout=30.0) -> None:
        """Clean shutdown (the database's own stop signal to the server process only: its children
        are its business), SIGKILL of the whole tree when that takes longer than timeout."""
        if not self.alive():
            return
        pids = self.signal(sig_mod.SIGCONT)  # a paused server cannot shut down
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, getattr(self.cluster.dbdef, "stop_signal", sig_mod.SIGTERM))
        deadline = time.monotonic() + timeout
        while any(netns.pid_alive(p) for p in pids) or self.alive():
            if time.monotonic() > deadline:
                self.kill()
                return
            time.sleep(0.02)

    def kill(self, sig=sig_mod.SIGKILL) -> None:
        pids = self.signal(sig)
        if sig == sig_mod.SIGKILL:
            # every process of the tree, not just the server: orphans would block the restart
            deadline = time.monotonic() + 10
            while any(netns.pid_alive(p) for p in pids) or self.alive():
                if time.monotonic() > deadline:
                    raise ClusterError(f"{self}: processes {pids} survived SIGKILL")
                time.sleep(0.01)

    def restart(self, env=None, wait=True, timeout=60.0) -> None:
        self.stop()
        self.start(env=env, wait=wait, timeout=timeout)

    def pause(self) -> None:
        self.signal(sig_mod.SIGSTOP)

    def resume(self) -> None:
        self.signal(sig_mod.SIGCONT)

    def _wait_dead(self, timeout) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


def _as_user(user):
    if not user or user == "root":
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"]


class NetnsNode(Node):
    """A node = a network namespace on this machine; the filesystem is shared with the host."""

    shares_host_fs = True

    def __init__(self, cluster, spec):
        super().__init__(cluster, spec)
        self.ns = spec["ns"]
        self._proc = None  # Popen of the server when this process started it (to reap it)

    def _wrap(self, argv, user=None):
        return ["ip", "netns", "exec", self.ns] + _as_user(user) + [str(a) for a in argv]

    def run(self, argv, timeout=10, check=True, input=None, user=None, env=None):
        return self._run_wrapped(argv, self._wrap(argv, user), timeout, check, input,
                                 env={**os.environ, **env} if env else None)

    def popen(self, argv, **kw):
        return subprocess.Popen(self._wrap(argv, kw.pop("user", None)), **kw)

    def launch(self, argv, env=None, user=None) -> int:
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        with open(self.log_path, "ab") as log:
            # ip netns exec and setpriv both exec: the PID is the server's own
            self._proc = subprocess.Popen(self._wrap(argv, user), stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=log, start_new_session=True,
                                          env={**os.environ, **env} if env else None)
        self.spec["pid"] = self._proc.pid
        self.cluster.save()
        return self._proc.pid

    def write_file(self, path, content, user=None, mode=0o644):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(content)
        os.chmod(path, mode)
        if user:
            pw = pwd.getpwnam(user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def read_file(self, path):
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def copy_tree(self, source_node, src, dst, user=None):
        if os.path.exists(dst):
            shutil.rmtree(dst)
        netns.sh(["cp", "-a", src, dst], timeout=60)

    def server_pids(self) -> list[int]:
        if not self.alive():
            return []
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def alive(self) -> bool:
        pid = self.pid
        if not pid:
            return False
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        # started by another harness process: same PID, still in our namespace, not a zombie
        return netns.pid_alive(pid) and netns.pid_ns_inode(pid) == netns.ns_inode(self.ns)
