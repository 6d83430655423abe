"""PostgreSQL primary + hot standby as containers (docker backend): replication, a partition, a
kill, network lag (the host-side NFQUEUE delayer inside a container's namespace) and clock skew
(libfaketime inside the container) behave as on the netns backend; teardown leaves nothing."""
import random
import secrets
import time

import psycopg
import pytest

import nemesis
from tests.integration import support
from tests.integration.docker_support import docker_cluster
from tests.integration.support import sql, the_standby

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def standby():
    with docker_cluster("postgres-standby", f"dktest-s{secrets.token_hex(2)}") as cluster:
        sql(cluster, cluster.primary, "CREATE TABLE reg (k INT PRIMARY KEY, v INT)")
        yield cluster


@pytest.fixture
def whole(standby):
    yield from support.whole(standby, ("partition", "lag", "kill", "clock-skew"), healthy_after=False)


def eventually_reads(cluster, node, k, want, timeout):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        try:
            got = sql(cluster, node, f"SELECT v FROM reg WHERE k = {k}")
            if got and got[0][0] == want:
                return True
        except psycopg.Error:
            pass
        time.sleep(0.1)
    return False


def test_write_on_the_primary_is_read_on_the_standby(whole):
    c = whole
    k, v = random.randrange(10**6), random.randrange(10**6)
    sql(c, c.primary, f"INSERT INTO reg VALUES ({k}, {v})")
    assert eventually_reads(c, the_standby(c), k, v, 10)
    with pytest.raises(psycopg.Error):  # a hot standby is read-only
        sql(c, the_standby(c), f"INSERT INTO reg VALUES ({k + 1}, 0)")


def test_partitioned_standby_serves_stale_reads_until_healed(whole):
    c = whole
    k = random.randrange(10**6, 2 * 10**6)
    sql(c, c.primary, f"INSERT INTO reg VALUES ({k}, 1)")
    assert eventually_reads(c, the_standby(c), k, 1, 10)
    fault = nemesis.FAULTS["partition-primary"]()
    fault.start(c, random.Random(0))
    try:
        sql(c, c.primary, f"UPDATE reg SET v = 2 WHERE k = {k}")  # the primary still commits
        time.sleep(1.0)
        assert sql(c, the_standby(c), f"SELECT v FROM reg WHERE k = {k}") == [(1,)]  # reachable, stale
    finally:
        fault.stop(c)
    assert eventually_reads(c, the_standby(c), k, 2, 90)  # the receiver reconnects and catches up


def test_killed_standby_restarts_and_catches_up(whole):
    c = whole
    standby = the_standby(c)
    standby.kill()
    assert not standby.alive()
    k = random.randrange(2 * 10**6, 3 * 10**6)
    sql(c, c.primary, f"INSERT INTO reg VALUES ({k}, 7)")  # committed while the standby is down
    with pytest.raises(psycopg.Error):
        sql(c, standby, "SELECT 1", timeout=2)
    nemesis.FAULTS["kill"]().heal(c)  # restarts every dead node, as the nemesis does
    assert standby.alive()
    assert eventually_reads(c, standby, k, 7, 30)
    c.wait_healthy(60)


def test_lag_on_the_standby_delays_its_replication(whole):
    c = whole
    standby = the_standby(c)
    fault = nemesis.Lag(delay_ms=300, jitter_ms=0, targets=[standby.name])
    if fault.applicable(c):
        pytest.skip(fault.applicable(c))
    # connections opened before the fault: a new one would pay several delayed round trips
    w = c.connect(c.primary, timeout=10, autocommit=True)
    r = c.connect(standby, timeout=10, autocommit=True)
    fault.start(c, random.Random(0))
    try:
        stale = 0
        for i in range(5):
            k = random.randrange(3 * 10**6, 4 * 10**6)
            w.execute(f"INSERT INTO reg VALUES ({k}, {i})")
            stale += r.execute(f"SELECT count(*) FROM reg WHERE k = {k}").fetchone()[0] == 0
    finally:
        fault.stop(c)
        w.close()
        r.close()
    assert stale >= 4, stale


def test_clock_skew_inside_the_container(whole):
    c = whole
    standby = the_standby(c)
    fault = nemesis.ClockSkew(targets=[standby.name])
    offset = fault.start(c, random.Random(1))["offsets_s"][standby.name]
    try:
        skew = float(sql(c, standby, "SELECT extract(epoch FROM now())", timeout=10)[0][0]) - time.time()
    finally:
        fault.stop(c)
    c.wait_healthy(60)
    assert abs(skew - offset) < 2, (offset, skew)
