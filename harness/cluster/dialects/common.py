"""What both SQL families spell the same way: the isolation levels' SQL names."""
from harness.spec import ISOLATIONS

# the standard's words for the levels as harness/spec.py names them ("read-committed" -> READ COMMITTED)
LEVEL_SQL = {level: level.replace("-", " ").upper() for level in ISOLATIONS}


def isolation_sql(level: str) -> str:
    """The SQL words of a level; accepts read-committed, READ_COMMITTED, "read committed"."""
    key = level.lower().replace("_", "-").replace(" ", "-")
    if key not in LEVEL_SQL:
        raise ValueError(f"unknown isolation level {level!r} (one of {', '.join(LEVEL_SQL)})")
    return LEVEL_SQL[key]


def sql_code(exc: BaseException):
    """A PyMySQL error's number (first arg) or a psycopg error's SQLSTATE; None for anything else."""
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return getattr(exc, "sqlstate", None)
