"""The user's own server settings: `--server-opt [nN:]KEY=VALUE` and `--server-config FILE`.

They travel as the knob `server_options`, a list of entries "KEY=VALUE", "nN:KEY=VALUE" or (MariaDB
flags) "KEY", so a certification cell, test.json and a rerun carry them like any other knob. Each
database definition says which options the harness owns (`owned_options`): those are refused, one
line naming the option. The entries are written after the harness's own lines (the last setting
wins): MariaDB into each node's my.cnf, PostgreSQL into harness.conf (every node) and node.conf
(one node). What the servers then run with is read back by `Cluster.settings()`.
"""
from __future__ import annotations

import os
import re
import stat

from harness.errors import UsageError

MAX_FILE_BYTES = 1 << 20
KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
NODE_RE = re.compile(r"^n([1-9][0-9]?)$")
CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")   # newlines would smuggle in lines of their own
# my.cnf groups a MariaDB server reads (plus version-suffixed ones such as [mariadb-10.11])
SERVER_GROUPS = re.compile(r"^(mysqld|mariadbd|server|mariadb|galera)(-\d+(\.\d+)*)?$")
BOOL_PREFIXES = ("skip_", "disable_", "enable_", "maximum_")


class Entry:
    """One option: node ("n2" or None = every node), key (normalized), value (None = a flag)."""

    __slots__ = ("node", "key", "value")

    def __init__(self, node, key, value):
        self.node, self.key, self.value = node, key, value

    def __str__(self):
        return (f"{self.node}:" if self.node else "") + self.key + ("" if self.value is None else f"={self.value}")

    def __eq__(self, other):
        return str(self) == str(other)

    __hash__ = None


def normalize_key(key: str, dialect: str) -> str:
    key = key.strip().lower()
    return key.replace("-", "_") if dialect == "mysql" else key


def parse_entry(text, dialect: str, where: str) -> Entry:
    """'[nN:]KEY=VALUE' (or a bare MariaDB flag 'KEY') -> Entry; UsageError naming `where` otherwise."""
    if not isinstance(text, str):
        raise UsageError(f"{where}: expected [nN:]KEY=VALUE, not {text!r}"[:300])
    if CONTROL_RE.search(text):
        raise UsageError(f"{where}: {text[:60]!r}: control characters (newlines) are not allowed")
    node = None
    head, colon, rest = text.partition(":")
    if colon and NODE_RE.match(head.strip()) and "=" not in head:
        node, text = head.strip(), rest
    key, eq, value = text.partition("=")
    key = key.strip()
    if not key or not KEY_RE.match(key):
        raise UsageError(f"{where}: expected [nN:]KEY=VALUE, not {text[:80]!r}")
    if not eq:
        if dialect != "mysql":
            raise UsageError(f"{where}: {key}: expected KEY=VALUE")
        return Entry(node, normalize_key(key, dialect), None)
    return Entry(node, normalize_key(key, dialect), value.strip())


def check_owned(entry: Entry, owned: frozenset, dialect: str, where: str) -> None:
    """UsageError when `entry` sets an option the harness owns. MariaDB matches `loose-`, boolean
    prefixes (skip-, disable-, ...) and unambiguous prefixes of option names, as mariadbd does."""
    names = {entry.key}
    if dialect == "mysql":
        base = entry.key[len("loose_"):] if entry.key.startswith("loose_") else entry.key
        names.add(base)
        names |= {base[len(p):] for p in BOOL_PREFIXES if base.startswith(p)}
        hit = next((o for o in sorted(owned) for n in names if len(n) >= 2 and o.startswith(n)), None)
    else:
        hit = entry.key if entry.key in owned else None
    if hit:
        means = "" if hit == entry.key else f" (as {hit})"
        raise UsageError(f"{where}: {entry.key} is set by the harness{means}: refused")


def check_nodes(entries, count: int, db: str) -> None:
    for e in entries:
        if e.node and int(e.node[1:]) > count:
            raise UsageError(f"--server-opt {e}: --db {db} has nodes n1..n{count}")


