"""List-append (Elle's workload): transactions of appends to and reads of lists under integer keys.

Each key's list is stored as a comma-separated text column, appended the way an application would
with one upsert (insert the row if absent, else concatenate):
    MariaDB:    INSERT ... ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', VALUES(v))
    PostgreSQL: INSERT ... ON CONFLICT (k) DO UPDATE SET v = t.v || ',' || EXCLUDED.v
Reads return the whole list, which reveals the order of every append: the checker infers write-write,
write-read and read-write dependencies from it and looks for cycles.

Keys rotate as in Elle: `key_count` keys are active at a time; once a key has received
`max_writes_per_key` appends it retires and a fresh key takes its place, so lists stay short.
"""
from __future__ import annotations

from workloads.base import Workload, run_ddl, table_options, transaction


class KeyPool:
    """Active keys with per-key write counters and Elle-style rotation (not thread-safe by itself:
    the runner draws generator ops under a lock)."""

    def __init__(self, key_count: int, max_writes_per_key: int):
        self.active = list(range(key_count))
        self.next_key = key_count
        self.writes: dict[int, int] = {}
        self.max_writes = max_writes_per_key
        self.touched: list[int] = []   # every key an op has named, in first-use order
        self._seen: set[int] = set()

    def pick(self, rng) -> int:
        k = rng.choice(self.active)
        if k not in self._seen:
            self._seen.add(k)
            self.touched.append(k)
        return k

    def next_value(self, k: int) -> int:
        """A value unique for key k; retires k after max_writes appends."""
        n = self.writes.get(k, 0) + 1
        self.writes[k] = n
        if n >= self.max_writes:
            self.active[self.active.index(k)] = self.next_key
            self.next_key += 1
        return n


def txn_generator(pool: KeyPool, rng, min_len: int, max_len: int, read_fraction: float, write_f: str):
    """Endless txns of micro-ops [f, key, value]; reads carry None until executed."""
    while True:
        mops = []
        for _ in range(rng.randint(min_len, max_len)):
            k = pool.pick(rng)
            if rng.random() < read_fraction:
                mops.append(["r", k, None])
            else:
                mops.append([write_f, k, pool.next_value(k)])
        yield {"f": "txn", "value": mops, "key": mops[0][1],
               "readonly": all(m[0] == "r" for m in mops)}


def final_reads(keys: list[int], per_txn: int = 32) -> list[dict]:
    """Read-only txns reading every key, `per_txn` keys at a time."""
    return [{"f": "txn", "value": [["r", k, None] for k in keys[i:i + per_txn]], "readonly": True}
            for i in range(0, len(keys), per_txn)]


class KeyedTxnWorkload(Workload):
    """Transactions of reads and writes over rotating integer keys (list-append, rw-register).
    A subclass says what differs: its table, the write micro-op and its upsert, and what a read saw."""
    table: str
    value_type: dict       # dialect -> SQL type of the value column
    write_f: str           # the write micro-op's name
    upsert: dict           # dialect -> the statement that writes (k, write_arg(v))
    read_value: staticmethod  # (row or None) -> the value the history records for a read
    defaults = {"key_count": 5, "min_txn_length": 1, "max_txn_length": 4,
                "max_writes_per_key": 32, "read_fraction": 0.5}

    def __init__(self, opts=None):
        super().__init__(opts)
        self.pool = KeyPool(int(self.opts["key_count"]), int(self.opts["max_writes_per_key"]))

    def validate_opts(self, o):
        if o["key_count"] < 1 or o["max_writes_per_key"] < 1:
            return "key_count and max_writes_per_key must be at least 1"
        if not 1 <= o["min_txn_length"] <= o["max_txn_length"]:
            return "need 1 <= min_txn_length <= max_txn_length"
        if not 0 <= o["read_fraction"] <= 1:
            return "read_fraction must lie between 0 and 1"
        return None

    def setup(self, cluster):
        engine = table_options(cluster.dialect)
        run_ddl(cluster, [f"CREATE TABLE {self.table} (k BIGINT PRIMARY KEY, "
                          f"v {self.value_type[cluster.dialect]} NOT NULL){engine}"])

    def generator(self, rng):
        o = self.opts
        return txn_generator(self.pool, rng, int(o["min_txn_length"]), int(o["max_txn_length"]),
                             float(o["read_fraction"]), self.write_f)

    def final_generator(self, rng):
        return final_reads(sorted(self.pool.touched))

    @staticmethod
    def write_arg(v):
        """What a write micro-op's value v is sent to the database as."""
        return v

    def invoke(self, conn, dialect, op):
        write = self.upsert[dialect]
        read = f"SELECT v FROM {self.table} WHERE k = %s"
        out = []
        with transaction(conn, dialect) as cur:
            for f, k, v in op["value"]:
                if f == self.write_f:
                    cur.execute(write, (k, self.write_arg(v)))
                    out.append([f, k, v])
                else:
                    cur.execute(read, (k,))
                    out.append([f, k, self.read_value(cur.fetchone())])
        return "ok", out, {}


class ListAppend(KeyedTxnWorkload):
    name = "list-append"
    checker = "list-append"
    table = "lists"
    value_type = {"mysql": "MEDIUMTEXT", "postgres": "TEXT"}
    write_f = "append"
    upsert = {"mysql": "INSERT INTO lists (k, v) VALUES (%s, %s) "
                       "ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', VALUES(v))",
              "postgres": "INSERT INTO lists AS t (k, v) VALUES (%s, %s) "
                          "ON CONFLICT (k) DO UPDATE SET v = t.v || ',' || EXCLUDED.v"}

    @staticmethod
    def write_arg(v):
        return str(v)

    @staticmethod
    def read_value(row):
        return [int(x) for x in row[0].split(",")] if row else []
