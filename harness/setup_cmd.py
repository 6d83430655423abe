"""`harness setup --hosts HOSTS`: the Debian 12 packages the ssh backend needs, on each host.

    harness setup --hosts hosts.toml [--dry-run] [--timeout S]

One script per host over ssh (the same hosts syntax and flags as `cluster up`): dpkg-query tells
which packages are missing, apt-get installs only those (the distro's services kept from starting
meanwhile, as ./setup.sh does here), then the distro's mariadb and postgresql services are
disabled (the harness starts its own servers). One line per host. `--dry-run` prints each host's
command and contacts nobody. Without --hosts: this machine's ./setup.sh (cluster_cmd).
"""
import concurrent.futures
import shlex
import subprocess

from harness.backends import ssh_config
from harness.backends.ssh_transport import TRANSPORT, Host, remote_command
from harness.errors import ClusterError, UsageError

# what the ssh backend runs on a host: the servers, Galera's rsync SST, iptables (partitions, loss),
# iproute2 (tc netem for lag, ss for SST), libfaketime (clock skew)
PACKAGES = ("mariadb-server", "mariadb-client", "galera-4", "postgresql", "rsync", "iptables", "iproute2",
            "libfaketime")
SERVICES = ("mariadb", "postgresql")
TIMEOUT = 1200.0  # apt-get update + install of the whole list on a slow mirror

# $1 = the services to disable, then the packages. Prints "missing: ..." and "services: ..." lines;
# apt's own output goes to stderr (its last line names a failure).
SCRIPT = r"""set -e
services=$1; shift
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
echo "missing:$missing"
if [ -n "$missing" ]; then
  if [ ! -e /usr/sbin/policy-rc.d ]; then  # no distro server starts during the install
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -q -o DPkg::Lock::Timeout=120 update >&2
  apt-get -q -o DPkg::Lock::Timeout=120 install -y --no-install-recommends $missing >&2
fi
if [ -d /run/systemd/system ]; then
  for s in $services; do systemctl disable --now "$s.service" >&2 || true; done
  echo "services: disabled"
else
  echo "services: no systemd running"
fi
"""


def command(host: Host, timeout: float = TIMEOUT) -> str:
    """The command line the host's shell runs (sudo and a remote timeout as every harness call)."""
    return remote_command(host, ["sh", "-c", SCRIPT, "sh", " ".join(SERVICES), *PACKAGES], timeout=timeout)


def summary(host: Host, stdout: str) -> str:
    """The host's one line from the script's output."""
    fields = dict(ln.split(":", 1) for ln in stdout.splitlines() if ":" in ln)
    missing = fields.get("missing", "").split()
    done = f"installed {' '.join(missing)}" if missing else f"all {len(PACKAGES)} packages present, installed nothing"
    services = fields.get("services", "").strip()
    tail = f"{', '.join(SERVICES)} services disabled" if services == "disabled" else \
        "no systemd running: no distro service to disable"
    return f"{host}: {done}; {tail}"


def setup_host(host: Host, timeout: float) -> tuple[bool, str]:
    try:
        cp = TRANSPORT.run(host, command(host, timeout), timeout)
    except subprocess.TimeoutExpired:
        return False, f"{host}: setup timed out after {timeout:g}s"
    except (ClusterError, UsageError) as e:
        return False, str(e)
    finally:
        TRANSPORT.close(host)
    if cp.returncode != 0:
        why = "timed out on the host" if cp.returncode == 124 else \
            ((cp.stderr or "").strip().splitlines() or [f"exit {cp.returncode}"])[-1][:300]
        return False, f"{host}: setup failed: {why}"
    return True, summary(host, cp.stdout)


def cmd_setup(args) -> int:
    if not args.hosts:
        if args.dry_run or any(getattr(args, k) is not None for k in ("ssh_user", "ssh_key", "ssh_port")):
            raise UsageError("--dry-run/--ssh-user/--ssh-key/--ssh-port need --hosts")
        from harness.cluster_cmd import cmd_setup as local_setup  # this machine: ./setup.sh
        return local_setup(args)
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, not {args.timeout:g}")
    hosts = ssh_config.parse(args.hosts, user=args.ssh_user, key=args.ssh_key, port=args.ssh_port)
    if args.dry_run:
        for h in hosts:
            print(f"{h}: ssh -p {h.port} -l {shlex.quote(h.user)} {h.address} -- {command(h, args.timeout)}")
        return 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
        results = list(pool.map(lambda h: setup_host(h, args.timeout), hosts))
    for _, line in results:
        print(line)
    return 0 if all(ok for ok, _ in results) else 2


def register(subparsers) -> None:
    # `setup` (this machine) is cluster_cmd's; --hosts extends it to the ssh hosts
    p = subparsers.choices.get("setup") or subparsers.add_parser("setup")
    p.description = "Install the Debian packages the backends need (idempotent): on this machine " \
                    "(./setup.sh), or with --hosts on the ssh backend's hosts."
    ssh_config.add_flags(p)
    p.add_argument("--dry-run", action="store_true", help="with --hosts: print each host's command, run nothing")
    p.add_argument("--timeout", type=float, default=TIMEOUT, metavar="S",
                   help=f"with --hosts: seconds per host (default {TIMEOUT:g})")
    p.set_defaults(func=cmd_setup)
