"""Database definitions by `--db` name: the one list of databases (the spec, the CLI and the
certification matrices read it; each definition class carries its own facts: dialect, node counts)."""
import importlib

from harness.errors import UsageError

# db name -> (module, class); modules import lazily so one broken definition cannot hide the others
_DEFS = {
    "mariadb": ("mariadb", "MariaDB"),
    "galera": ("galera", "Galera"),
    "mariadb-mm": ("mariadb_mm", "MariaDBMM"),
    "postgres": ("postgres", "Postgres"),
    "postgres-standby": ("postgres_standby", "PostgresStandby"),
}
DB_NAMES = tuple(_DEFS)


def definition(name: str) -> type:
    """The DbDef subclass registered as `name` (its class attributes are the db's facts)."""
    if name not in _DEFS:
        raise UsageError(f"unknown db {name!r} (one of {', '.join(DB_NAMES)})")
    module, cls = _DEFS[name]
    return getattr(importlib.import_module(f"harness.cluster.dbs.{module}"), cls)


def get(name: str):
    return definition(name)()


def single_node(name: str) -> bool:
    """Whether db `name` always runs on exactly one node: nothing to partition or lag between, and
    every client meets every other on that node. False for an unknown name (validation names it)."""
    return name in _DEFS and definition(name).max_nodes == 1
