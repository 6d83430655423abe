"""--network lan on real namespaces: the delay is there between nodes (measured with ping), not on
the harness's own path to a node, and healing leaves nothing behind."""
import re

import pytest

import nemesis
from harness.cluster import up
from nemesis.network import Network

pytestmark = [pytest.mark.integration]


def rtt_ms(src, dst_ip) -> float:
    out = src.run(["ping", "-n", "-q", "-c", "20", "-i", "0.01", dst_ip], timeout=30).stdout
    out = out.decode() if isinstance(out, bytes) else out
    return float(re.search(r"= [\d.]+/([\d.]+)/", out).group(1))


@pytest.fixture(scope="module")
def pair():
    c = up(db="mariadb-mm")
    try:
        yield c
    finally:
        c.teardown()


def test_lan_delays_node_to_node_packets_and_heals(pair):
    a, b = pair.nodes
    before = rtt_ms(a, b.ip)
    net = Network("lan")
    info = net.apply(pair, seed=1)
    try:
        assert info["one_way_delay_ms"] == 0.25
        during = rtt_ms(a, b.ip)
        # two one-way delays of 0.25 ms (+ the delayer's own handling), far above the bridge's
        assert 0.45 <= during <= 20.0 and during > before + 0.3, (before, during)
    finally:
        net.heal(pair)
    assert nemesis.verify_clean(pair) == []
    assert rtt_ms(a, b.ip) < before + 0.3


def test_loopback_is_no_delay_and_unknown_names_are_refused(pair):
    assert Network("loopback").apply(pair) is None
    with pytest.raises(ValueError, match="unknown network 'moon'"):
        Network("moon")
