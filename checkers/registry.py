"""Workload name -> checker module. Imported lazily so `harness check` loads only what it needs."""
import importlib

CHECKERS = {
    "list-append": "checkers.list_append",
    "rw-register": "checkers.rw_register",
    "bank": "checkers.bank",
    "set": "checkers.set_check",
    "save-resume": "checkers.save_resume",
    "cas-register": "checkers.linearizable",
}


def checker_for(workload: str):
    """The module whose `check(history, model, **opts)` judges histories of `workload`."""
    try:
        return importlib.import_module(CHECKERS[workload])
    except KeyError:
        raise ValueError(f"unknown workload {workload!r} (known: {', '.join(CHECKERS)})") from None
