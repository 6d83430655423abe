"""Read/write registers: transactions of writes and reads of single integer values per key.

Written values are unique per key (a per-key counter), so a read names the write it saw. Writes are
upserts (MariaDB `ON DUPLICATE KEY UPDATE`, PostgreSQL `ON CONFLICT DO UPDATE`); keys rotate as in
list-append.
"""
from __future__ import annotations

from workloads.list_append import KeyedTxnWorkload


class RwRegister(KeyedTxnWorkload):
    name = "rw-register"
    checker = "rw-register"
    table = "registers"
    value_type = {"mysql": "BIGINT", "postgres": "BIGINT"}
    write_f = "w"
    upsert = {"mysql": "INSERT INTO registers (k, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)",
              "postgres": "INSERT INTO registers (k, v) VALUES (%s, %s) "
                          "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"}

    @staticmethod
    def read_value(row):
        return int(row[0]) if row else None
