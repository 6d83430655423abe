"""Replication lag, measured during a run: how long after a commit on one node another node shows it.

Every `interval` seconds a heartbeat is committed on each writable node in turn (its own row of
HARNESS_HEARTBEAT, on connections of the monitor's own, not workload ops); right after the COMMIT
returns, every other node is polled every `poll` seconds until it shows that heartbeat, or `give_up`
seconds pass (recorded as that bound: a replica that far behind, or halted). Reads use the cluster's
normal session settings, so Galera's wsrep_sync_wait counts as the engine would see it. Only
multi-node topologies are measured.

    m = LagMonitor(cluster); m.start(); ...; summary = m.stop()
    summary = {"pairs": {"n1->n2": {"p50", "p99", "max", "samples", "timeouts"}}, "p99_ms", "max_ms",
               "series": [[t_s, "n1->n2", lag_ms], ...] (at most MAX_SERIES points)}
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time

log = logging.getLogger("harness.lag")

TABLE = "HARNESS_HEARTBEAT"
MAX_SERIES = 2000


def create_table(cluster) -> None:
    """The heartbeat table, one row per writable node, created on the primary (replicated from there)."""
    from workloads.base import run_ddl, table_options
    rows = ", ".join(f"('{n.name}', 0)" for n in writers(cluster))
    run_ddl(cluster, [f"CREATE TABLE {TABLE} (NODE_ varchar(64) NOT NULL, SEQ_ bigint NOT NULL, "
                      f"PRIMARY KEY (NODE_)){table_options(cluster.dialect)}",
                      f"INSERT INTO {TABLE} (NODE_, SEQ_) VALUES {rows}"])


def writers(cluster) -> list:
    return [n for n in cluster.nodes if getattr(n, "role", "") != "standby"]


def quantile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else None


class LagMonitor(threading.Thread):
    def __init__(self, cluster, interval=0.25, poll=0.002, give_up=2.0, timeout=2.0):
        super().__init__(name="lag-monitor", daemon=True)
        self.cluster, self.interval, self.poll, self.give_up, self.timeout = cluster, interval, poll, give_up, timeout
        self._halt = threading.Event()
        self._conns: dict = {}
        self.samples: dict[str, list[float]] = {}
        self.timeouts: dict[str, int] = {}
        self.series: list = []
        self.t0 = time.monotonic()

    def run(self):
        seq = 0
        try:
            while not self._halt.is_set():
                for w in writers(self.cluster):
                    seq += 1
                    self._beat(w, seq)
                    if self._halt.wait(self.interval):
                        break
        finally:
            for conn in self._conns.values():
                with contextlib.suppress(Exception):
                    conn.close()

    def stop(self) -> dict:
        self._halt.set()
        self.join(timeout=self.give_up + 2 * self.timeout + 1)
        return self.summary()

    def _conn(self, node):
        conn = self._conns.get(node.name)
        if conn is None:
            conn = self._conns[node.name] = self.cluster.connect(node, timeout=self.timeout, autocommit=True)
        return conn

    def _drop(self, node):
        conn = self._conns.pop(node.name, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _beat(self, writer, seq):
        try:
            cur = self._conn(writer).cursor()
            cur.execute(f"UPDATE {TABLE} SET SEQ_ = %s WHERE NODE_ = %s", (seq, writer.name))
            committed = time.monotonic()
            cur.close()
        except Exception as e:  # a partitioned or paused writer: no heartbeat this round
            log.info("heartbeat on %s failed: %s", writer.name, e)
            self._drop(writer)
            return
        for reader in self.cluster.nodes:
            if reader is not writer and not self._halt.is_set():
                self._watch(writer, reader, seq, committed)

    def _watch(self, writer, reader, seq, committed):
        pair = f"{writer.name}->{reader.name}"
        try:
            cur = self._conn(reader).cursor()
            while True:
                cur.execute(f"SELECT SEQ_ FROM {TABLE} WHERE NODE_ = %s", (writer.name,))
                row = cur.fetchone()
                now = time.monotonic()
                if row is not None and int(row[0]) >= seq:
                    lag = max(0.0, (now - committed) * 1000)
                    break
                if now - committed >= self.give_up:
                    lag = self.give_up * 1000
                    self.timeouts[pair] = self.timeouts.get(pair, 0) + 1
                    break
                time.sleep(self.poll)
            cur.close()
        except Exception as e:
            log.info("lag read on %s failed: %s", reader.name, e)
            self._drop(reader)
            return
        self.samples.setdefault(pair, []).append(lag)
        if len(self.series) < MAX_SERIES:
            self.series.append([round(committed - self.t0, 3), pair, round(lag, 3)])

    def summary(self) -> dict:
        pairs = {p: {"p50": round(quantile(s, 0.5), 3), "p99": round(quantile(s, 0.99), 3),
                     "max": round(max(s), 3), "samples": len(s), "timeouts": self.timeouts.get(p, 0)}
                 for p, s in sorted(self.samples.items()) if s}
        every = [x for s in self.samples.values() for x in s]
        return {"pairs": pairs, "p50_ms": round(quantile(every, 0.5), 3) if every else None,
                "p99_ms": round(quantile(every, 0.99), 3) if every else None,
                "max_ms": round(max(every), 3) if every else None, "series": self.series,
                "note": f"heartbeat every {self.interval:g} s per writable node, polled every "
                        f"{self.poll * 1000:g} ms on every other node, given up after {self.give_up:g} s"}
