"""Hermitage's published single-node results (ept/hermitage README: PostgreSQL 9.3, MySQL 5.6 InnoDB)
as data and the symbols our outcomes map to (explain.py says why a cell differs)."""
from __future__ import annotations

from harness.probe.definitions import HERMITAGE_TESTS

Y, N, RO = "✓", "—", "R/O"   # prevented / can occur / prevented only for read-only transactions
_COLS = HERMITAGE_TESTS      # G0 G1a G1b G1c OTV PMP P4 G-single G2-item G2


def _row(*symbols):
    return dict(zip(_COLS, symbols))


PUBLISHED = {
    ("postgres", "read-committed"): _row(Y, Y, Y, Y, Y, N, N, N, N, N),
    ("postgres", "repeatable-read"): _row(Y, Y, Y, Y, Y, Y, Y, Y, N, N),
    ("postgres", "serializable"): _row(Y, Y, Y, Y, Y, Y, Y, Y, Y, Y),
    ("mysql", "read-uncommitted"): _row(Y, N, N, N, N, N, N, N, N, N),
    ("mysql", "read-committed"): _row(Y, Y, Y, Y, Y, N, N, N, N, N),
    ("mysql", "repeatable-read"): _row(Y, Y, Y, Y, Y, RO, N, RO, N, N),
    ("mysql", "serializable"): _row(Y, Y, Y, Y, Y, Y, Y, Y, Y, Y),
}
FAMILY = {"postgres": "PostgreSQL", "mysql": "InnoDB"}
# PostgreSQL has no READ UNCOMMITTED of its own: it runs it as READ COMMITTED (its documentation)
ALIAS = {("postgres", "read-uncommitted"): ("postgres", "read-committed")}

SYMBOL = {"prevented": Y, "waits-then-prevented": Y, "prevented-read-only": RO, "occurs": N, "error": "ERR"}
SHORT = {"prevented": "✓", "waits-then-prevented": "✓w", "prevented-read-only": "R/O", "occurs": "—",
         "error": "ERR"}
MEANING = {Y: "prevented", N: "allowed (it can occur)", RO: "prevented only for read-only transactions"}


def published(dialect: str, isolation: str):
    """(label, row) of the published table this dialect and level is compared with; row None if none."""
    key = ALIAS.get((dialect, isolation), (dialect, isolation))
    label = f"Hermitage {FAMILY[dialect]} {key[1]}"
    if key != (dialect, isolation):
        label += f" (PostgreSQL runs {isolation} as {key[1]})"
    return label, PUBLISHED.get(key)
