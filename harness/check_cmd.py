"""`harness check HISTORY`: judge a recorded history with a workload's checker.

Exit 0 = valid, 1 = anomalies the model forbids, 2 = unknown or unusable input (one line says why,
with the file and line where it applies).
"""
from __future__ import annotations

import sys

from checkers.registry import CHECKERS
from harness.errors import UsageError

# rw-register's version-order assumptions: option name -> checker keyword
ASSUMPTIONS = {"sequential-keys": "sequential_keys", "linearizable-keys": "linearizable_keys",
               "wfr-keys": "wfr_keys"}
WORKLOADS = tuple(CHECKERS)  # the histories a checker judges, by workload name


def register(subparsers):
    p = subparsers.add_parser(
        "check", help="check a history file for isolation anomalies",
        description="Check a history (JSONL or Jepsen EDN) and prove anomalies with dependency cycles. "
                    "Exit 0 valid, 1 invalid under --model, 2 unknown or unusable input.")
    p.add_argument("history", metavar="HISTORY", help="history.jsonl or history.edn (either may be gzipped)")
    p.add_argument("--workload", choices=WORKLOADS, default=None,
                   help="which checker (default: guessed from the ops: append -> list-append, "
                        "w -> rw-register, f read/write/cas -> cas-register)")
    p.add_argument("--model", default=None,
                   help="consistency model to judge against (default strict-serializable; "
                        "read-committed for save-resume, the level the engine runs at)")
    p.add_argument("--out", metavar="DIR", help="write one explanation per anomaly type and a graph per cycle")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--budget", type=int, default=None,
                   help="cycle-search effort bound in visited states (default 2,000,000)")
    p.add_argument("--assume", default=None, metavar="A,B",
                   help="rw-register: per-key order assumptions the caller vouches for, comma "
                        "separated: " + ", ".join(ASSUMPTIONS))
    p.set_defaults(func=run)


def guess_workload(path) -> str:
    """list-append, rw-register or cas-register, from the first ops found in the file."""
    from checkers.history import iter_history
    seen = 0
    for _, op in iter_history(path):
        seen += 1
        if seen > 2000:
            break
        if op.get("f") in ("write", "cas") and op.get("process") != "nemesis":
            return "cas-register"  # single-object register ops (reads alone could be the bank's)
        value = op.get("value")
        if op.get("process") == "nemesis" or not isinstance(value, list):
            continue
        for m in value:
            if isinstance(m, list) and m:
                if m[0] == "append":
                    return "list-append"
                if m[0] == "w":
                    return "rw-register"
    return "list-append"


def assumptions(text, workload) -> dict:
    """--assume sequential-keys,wfr-keys -> {"sequential_keys": True, "wfr_keys": True}."""
    if not text:
        return {}
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in names if x not in ASSUMPTIONS]
    if unknown:
        raise UsageError(f"unknown --assume {', '.join(unknown)} (known: {', '.join(ASSUMPTIONS)})")
    if workload != "rw-register":
        raise UsageError(f"--assume applies to rw-register histories, not {workload}")
    return {ASSUMPTIONS[x]: True for x in names}


def run(args) -> int:
    from checkers import models
    from checkers.api import check_file
    from checkers.history import HistoryError
    from checkers.registry import checker_for
    try:
        workload = args.workload or guess_workload(args.history)
    except HistoryError as e:
        raise UsageError(str(e)) from None
    try:
        # a checker may name its own default (save-resume: read committed, the engine's level)
        default = getattr(checker_for(workload), "DEFAULT_MODEL", "strict-serializable")
        model = models.canonical(args.model or default)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        opts = {}
        if args.budget is not None:
            opts["budget"] = args.budget
        opts.update(assumptions(args.assume, workload))
        from harness.progress import task
        with task("check: reading the history", "check: analysing", args.history):
            result = check_file(args.history, workload, model, **opts)
    except HistoryError as e:
        raise UsageError(str(e)) from None
    if result.get("history_note"):
        print(f"harness check: note: {result['history_note']}", file=sys.stderr)
    if args.out:
        from checkers.render import write_explanations
        try:
            write_explanations(result, args.out)
        except OSError as e:
            raise UsageError(f"cannot write explanations to {args.out}: {e}") from None
    if args.json:
        import orjson
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_INDENT_2,
                                      default=str).decode() + "\n")
    else:
        print_summary(result, model, workload)
    valid = result["valid"]
    if valid is True:
        return 0
    if valid is False:
        return 1
    if not args.json:
        print(f"harness check: unknown: {result.get('unknown_reason', 'undetermined')}", file=sys.stderr)
    return 2


def print_summary(result, model, workload):
    st = result["stats"]
    counts = st.get("anomaly_counts", {})
    print(f"{workload}: {st['txns']} transactions ({st['ok']} ok, {st['fail']} fail, {st['info']} info) "
          f"checked in {st.get('seconds', 0):.2f} s")
    v = result["valid"]
    print(f"valid under {model}: {'yes' if v is True else 'NO' if v is False else 'unknown'}")
    if result["anomaly_types"]:
        print("anomalies: " + ", ".join(f"{t} ({counts.get(t, len(result['anomalies'].get(t, [])))})"
                                        for t in result["anomaly_types"]))
        print("not: " + (", ".join(result["not"]) or "-"))
        if result["also_not"]:
            print("also not: " + ", ".join(result["also_not"]))
        for t in result["anomaly_types"]:
            items = result["anomalies"].get(t) or []
            if items:
                print(f"\n== {t} (first of {counts.get(t, len(items))}) ==")
                print(items[0].get("explanation", ""))
    search = result.get("search") or {}
    if search.get("truncated"):
        print(f"\ncycle search stopped at its budget; not searched: {', '.join(search['truncated'])}")
