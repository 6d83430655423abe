"""`harness` command line: one subcommand per module, each owning its own arguments.

Every command module exposes `register(subparsers)`, which adds its parser(s) and sets
`func` to a callable taking the parsed args and returning an exit status.
"""
import argparse
import importlib
import sys

from harness.errors import UsageError

# module names under harness/ that contribute subcommands, in help order
COMMAND_MODULES = [
    "check_cmd",     # check
    "run_cmd",       # run, analyze
    "cluster_cmd",   # cluster up/down/status, cleanup, setup
    "setup_cmd",     # setup --hosts (extends cluster_cmd's setup)
    "serve_cmd",     # serve
    "certify_cmd",   # certify
    "docker_cmd",    # docker build
    "probe_cmd",     # probe
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Can this database cluster safely hold a process engine's state? "
                    "Run real workloads under real faults and prove anomalies.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"harness.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"harness {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"harness {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