def quoted_pg(value: str) -> str:
    """A postgresql.conf value: as given when quoted or simple (numbers, units, words), else quoted."""
    if re.fullmatch(r"'(?:[^'\\]|''|\\.)*'", value) or re.fullmatch(r"[A-Za-z0-9_.+:-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def for_node(entries, node_name: str) -> list[Entry]:
    """The entries that apply to one node: every-node ones first, the node's own after (they win)."""
    return [e for e in entries if e.node is None] + [e for e in entries if e.node == node_name]


def readback_keys(entries, dialect: str) -> list[str]:
    """The variable names to read back for the given options (MariaDB: without `loose_`)."""
    keys = []
    for e in entries:
        key = e.key
        if dialect == "mysql" and key.startswith("loose_"):
            key = key[len("loose_"):]
        if key not in keys:
            keys.append(key)
    return keys


# -- a config file fragment ------------------------------------------------------------------
def read_text(path: str) -> str:
    """The file's text, or UsageError naming it: missing, unreadable, not a regular file (a FIFO
    would block a plain open), larger than 1 MiB, or not UTF-8 text."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the server config: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"{path}: not a regular file")
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the server config: {e.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB: not a config fragment")
    for lineno, line in enumerate(data.split(b"\n"), 1):
        if b"\0" in line:
            raise UsageError(f"{path}:{lineno}: not a text file (NUL byte)")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{path}:{lineno}: not UTF-8 text") from None
    return data.decode("utf-8")


def _strip_comment(text: str) -> str:
    """Drop a '#' comment that is not inside quotes."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return text[:i]
    return text


def parse_config(path: str, dialect: str, owned: frozenset) -> list[Entry]:
    """A my.cnf fragment (mysql) or a postgresql.conf fragment (postgres) -> entries for every node.
    Every problem is one line naming FILE:LINE."""
    text = read_text(path)
    entries, group = [], None
    for lineno, raw in enumerate(text.splitlines(), 1):
        where = f"{path}:{lineno}"
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if dialect == "mysql":
            if line.startswith("!"):
                raise UsageError(f"{where}: {line.split()[0]} is not supported: put the options in this file")
            if line.startswith("["):
                m = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", _strip_comment(line).strip())
                if not m:
                    raise UsageError(f"{where}: malformed section header {line[:60]!r}")
                group = m.group(1).lower()
                if not SERVER_GROUPS.match(group):
                    raise UsageError(f"{where}: section [{group}] does not configure the server "
                                     "(use [mysqld], [mariadbd], [server], [mariadb] or [galera])")
                continue
            body = _strip_comment(line).strip()
        else:
            body = _strip_comment(line).strip()
            m = re.match(r"^([A-Za-z0-9_.-]+)\s*(=\s*|\s+)(.*)$", body)
            if m and m.group(1).lower() in ("include", "include_if_exists", "include_dir"):
                raise UsageError(f"{where}: {m.group(1)} is not supported: put the settings in this file")
            if not m:
                raise UsageError(f"{where}: expected `name = value`, not {body[:60]!r}")
            body = f"{m.group(1)}={m.group(3).strip()}"
        entry = parse_entry(body, dialect, where)
        entry.node = None  # a file configures every node; nN: belongs to --server-opt
        if entry.value is not None and dialect == "mysql":
            v = entry.value
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                entry.value = v[1:-1]  # my.cnf quotes: the value is what is inside
        check_owned(entry, owned, dialect, where)
        entries.append(entry)
    return entries


# -- the command line ------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("--server-opt", action="append", default=[], metavar="[nN:]KEY=VALUE",
                        help="a server setting (my.cnf option / postgresql.conf parameter), repeatable; "
                             "nN: for one node only. Options the harness wires itself (datadir, port, "
                             "addresses, cluster address, replication) are refused")
    parser.add_argument("--server-config", metavar="FILE",
                        help="a my.cnf fragment (mariadb, galera, mariadb-mm) or postgresql.conf fragment "
                             "(postgres, postgres-standby) for every node")


def from_args(args, knobs: dict, db: str) -> dict:
    """knobs with the command line's server options added (file entries first, --server-opt after)."""
    opts = list(getattr(args, "server_opt", None) or [])
    path = getattr(args, "server_config", None)
    if not opts and not path:
        return knobs
    from harness.cluster.dbs import get
    dbdef = get(db)
    entries = [str(e) for e in parse_config(path, dbdef.dialect, dbdef.owned_options)] if path else []
    given = knobs.get("server_options") or []
    if isinstance(given, str):
        given = [given]
    return {**knobs, "server_options": list(given) + entries + opts}
