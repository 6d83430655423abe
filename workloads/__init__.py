"""Workloads: a seeded generator + a SQL client + the checker that judges the history.

`WORKLOADS` maps the CLI name to the module:class implementing it (see workloads/base.py for the
contract). Classes are imported lazily so a missing optional workload does not break the others.
"""
import importlib

WORKLOADS = {
    "list-append": "workloads.list_append:ListAppend",
    "rw-register": "workloads.rw_register:RwRegister",
    "bank": "workloads.bank:Bank",
    "set": "workloads.set:SetWorkload",
    "save-resume": "workloads.save_resume:SaveResume",
    "cas-register": "workloads.cas_register:CasRegister",
}


def workload_class(name: str):
    """The Workload subclass registered as `name`; ValueError for an unknown or missing one."""
    try:
        target = WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown workload {name!r} (known: {', '.join(WORKLOADS)})") from None
    module_name, cls_name = target.split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def make_workload(name: str, opts: dict | None = None):
    """An instance of workload `name` with its options merged over the defaults."""
    return workload_class(name)(opts or {})
