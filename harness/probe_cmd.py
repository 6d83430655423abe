"""`harness probe`: the Hermitage fingerprint of a topology, same-node and cross-node.

Exit status: 0 equivalent to READ COMMITTED through the load balancer (or read-committed not asked),
1 not equivalent, 2 could not run (one line says why).
"""
from __future__ import annotations

import json
import signal
import sys

from harness.backends import ssh_config
from harness.cluster import server_options
from harness.errors import UsageError
from harness.isolation import LEVELS as ISOLATIONS
from harness.run_cmd import parse_pairs
from harness.spec import BACKENDS, DB_NAMES, DEFAULT_BACKEND


def register(sub):
    p = sub.add_parser("probe", help="Hermitage's isolation tests plus engine probes, with the two "
                                     "sessions on one node and on two nodes of the cluster",
                       description="For every isolation level asked and every placement (same-node, each "
                                   "cross-node pair), run G0 G1a G1b G1c OTV PMP P4 G-single G2-item G2 and "
                                   "rev-cas for-update unique-insert; print the table beside Hermitage's and "
                                   "the verdict: equivalent to READ COMMITTED through the load balancer?")
    p.add_argument("--db", required=True, help=f"one of {', '.join(DB_NAMES)}")
    p.add_argument("--nodes", type=int, help="node count (default: the db's usual topology)")
    p.add_argument("--backend", default=DEFAULT_BACKEND, help=f"one of {', '.join(BACKENDS)}")
    ssh_config.add_flags(p)
    p.add_argument("--knob", action="append", default=[], metavar="KEY=VALUE", help="db knob (repeatable)")
    server_options.add_arguments(p)
    p.add_argument("--isolation", default="", metavar="L,...",
                   help=f"levels to probe (default all: {','.join(ISOLATIONS)})")
    p.add_argument("--tests", default="", metavar="T,...", help="a subset of the tests (default all)")
    p.add_argument("--cluster", metavar="NAME", help="probe this running cluster (left running)")
    p.add_argument("--block-timeout", type=float, default=0.3, metavar="S",
                   help="a step still running after S seconds is recorded as blocked (waits)")
    p.add_argument("--op-timeout", type=float, default=10.0, metavar="S",
                   help="connect/read/write timeout of every database call")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", metavar="DIR", help="write DIR/probe.html and DIR/probe.json")
    p.set_defaults(func=cmd_probe)


def _names(text):
    return [x.strip() for x in text.split(",") if x.strip()] or None


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # the finally below tears down the cluster it made


def cmd_probe(args) -> int:
    from harness import cluster as cl
    from harness.probe import probe, rc_equivalent
    from harness.probe.api import check_names
    from harness.probe.render import text, write
    from harness.probe.runner import one_line

    if args.db not in DB_NAMES:
        raise UsageError(f"unknown db {args.db!r} (known: {', '.join(DB_NAMES)})")
    ssh_config.apply(args)
    isolations, tests = check_names(_names(args.isolation), _names(args.tests))
    for name, value in (("--block-timeout", args.block_timeout), ("--op-timeout", args.op_timeout)):
        if not 0 < value <= 3600:
            raise UsageError(f"{name} must be a number of seconds above 0, not {value}")
    knobs = server_options.from_args(args, parse_pairs(args.knob, "--knob"), args.db)
    signal.signal(signal.SIGTERM, _interrupt)
    made = None
    if args.cluster:
        if knobs or args.nodes:
            raise UsageError("--knob, --server-opt, --server-config and --nodes shape a new cluster; "
                             "--cluster probes one as it is")
        cluster = cl.load(args.cluster)
        if cluster.db != args.db:
            raise UsageError(f"cluster {args.cluster!r} runs {cluster.db}, not {args.db}")
    else:
        cluster = made = cl.up(db=args.db, nodes=args.nodes, backend=args.backend, knobs=knobs)
    try:
        result = probe(cluster, isolations, tests, block_timeout=args.block_timeout, op_timeout=args.op_timeout)
    except UsageError:
        raise
    except Exception as e:  # noqa: BLE001 - a database or OS failure outside a cell: one line, exit 2
        raise UsageError(f"probe of {cluster.name} failed: {one_line(e)}") from None
    finally:
        if made is not None:
            made.teardown()
    page = write(result, args.out) if args.out else None
    if args.json:
        print(json.dumps(result.to_dict(), indent=1, default=str))
    else:
        print(text(result))
    if page:
        print(f"report: {page}", file=sys.stderr if args.json else sys.stdout)
    ok, reasons = rc_equivalent(result)
    return 0 if ok or reasons == ["read-committed was not probed"] else 1
