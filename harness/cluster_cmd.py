"""`harness cluster up/down/status` and `harness cleanup`."""
import json
import signal
import subprocess
from pathlib import Path

from harness import cluster as cl
from harness.backends import DEFAULT as DEFAULT_BACKEND, ssh_config
from harness.cluster import server_options, state
from harness.errors import UsageError


def parse_knobs(pairs) -> dict:
    knobs = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--knob {pair!r}: expected KEY=VALUE")
        knobs[key.strip().replace("-", "_")] = value.strip()
    return knobs


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # up() tears down what it made on any exception, this one included


def cmd_up(args) -> int:
    ssh_config.apply(args)
    signal.signal(signal.SIGTERM, _interrupt)
    c = cl.up(db=args.db, nodes=args.nodes, backend=args.backend, name=args.name,
              knobs=server_options.from_args(args, parse_knobs(args.knob), args.db), timeout=args.timeout)
    if args.json:
        print(json.dumps({"name": c.name, "db": c.db, "nodes": [n.ip for n in c.nodes],
                          "user": c.user, "password": c.password, "database": c.database}))
    else:
        print(f"cluster {c.name} ({c.db}, {len(c.nodes)} nodes) is up: "
              + ", ".join(f"{n.name}={n.ip}" for n in c.nodes))
        print(f"  user {c.user}  password {c.password}  database {c.database}")
    return 0


def cmd_down(args) -> int:
    names = [args.name] if args.name else [r["name"] for r in cl.list_clusters()]
    if not names:
        print("no clusters")
        return 0
    if not args.name and len(names) > 1:
        raise UsageError(f"several clusters exist ({', '.join(names)}): pick one with --name, "
                         "or run `harness cleanup`")
    for name in names:
        cl.down(name)
        print(f"cluster {name} removed")
    return 0


def cmd_status(args) -> int:
    records = cl.list_clusters()
    if args.name:
        records = [r for r in records if r["name"] == args.name]
        if not records:
            raise UsageError(f"no cluster named {args.name!r}")
    out = []
    for rec in records:
        entry = {k: rec.get(k) for k in ("name", "db", "backend", "status", "knobs", "versions")}
        try:
            entry["nodes"] = cl.load(rec["name"]).status()
        except UsageError as e:
            entry["nodes"], entry["error"] = [], str(e)
        out.append(entry)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    if not out:
        print("no clusters")
    for entry in out:
        print(f"{entry['name']}: {entry['db']} ({entry['backend']}, {entry['status']})"
              + (f"  {entry['error']}" if entry.get("error") else ""))
        for n in entry["nodes"]:
            extra = " ".join(f"{k}={v}" for k, v in n.items()
                             if k not in ("name", "ip", "role", "pid", "alive"))
            print(f"  {n['name']} {n['ip']:<12} {n['role']:<8} pid={n['pid']} "
                  f"{'up' if n['alive'] else 'DOWN'} {extra}")
    return 0


def cmd_cleanup(args) -> int:
    """Everything the harness made, except the clusters whose run is still alive (unless --force)."""
    live = {} if args.force else {r["name"]: (r, pid) for r in cl.list_clusters() if (pid := state.live_owner(r))}
    for name, (_, pid) in sorted(live.items()):
        print(f"skipped cluster {name}: its run (pid {pid}) is still alive (--force removes it anyway)")
    hosts = ssh_config.parse(args.hosts, args.ssh_user, args.ssh_key, args.ssh_port) if args.hosts else None
    removed = cl.cleanup_all(caches=True, keep=set(live))
    print(f"removed {len(removed)} cluster(s)" + (f": {', '.join(removed)}" if removed else ""))
    if hosts:
        from harness.backends.ssh import sweep
        for line in sweep(hosts):
            print(line)
    from nemesis.cleanup import cleanup_remembered  # delayers outside any namespace (docker backend)
    for line in cleanup_remembered(keep_netns=_netns_of(r for r, _ in live.values())):
        print(line)
    if args.docker:
        if any(r.get("backend") == "docker" for r, _ in live.values()):
            print("left labelled docker containers alone: a docker cluster above is still in use")
            return 0
        try:
            from harness.backends.docker import cleanup_docker
        except ImportError:
            return 0
        for line in cleanup_docker():
            print(f"removed {line}")
    return 0


def _netns_of(records) -> set[str]:
    """The network namespaces ('net:[inode]') of these clusters' nodes (netns and docker backend)."""
    out = set()
    for r in records:
        out |= {f"net:[{ino}]" for ino in (r.get("ns_inodes") or {}).values() if ino}
        out |= {f"net:[{n['netns_inode']}]" for n in r.get("nodes", []) if n.get("netns_inode")}
    return out


def cmd_setup(args) -> int:
    script = Path(__file__).resolve().parent.parent / "setup.sh"
    if not script.is_file():
        raise UsageError(f"{script} not found: install mariadb-server galera-4 postgresql iptables rsync "
                         "socat libfaketime with apt-get")
    return subprocess.run(["bash", str(script)], timeout=3600).returncode


def register(subparsers) -> None:
    p = subparsers.add_parser("cluster", help="bring real database clusters up and down")
    sub = p.add_subparsers(dest="cluster_command", metavar="ACTION")
    sub.required = True
    u = sub.add_parser("up", help="create a cluster and wait until it is ready")
    u.add_argument("--db", required=True, help=f"one of {', '.join(cl.DB_NAMES)}")
    u.add_argument("--nodes", type=int, default=None, help="node count (default per db)")
    u.add_argument("--backend", default=DEFAULT_BACKEND, choices=cl.BACKENDS)
    u.add_argument("--name", default=None, help="cluster name (default: DB-random)")
    ssh_config.add_flags(u)
    u.add_argument("--knob", action="append", metavar="KEY=VALUE",
                   help="db knob, repeatable: every db isolation=LEVEL; galera wsrep_sync_wait=0|1|3|7, "
                        "fast_failure_detection=true|false, camunda=true; mariadb-mm master_delay=S; "
                        "postgres-standby standbys=N, "
                        "synchronous_commit=off|local|on|remote_write|remote_apply, synchronous_standbys=N, "
                        "recovery_min_apply_delay=MS")
    server_options.add_arguments(u)
    u.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for readiness")
    u.add_argument("--json", action="store_true", help="print name, addresses and credentials as JSON")
    u.set_defaults(func=cmd_up)
    d = sub.add_parser("down", help="tear a cluster down (all of it)")
    d.add_argument("--name", default=None)
    d.set_defaults(func=cmd_down)
    s = sub.add_parser("status", help="list clusters and their nodes")
    s.add_argument("--name", default=None)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)
    c = subparsers.add_parser("cleanup", help="remove everything the harness ever created (clusters, "
                                              "namespaces, processes, data dirs), except clusters whose "
                                              "run is still alive (unless --force)")
    c.add_argument("--no-docker", dest="docker", action="store_false",
                   help="leave labelled docker containers/networks of other state dirs alone")
    c.add_argument("--force", action="store_true",
                   help="also remove clusters whose run (the process that made them) is still alive")
    ssh_config.add_flags(c)
    c.set_defaults(func=cmd_cleanup)
    st = subparsers.add_parser("setup", help="install the Debian packages the backends need (idempotent, "
                                             "runs ./setup.sh)")
    st.set_defaults(func=cmd_setup)

