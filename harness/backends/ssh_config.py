"""Which hosts the ssh backend uses: `--hosts HOST[,HOST...]` or `--hosts FILE` (TOML or YAML).

    --hosts 10.0.0.11,admin@10.0.0.12:2222 [--ssh-user U] [--ssh-key FILE] [--ssh-port N]

A hosts file (defaults apply to every host; a host's own keys win; a host may be a bare string):

    [defaults]                         # TOML            defaults:            # YAML
    user = "admin"                                         user: admin
    key = "~/.ssh/harness"                                 sudo: true
    sudo = true                                          hosts:
    [[hosts]]                                              - 10.0.0.11
    address = "10.0.0.11"                                  - {address: db2, ip: 10.0.0.12, port: 2222}

Per-host keys: address, user, port, key, sudo, base_dir (where the harness writes, default
/var/lib/engine-harness-node), ip (what the databases bind to; default: address).
The command line sets HARNESS_SSH_HOSTS/_USER/_KEY/_PORT, which `up(backend="ssh")` reads, so the
runner, probe and certify pass them on unchanged. A certification matrix's cell may name its own
hosts (`hosts = "FILE"` or a list): certify registers them per topology (`for_topology`), and
`up` takes them over the environment's for a cluster of that topology.
"""
import ipaddress
import json
import os
import re
import socket
import tomllib
from pathlib import Path

from harness.backends.ssh_transport import Host
from harness.errors import UsageError

ENV = {"hosts": "HARNESS_SSH_HOSTS", "ssh_user": "HARNESS_SSH_USER", "ssh_key": "HARNESS_SSH_KEY",
       "ssh_port": "HARNESS_SSH_PORT"}
KEYS = ("address", "user", "port", "key", "sudo", "base_dir", "ip")
HOST_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<address>[A-Za-z0-9._-]+|\[[0-9a-fA-F:]+\])"
                     r"(?::(?P<port>\d+))?$")


def add_flags(parser) -> None:
    """The ssh backend's flags on a command (cluster up, run, probe, cleanup)."""
    parser.add_argument("--hosts", metavar="HOST,...|FILE",
                        help="ssh backend: the database hosts, or a TOML/YAML hosts file")
    parser.add_argument("--ssh-user", metavar="USER", help="ssh login user (default root)")
    parser.add_argument("--ssh-key", metavar="FILE", help="ssh private key")
    parser.add_argument("--ssh-port", type=int, metavar="PORT", help="ssh port (default 22)")


def apply(args) -> None:
    """Check the flags now (one line, exit 2) and hand them to the ssh backend through the environment."""
    given = {k: getattr(args, k, None) for k in ENV}
    if given["hosts"] is None and any(v is not None for v in given.values()):
        raise UsageError("--ssh-user/--ssh-key/--ssh-port need --hosts")
    if given["hosts"] is None:
        return
    if getattr(args, "backend", "ssh") != "ssh":
        raise UsageError("--hosts is for --backend ssh")
    parse(given["hosts"], user=given["ssh_user"], key=given["ssh_key"], port=given["ssh_port"])
    for k, v in given.items():
        if v is not None:
            os.environ[ENV[k]] = str(v)


_BY_TOPOLOGY: dict[str, list[Host]] = {}  # topology_key -> a matrix cell's own hosts (certify)


def topology_key(db: str, nodes, knobs) -> str:
    """What `up` is given for a cluster, as certify's cells give it (db, nodes, knobs)."""
    return json.dumps([db, nodes, knobs or {}], sort_keys=True)


def for_topology(db: str, nodes, knobs, hosts: list[Host]) -> None:
    """Clusters of this topology go to these hosts (one cluster per topology: a second, different
    set of hosts for the same topology is refused)."""
    key = topology_key(db, nodes, knobs)
    if _BY_TOPOLOGY.get(key, hosts) != hosts:
        raise UsageError(f"two cells of the same topology ({db}, nodes {nodes}, knobs {knobs or {}}) name "
                         "different hosts: one cluster serves a topology (give them different knobs or hosts)")
    _BY_TOPOLOGY[key] = hosts


def hosts_for(db: str, nodes, knobs) -> list[Host]:
    """A cell's own hosts for this topology, else --hosts (the environment)."""
    return _BY_TOPOLOGY.get(topology_key(db, nodes, knobs)) or from_env()


