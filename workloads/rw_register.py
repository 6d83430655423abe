"""Read/write registers: transactions of writes and reads of single integer values per key.

Written values are unique per key (a per-key counter), so a read names the write it saw. Writes are
upserts (MariaDB `ON DUPLICATE KEY UPDATE`, PostgreSQL `ON CONFLICT DO UPDATE`); keys rotate as in
list-append.
"""
from __future__ import annotations

from workloads.base import Workload, run_ddl, sql, transaction
from workloads.list_append import KeyPool, final_reads, txn_generator, validate_txn_opts


class RwRegister(Workload):
    name = "rw-register"
    checker = "rw-register"
    defaults = {"key_count": 5, "min_txn_length": 1, "max_txn_length": 4,
                "max_writes_per_key": 32, "read_fraction": 0.5}

    def __init__(self, opts=None):
        super().__init__(opts)
        self.pool = KeyPool(int(self.opts["key_count"]), int(self.opts["max_writes_per_key"]))

    def validate_opts(self, o):
        return validate_txn_opts(o)

    def setup(self, cluster):
        engine = "" if cluster.dialect == "postgres" else " ENGINE=InnoDB"
        run_ddl(cluster, [f"CREATE TABLE registers (k BIGINT PRIMARY KEY, v BIGINT NOT NULL){engine}"])

    def generator(self, rng):
        o = self.opts
        return txn_generator(self.pool, rng, int(o["min_txn_length"]), int(o["max_txn_length"]),
                             float(o["read_fraction"]), "w")

    def final_generator(self, rng):
        return final_reads(sorted(self.pool.touched))

    def invoke(self, conn, dialect, op):
        write = sql(dialect,
                    "INSERT INTO registers (k, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)",
                    "INSERT INTO registers (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v")
        read = "SELECT v FROM registers WHERE k = %s"
        out = []
        with transaction(conn, dialect) as cur:
            for f, k, v in op["value"]:
                if f == "w":
                    cur.execute(write, (k, v))
                    out.append([f, k, v])
                else:
                    cur.execute(read, (k,))
                    row = cur.fetchone()
                    out.append([f, k, int(row[0]) if row else None])
        return "ok", out, {}
