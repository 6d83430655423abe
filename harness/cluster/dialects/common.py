"""What both SQL families spell the same way: the isolation levels' SQL names."""
from harness import isolation

# the standard's words for the levels as harness.isolation names them ("read-committed" -> READ COMMITTED)
LEVEL_SQL = {level: level.replace("-", " ").upper() for level in isolation.LEVELS}


def isolation_sql(level: str) -> str:
    """The SQL words of a level; accepts read-committed, READ_COMMITTED, "read committed"."""
    return LEVEL_SQL[isolation.check(level)]


def sql_code(exc: BaseException):
    """A PyMySQL error's number (first arg) or a psycopg error's SQLSTATE; None for anything else."""
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return getattr(exc, "sqlstate", None)
