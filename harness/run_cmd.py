"""`harness run` (one test against a fresh or running cluster) and `harness analyze RUN_DIR`.

Exit status: 0 valid, 1 invalid, 2 could not run / could not decide (the message says why).
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from harness.backends import ssh_config
from harness.cluster import server_options
from harness.errors import UsageError
from harness.spec import BACKENDS, DB_NAMES, ISOLATIONS, ROUTINGS, TestSpec
from nemesis import FAULTS
from workloads import WORKLOADS

# The flags' defaults are TestSpec's: a run from the command line and one from a spec agree.
DEFAULTS = {f.name: f.default for f in dataclasses.fields(TestSpec) if f.default is not dataclasses.MISSING}


def register(sub):
    d = DEFAULTS
    p = sub.add_parser("run", help="run a workload against a cluster under faults, check it, report",
                       description="Bring up a cluster (or use --cluster), run the workload with "
                                   "concurrent clients, record the history, check it, write the report.")
    p.add_argument("--db", required=True, help=f"one of {', '.join(DB_NAMES)}")
    p.add_argument("--workload", required=True, help=f"one of {', '.join(WORKLOADS)}")
    p.add_argument("--nodes", type=int, help="node count (default: the db's usual topology)")
    p.add_argument("--backend", default=d["backend"], help=f"one of {', '.join(BACKENDS)}")
    ssh_config.add_flags(p)
    p.add_argument("--isolation", default=d["isolation"], help=f"one of {', '.join(ISOLATIONS)}")
    p.add_argument("--model", help="consistency model to check (default: the isolation's; "
                                   "serializable -> strict-serializable)")
    p.add_argument("--routing", default=d["routing"], help=f"one of {', '.join(ROUTINGS)}")
    p.add_argument("--nemesis", default="",
                   help="comma-separated faults, e.g. partition,kill (a+b: both at once); known: "
                        + ", ".join(sorted(FAULTS)))
    p.add_argument("--network", default=d["network"],
                   help="delay between the database machines for the whole run: loopback (none), "
                        "lan (0.25 ms one way), wan (20 ms)")
    p.add_argument("--nemesis-interval", type=float, default=d["nemesis_interval"], metavar="SECONDS")
    p.add_argument("--time-limit", type=float, default=d["time_limit"], metavar="SECONDS")
    p.add_argument("--final-time-limit", type=float, default=d["final_time_limit"], metavar="SECONDS")
    p.add_argument("--concurrency", type=int, default=d["concurrency"])
    p.add_argument("--rate", type=float, default=d["rate"], metavar="OPS_PER_S", help="0 = unlimited")
    p.add_argument("--seed", type=int)
    p.add_argument("--store", default=d["store"], metavar="DIR")
    p.add_argument("--op-timeout", type=float, default=d["op_timeout"], metavar="SECONDS")
    p.add_argument("--knob", action="append", default=[], metavar="KEY=VALUE", help="db knob (repeatable)")
    server_options.add_arguments(p)
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="workload option, e.g. key_count=10 (repeatable)")
    p.add_argument("--name", help="test name in the store (default: db-workload-routing[-nemesis])")
    p.add_argument("--cluster", metavar="NAME", help="use this running cluster (reset, not torn down)")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML result")
    p.add_argument("--json", action="store_true", help="print results.json to stdout")
    p.add_argument("--no-progress", action="store_true", help="no live view on the terminal")
    p.add_argument("--history-compress", action="store_true",
                   help="write history.jsonl.gz (gzip, flushed as the run goes) instead of history.jsonl")
    p.set_defaults(func=cmd_run)

    a = sub.add_parser("analyze", help="re-check a stored run (rewrites results.json and the report)")
    a.add_argument("run_dir", metavar="RUN_DIR")
    a.add_argument("--model", help="check against this model instead of the run's")
    a.add_argument("--junit", metavar="FILE")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_analyze)


def parse_pairs(pairs: list[str], what: str) -> dict:
    """KEY=VALUE strings -> dict; values parsed as JSON when they are JSON (numbers, true...)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} must look like KEY=VALUE, not {pair!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def spec_from_args(args) -> TestSpec:
    return TestSpec(db=args.db, workload=args.workload, nodes=args.nodes, backend=args.backend,
                    isolation=args.isolation, routing=args.routing,
                    nemesis=[n.strip() for n in args.nemesis.split(",") if n.strip()],
                    nemesis_interval=args.nemesis_interval, time_limit=args.time_limit,
                    final_time_limit=args.final_time_limit, concurrency=args.concurrency,
                    rate=args.rate, seed=args.seed, store=args.store, op_timeout=args.op_timeout,
                    model=args.model,
                    knobs=server_options.from_args(args, parse_pairs(args.knob, "--knob"), args.db),
                    workload_opts=parse_pairs(args.opt, "--opt"), name=args.name, network=args.network,
                    history_compress=args.history_compress)


def exit_code(results: dict) -> int:
    return {True: 0, False: 1}.get(results.get("valid"), 2)


def summary_line(r: dict) -> str:
    """One line: verdict, what ran, how much, where the report is (the report's summary line plus
    routing, model and throughput)."""
    from harness.report.verdict import summary_line as report_line
    run = r.get("run") or {}
    line = report_line(r, db=r.get("db", "?"), workload=r.get("workload", "?"), nemesis=r.get("nemesis"),
                       report_path=r.get("report") or r.get("run_dir"))
    extra = f"{r.get('isolation')} judged as {r.get('model')}, routing {r.get('routing')}"
    if run.get("throughput") is not None:
        extra += f", {run['throughput']} ops/s"
    return f"{line} — {extra}"


def cmd_run(args) -> int:
    from harness.runner import run_test
    ssh_config.apply(args)
    spec = spec_from_args(args)
    spec.validate()
    cluster = None
    if args.cluster and (args.server_opt or args.server_config):
        raise UsageError("--server-opt and --server-config shape a new cluster; --cluster runs with the "
                         "cluster's own (its settings are recorded)")
    if args.cluster:
        try:
            from harness.cluster import load
            cluster = load(args.cluster)
        except UsageError:
            raise
        except Exception as e:
            raise UsageError(f"cannot attach to cluster {args.cluster!r}: {e}") from None
        if cluster.db != spec.db:
            raise UsageError(f"cluster {args.cluster!r} runs {cluster.db}, not {spec.db}")
    results = run_test(spec, cluster=cluster, junit=args.junit, live=False if args.no_progress else None)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    print(summary_line(results), file=sys.stderr if args.json else sys.stdout)
    return exit_code(results)


def cmd_analyze(args) -> int:
    from harness.runner import analyze
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    results = analyze(run_dir, model=args.model, junit=args.junit)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    print(summary_line(results), file=sys.stderr if args.json else sys.stdout)
    return exit_code(results)
