"""Compare-and-set registers: per-key read / write / cas, judged for linearizability.

One row per key (`cas_registers (k, v)`, v NULL = nil, the initial value). Each op is one
autocommit statement:
    read   SELECT v FROM cas_registers WHERE k = ?
    write  UPDATE cas_registers SET v = ? WHERE k = ?
    cas    UPDATE cas_registers SET v = new WHERE k = ? AND v = expected   (v IS NULL for nil)
           zero rows = the compare did not match: recorded `fail` with no `error` (an op the
           runner records as `fail` with an error, e.g. a deadlock, did not happen at all)
Written values are unique per key (a counter), so a cas never writes the value it found (MySQL
counts unchanged rows as unaffected) and register-only keys get the zone test's speed. Ops follow
Jepsen's independent-key form (`value` = [key, v]); checkers/linearizable.py judges each key alone.
The check is linearizability (strict-serializable): run with the default --isolation
serializable, or pass --model linearizable; at weaker levels a finding is listed but permitted.
"""
from __future__ import annotations

from workloads.base import Workload, run_ddl, table_options


class CasRegister(Workload):
    name = "cas-register"
    checker = "cas-register"
    defaults = {"key_count": 5, "read_fraction": 0.4, "write_fraction": 0.2}

    def validate_opts(self, o):
        if o["key_count"] < 1:
            return "key_count must be at least 1"
        if not (0 <= o["read_fraction"] and 0 <= o["write_fraction"]
                and o["read_fraction"] + o["write_fraction"] <= 1):
            return "read_fraction and write_fraction must be >= 0 and add up to at most 1"
        return None

    def setup(self, cluster):
        keys = range(int(self.opts["key_count"]))
        run_ddl(cluster, [f"CREATE TABLE cas_registers (k BIGINT PRIMARY KEY, v BIGINT NULL)"
                          f"{table_options(cluster.dialect)}",
                          "INSERT INTO cas_registers (k, v) VALUES "
                          + ", ".join(f"({k}, NULL)" for k in keys)])

    def generator(self, rng):
        o = self.opts
        keys = int(o["key_count"])
        written = [[None] for _ in range(keys)]   # per key: values written so far (nil first)
        while True:
            k = rng.randrange(keys)
            x = rng.random()
            if x < o["read_fraction"]:
                yield {"f": "read", "value": [k, None], "key": k, "readonly": True}
                continue
            new = len(written[k])
            expected = rng.choice(written[k][-3:])    # likely the current value, or a recent one
            written[k].append(new)
            if x < o["read_fraction"] + o["write_fraction"]:
                yield {"f": "write", "value": [k, new], "key": k}
            else:
                yield {"f": "cas", "value": [k, [expected, new]], "key": k}

    def final_generator(self, rng):
        return [{"f": "read", "value": [k, None], "key": k, "readonly": True}
                for k in range(int(self.opts["key_count"]))]

    def invoke(self, conn, dialect, op):
        k, arg = op["value"]
        cur = conn.cursor()
        try:
            if op["f"] == "read":
                cur.execute("SELECT v FROM cas_registers WHERE k = %s", (k,))
                row = cur.fetchone()
                return "ok", [k, None if row is None or row[0] is None else int(row[0])], {}
            if op["f"] == "write":
                cur.execute("UPDATE cas_registers SET v = %s WHERE k = %s", (arg, k))
                return "ok", op["value"], {}
            expected, new = arg
            if expected is None:
                cur.execute("UPDATE cas_registers SET v = %s WHERE k = %s AND v IS NULL", (new, k))
            else:
                cur.execute("UPDATE cas_registers SET v = %s WHERE k = %s AND v = %s",
                            (new, k, expected))
            return ("ok" if cur.rowcount == 1 else "fail"), op["value"], {}
        finally:
            cur.close()
