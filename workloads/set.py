"""Set: unique inserts, then final reads of the whole set.

Every acknowledged insert must appear in every final read (checkers/set_check.py reports lost,
recovered and unexpected elements). One row per element; `add` never retries a value.

Ops: {"f": "add", "value": n}; final {"f": "read", "value": null} -> ok value [sorted elements].
"""
from __future__ import annotations

import itertools

from workloads.base import Workload, run_ddl, table_options, transaction


class SetWorkload(Workload):
    name = "set"
    checker = "set"
    defaults = {}

    def setup(self, cluster):
        engine = table_options(cluster.dialect)
        run_ddl(cluster, [f"CREATE TABLE set_elems (v BIGINT PRIMARY KEY){engine}"])

    def generator(self, rng):
        for n in itertools.count():
            yield {"f": "add", "value": n, "key": n}

    def final_generator(self, rng):
        return [{"f": "read", "value": None, "readonly": True}]

    def invoke(self, conn, dialect, op):
        if op["f"] == "add":
            with transaction(conn, dialect) as cur:
                cur.execute("INSERT INTO set_elems (v) VALUES (%s)", (op["value"],))
            return "ok", op["value"], {}
        with transaction(conn, dialect) as cur:
            cur.execute("SELECT v FROM set_elems")
            rows = cur.fetchall()
        return "ok", sorted(int(r[0]) for r in rows), {}
