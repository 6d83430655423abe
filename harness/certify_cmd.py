"""`harness certify [--profile NAME | --matrix FILE]`: judge candidate architectures, issue a certificate.

Exit status: 0 every architecture SAFE, 1 at least one UNSAFE, 2 could not run, or some
architecture INCONCLUSIVE or NOT-EXERCISED (never SAFE without exercised evidence).
"""
import logging
import os
import time

from harness.backends import ssh_config
from harness.errors import UsageError


def register(sub):
    p = sub.add_parser("certify", help="run a matrix of architectures and issue a certificate",
                       description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--profile", default=None, help="built-in matrix: camunda-7 (default), quick")
    src.add_argument("--matrix", help="a TOML or YAML matrix file")
    p.add_argument("--runs", type=int, help="runs per cell and fault set (default 1)")
    p.add_argument("--time-limit", type=float, help="seconds of each run's main phase")
    p.add_argument("--min-exposure", type=int, default=None,
                   help="times every risk of a topology must be exercised for a SAFE (default 50)")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="per cell: keep running fresh seeds until a violation or the budget is spent")
    p.add_argument("--no-probe", action="store_true",
                   help="skip the READ COMMITTED probe per topology (the certificate's column says 'not probed')")
    ssh_config.add_flags(p)  # cells with backend = "ssh" and no hosts of their own
    p.add_argument("--store", default="store")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=main)


def use_hosts(matrix, args) -> None:
    """--hosts for every ssh cell without hosts of its own; a cell's own hosts for its topology."""
    ssh_config.apply(args)
    for cell in matrix.cells:
        if cell.backend != "ssh":
            continue
        if cell.host_list:
            ssh_config.for_topology(cell.db, cell.nodes, cell.knobs, cell.host_list)
        elif not os.environ.get(ssh_config.ENV["hosts"]):  # apply() put --hosts there
            raise UsageError(f'cell {cell.name!r}: backend = "ssh" needs hosts = FILE|[...] in the matrix or '
                             "--hosts HOST,...|FILE")


def main(args) -> int:
    import random

    from harness.certify.certificate import table
    from harness.certify.matrix import load_matrix, profile
    from harness.certify.run import certify
    from harness.certify.verdict import SAFE, UNSAFE

    matrix = load_matrix(args.matrix) if args.matrix else profile(args.profile or "camunda-7")
    if args.runs is not None:
        matrix.runs = args.runs
    if args.time_limit is not None:
        matrix.time_limit = args.time_limit
    if args.min_exposure is not None:
        matrix.min_exposure = args.min_exposure
    if args.budget is not None:
        matrix.budget = args.budget
    if args.no_probe:
        matrix.probe = False
    use_hosts(matrix, args)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    # the terminal gets warnings only; each run's harness.log gets everything (the runner adds it)
    terminal = logging.StreamHandler()
    terminal.setLevel(logging.WARNING)
    terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(terminal)
    t0 = time.monotonic()
    networks = sorted({c.network for c in matrix.cells})
    print(f"certify {matrix.name}: {len(matrix.cells)} architectures, {matrix.time_limit:g} s per run, "
          f"network {'/'.join(networks)} between the machines, seed {seed}")
    cert, out = certify(matrix, store=args.store, seed=seed)
    print()
    print(table(cert))
    print()
    for r in cert["rows"]:
        print(f"{r['cell']}: {r['evidence']}; READ COMMITTED through the load balancer: {r['rc']['text']}")
    print()
    print(f"{cert['question']}\n{cert['answer']}")
    print()
    print(f"certificate: {out}/certificate.html (and .md, .json); total wall time {time.monotonic() - t0:.0f} s")
    verdicts = {r["verdict"] for r in cert["rows"]}
    if UNSAFE in verdicts:
        return 1
    return 0 if verdicts <= {SAFE} else 2  # INCONCLUSIVE or NOT-EXERCISED
