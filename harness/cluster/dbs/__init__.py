"""Database definitions by `--db` name."""
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


def get(name: str):
    if name not in _DEFS:
        raise UsageError(f"unknown db {name!r} (one of {', '.join(DB_NAMES)})")
    module, cls = _DEFS[name]
    return getattr(importlib.import_module(f"harness.cluster.dbs.{module}"), cls)()
