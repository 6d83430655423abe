"""Faults against a real PostgreSQL primary + hot standby (netns backend): network lag on the
standby, and database-native replication lag, make stale reads there far more frequent."""
import random
import secrets
import time

import pytest

import nemesis
from harness.cluster import DB_NAMES, up
from tests.integration import support
from tests.integration.support import sql, the_standby

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUNDS = 30
READ_AFTER_S = 0.05  # the standby read follows the primary's commit by this much


@pytest.fixture(scope="module")
def standby():
    if "postgres-standby" not in DB_NAMES:
        pytest.skip("the cluster layer has no postgres-standby yet")
    cluster = up(db="postgres-standby", name=f"nmtest-s{secrets.token_hex(2)}")
    try:
        sql(cluster, cluster.primary, "CREATE TABLE reg (k INT PRIMARY KEY, v INT)")
        sql(cluster, cluster.primary, "INSERT INTO reg VALUES (1, 0)")
        yield cluster
    finally:
        cluster.teardown()


def stale_reads(cluster) -> int:
    """Write v=i on the primary, read the standby READ_AFTER_S later: how often is it older?"""
    standby = the_standby(cluster)
    w = cluster.connect(cluster.primary, timeout=10, autocommit=True)
    r = cluster.connect(standby, timeout=10, autocommit=True)
    stale = 0
    try:
        for i in range(1, ROUNDS + 1):
            with w.cursor() as cur:
                cur.execute("UPDATE reg SET v = v + 1 WHERE k = 1 RETURNING v")
                written = cur.fetchone()[0]
            time.sleep(READ_AFTER_S)
            with r.cursor() as cur:
                cur.execute("SELECT v FROM reg WHERE k = 1")
                stale += cur.fetchone()[0] < written
    finally:
        w.close()
        r.close()
    return stale


@pytest.fixture
def whole(standby):
    yield from support.whole(standby, ("lag", "replication-lag", "partition"), healthy_after=False)


def test_lag_on_the_standby_makes_stale_reads_far_more_frequent(whole):
    c = whole
    base = stale_reads(c)
    standby = the_standby(c)
    fault = nemesis.Lag(delay_ms=200, jitter_ms=10, targets=[standby.name])
    fault.start(c, random.Random(0))
    try:
        lagged = stale_reads(c)
    finally:
        fault.stop(c)
    assert lagged >= ROUNDS * 0.8 and lagged >= base + ROUNDS // 2, (base, lagged)
    assert stale_reads(c) <= base + ROUNDS // 5  # healed: back to normal


@pytest.mark.parametrize("name", ["replication-delay", "replication-stop"])
def test_database_native_replication_lag(whole, name):
    c = whole
    base = stale_reads(c)
    fault = nemesis.FAULTS[name]()
    value = fault.start(c, random.Random(0))
    assert value["nodes"] == [n.name for n in c.nodes if n.role == "standby"]
    assert nemesis.verify_clean(c), "the lag setting must show as a leftover while it is on"
    try:
        lagged = stale_reads(c)
    finally:
        fault.stop(c)
    assert lagged >= ROUNDS * 0.9, (base, lagged)


def test_clock_skew_on_a_server_that_switches_user_before_exec(whole):
    """postgres starts as root -> setpriv -> postgres (same PID): libfaketime must still load."""
    c = whole
    fault = nemesis.ClockSkew(targets=["n2"])
    offset = fault.start(c, random.Random(1))["offsets_s"]["n2"]
    try:
        conn = c.connect(c.node("n2"), timeout=10, autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SELECT extract(epoch FROM now())")
            skew = float(cur.fetchone()[0]) - time.time()
        conn.close()
        assert any("libfaketime" in x for x in nemesis.verify_clean(c))
    finally:
        fault.stop(c)
    c.wait_healthy(60)
    assert abs(skew - offset) < 2, (offset, skew)
