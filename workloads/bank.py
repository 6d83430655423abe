"""Bank: transfers between accounts, and reads of every balance.

A transfer reads both balances and writes the new ones, as an application computing in its own code
would (not `balance = balance - x`): under weak isolation concurrent transfers overwrite each other
and money appears or vanishes. Every read sees all accounts; the checker (checkers/bank.py) demands
that each read's total equals the initial total and no balance is negative.

Ops: {"f": "transfer", "value": {"from": a, "to": b, "amount": n}}  (fail: insufficient funds)
     {"f": "read", "value": null} -> ok value {"<account>": balance, ...}, plus "total" (the
     expected total) on every read so `harness check` needs no extra options.
"""
from __future__ import annotations

from workloads.base import Abort, Workload, run_ddl, table_options, transaction


class Bank(Workload):
    name = "bank"
    checker = "bank"
    defaults = {"accounts": 5, "initial_balance": 20, "max_transfer": 5, "read_fraction": 0.5}

    @property
    def total(self) -> int:
        return int(self.opts["accounts"]) * int(self.opts["initial_balance"])

    def validate_opts(self, o):
        if o["accounts"] < 2:
            return "accounts must be at least 2 (a transfer needs two)"
        if o["initial_balance"] < 0 or o["max_transfer"] < 1:
            return "initial_balance must be >= 0 and max_transfer >= 1"
        if not 0 <= o["read_fraction"] <= 1:
            return "read_fraction must lie between 0 and 1"
        return None

    def setup(self, cluster):
        engine = table_options(cluster.dialect)
        n, bal = int(self.opts["accounts"]), int(self.opts["initial_balance"])
        rows = ", ".join(f"({i}, {bal})" for i in range(n))
        run_ddl(cluster, [f"CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL){engine}",
                          f"INSERT INTO accounts (id, balance) VALUES {rows}"])

    def generator(self, rng):
        n = int(self.opts["accounts"])
        while True:
            if rng.random() < float(self.opts["read_fraction"]):
                yield {"f": "read", "value": None, "readonly": True}
            else:
                a, b = rng.sample(range(n), 2)
                yield {"f": "transfer", "value": {"from": a, "to": b,
                                                  "amount": rng.randint(1, int(self.opts["max_transfer"]))},
                       "key": a}

    def final_generator(self, rng):
        return [{"f": "read", "value": None, "readonly": True}]

    def check_opts(self):
        return {"total": self.total, "accounts": int(self.opts["accounts"])}

    def invoke(self, conn, dialect, op):
        if op["f"] == "read":
            with transaction(conn, dialect) as cur:
                cur.execute("SELECT id, balance FROM accounts ORDER BY id")
                rows = cur.fetchall()
            return "ok", {str(i): int(b) for i, b in rows}, {"total": self.total}
        t = op["value"]
        with transaction(conn, dialect) as cur:
            cur.execute("SELECT balance FROM accounts WHERE id = %s", (t["from"],))
            from_bal = int(cur.fetchone()[0])
            cur.execute("SELECT balance FROM accounts WHERE id = %s", (t["to"],))
            to_bal = int(cur.fetchone()[0])
            if from_bal < t["amount"]:
                raise Abort(f"insufficient funds: account {t['from']} has {from_bal}")
            cur.execute("UPDATE accounts SET balance = %s WHERE id = %s", (from_bal - t["amount"], t["from"]))
            cur.execute("UPDATE accounts SET balance = %s WHERE id = %s", (to_bal + t["amount"], t["to"]))
        return "ok", t, {}