def from_env() -> list[Host]:
    spec = os.environ.get(ENV["hosts"])
    if not spec:
        raise UsageError("--backend ssh needs --hosts HOST[,HOST...] or --hosts FILE")
    port = os.environ.get(ENV["ssh_port"])
    return parse(spec, user=os.environ.get(ENV["ssh_user"]), key=os.environ.get(ENV["ssh_key"]),
                 port=int(port) if port else None)


def parse(spec: str, user=None, key=None, port=None) -> list[Host]:
    """Hosts from a comma list or a file; command-line user/key/port are defaults a file can override."""
    defaults = {k: v for k, v in (("user", user), ("key", key), ("port", port)) if v is not None}
    path = Path(spec)
    if path.suffix in (".toml", ".yaml", ".yml", ".json") or path.is_file():
        hosts = _from_file(path, defaults)
    else:
        hosts = [_from_word(w.strip(), defaults) for w in spec.split(",") if w.strip()]
    if not hosts:
        raise UsageError(f"--hosts {spec!r}: no hosts")
    seen = set()
    for h in hosts:
        if (h.address, h.port) in seen:
            raise UsageError(f"--hosts: {h.address}:{h.port} is listed twice")
        seen.add((h.address, h.port))
    return hosts


def _from_word(word: str, defaults: dict) -> Host:
    m = HOST_RE.match(word)
    if not m:
        raise UsageError(f"--hosts: bad host {word!r} (expected [USER@]ADDRESS[:PORT])")
    d = dict(defaults, address=m.group("address").strip("[]"))
    if m.group("user"):
        d["user"] = m.group("user")
    if m.group("port"):
        d["port"] = int(m.group("port"))
    return _host(d, f"--hosts {word!r}")


def _from_file(path: Path, defaults: dict) -> list[Host]:
    try:
        text = path.read_text()
    except OSError as e:
        raise UsageError(f"--hosts {path}: cannot read ({e.strerror})") from None
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            import yaml
            data = yaml.safe_load(text)
    except Exception as e:  # noqa: BLE001 - tomllib and yaml errors: one line with the parser's words
        raise UsageError(f"--hosts {path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: "
                         f"{str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), list):
        raise UsageError(f"--hosts {path}: expected a 'hosts' list")
    file_defaults = data.get("defaults") or {}
    if not isinstance(file_defaults, dict):
        raise UsageError(f"--hosts {path}: 'defaults' must be a table of host keys")
    base = {**defaults, **file_defaults}
    out = []
    for i, entry in enumerate(data["hosts"], 1):
        where = f"--hosts {path}: host {i}"
        if isinstance(entry, str):
            h = _from_word(entry, base)
            out.append(h)
            continue
        if not isinstance(entry, dict):
            raise UsageError(f"{where}: expected an address or a table")
        out.append(_host({**base, **entry}, where))
    return out


def _host(d: dict, where: str) -> Host:
    unknown = sorted(set(d) - set(KEYS))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    if not d.get("address") or not isinstance(d["address"], str):
        raise UsageError(f"{where}: no address")
    port = d.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise UsageError(f"{where}: port must be 1..65535, not {port!r}")
    if not isinstance(d.get("sudo", False), bool):
        raise UsageError(f"{where}: sudo must be true or false")
    for k in ("user", "key", "base_dir", "ip"):
        if k in d and not isinstance(d[k], str):
            raise UsageError(f"{where}: {k} must be a string")
    base_dir = d.get("base_dir", Host.base_dir)
    if not base_dir.startswith("/") or len(base_dir.rstrip("/")) < 2 or ".." in base_dir.split("/"):
        raise UsageError(f"{where}: base_dir must be an absolute path below / (not {base_dir!r})")
    ip = d.get("ip") or _resolve(d["address"], where)
    return Host(address=d["address"], user=d.get("user", "root"), port=port, key=d.get("key"),
                sudo=d.get("sudo", False), base_dir=base_dir.rstrip("/"), ip=ip)


def _resolve(address: str, where: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        pass
    try:
        return socket.gethostbyname(address)
    except OSError:
        raise UsageError(f"{where}: cannot resolve {address!r} (give its ip)") from None
