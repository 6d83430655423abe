"""Network faults against bare network namespaces (no database): real iptables, the real NFQUEUE
delayer, real pings. Three node namespaces and a hub namespace holding the bridge, plus a veth to
the host, as the netns backend builds them; all named nmtest-<token>-*, always deleted."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest

import nemesis
from nemesis import lag, net, procs
from nemesis.cleanup import NetnsTarget, cleanup_node
from nemesis.schedule import Schedule

pytestmark = pytest.mark.integration


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=check)


def delete_namespace(ns):
    """SIGKILL whatever still runs in test namespace `ns`, then delete it."""
    for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    sh("ip", "netns", "del", ns, check=False)


class SleepNode(NetnsTarget):
    """A node whose 'server' is a sleep process in its namespace: enough for pause and kill."""

    def __init__(self, ns, name, ip):
        super().__init__(ns, name, ip)
        self.role = "member"
        self.proc = None
        self.start()

    @property
    def pid(self):
        return self.proc.pid

    def start(self, env=None, wait=True, timeout=60.0):
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, "sleep", "600"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=None if env is None else {**os.environ, **env})

    def alive(self):
        return self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait(5)

    def restart(self, env=None):
        if self.alive():
            self.kill()
        self.start(env)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(5)


class Bare:
    db = "none"
    backend = "netns"

    def wait_healthy(self, timeout=60.0):
        assert all(n.alive() for n in self.nodes)

    def __init__(self, nodes, host_ip, prefix):
        self.nodes = nodes
        self.primary = nodes[0]
        self.host_ip = host_ip
        self.prefix = prefix
        self.name = prefix


def _reap_stale():
    """Remove what an earlier test process that was killed outright (no teardown) left behind:
    names carry the creating PID, and only names whose PID is gone are touched."""
    def dead(token):
        pid = token.split("x")[0]
        return pid.isdigit() and not os.path.exists(f"/proc/{pid}")
    for ns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        name = ns.split(" ")[0]
        if name.startswith("nmtest-") and "x" in name and dead(name.split("-")[1]):
            delete_namespace(name)
    for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
        dev = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if dev.startswith("nmt") and "x" in dev and dead(dev[3:]):
            sh("ip", "link", "del", dev, check=False)


def _free_subnet() -> int:
    used = sh("ip", "-o", "-4", "addr", "show").stdout
    for _ in range(50):
        k = random.randrange(200, 250)
        if f"10.78.{k}." not in used:
            return k
    raise RuntimeError("no free 10.78.x subnet for the test")


@pytest.fixture
def bare():
    _reap_stale()
    token = f"{os.getpid()}x{random.randrange(100):02d}"
    prefix = f"nmtest-{token}"
    k = _free_subnet()
    hub, hostif = f"{prefix}-hub", f"nmt{token}"
    made, nodes, echoes = [], [], []
    try:
        sh("ip", "netns", "add", hub); made.append(hub)
        sh("ip", "netns", "exec", hub, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", hub, "ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "netns", "exec", hub, "ip", "link", "set", "br0", "up")
        sh("ip", "netns", "exec", hub, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0", check=False)
        sh("ip", "link", "add", hostif, "type", "veth", "peer", "name", "h0", "netns", hub)
        sh("ip", "addr", "add", f"10.78.{k}.1/24", "dev", hostif)
        sh("ip", "link", "set", hostif, "up")
        sh("ip", "netns", "exec", hub, "ip", "link", "set", "h0", "master", "br0", "up")
        for i in (1, 2, 3):
            ns = f"{prefix}-n{i}"
            sh("ip", "netns", "add", ns); made.append(ns)
            sh("ip", "netns", "exec", hub, "ip", "link", "add", f"v{i}", "type", "veth",
               "peer", "name", "eth0", "netns", ns)
            sh("ip", "netns", "exec", hub, "ip", "link", "set", f"v{i}", "master", "br0", "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"10.78.{k}.1{i}/24", "dev", "eth0")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            nodes.append(SleepNode(ns, f"n{i}", f"10.78.{k}.1{i}"))
        for n in nodes:
            echoes.append(n.popen([sys.executable, "-c", ECHO], stdout=subprocess.DEVNULL))
        host_echo = subprocess.Popen([sys.executable, "-c", ECHO.replace("0.0.0.0", f"10.78.{k}.1")])
        echoes.append(host_echo)
        time.sleep(0.3)
        cluster = Bare(nodes, f"10.78.{k}.1", prefix)
        yield cluster
        assert nemesis.verify_clean(cluster) == [], "a test left nemesis state behind"
    finally:
        for e in echoes:
            e.kill()
            e.wait(5)
        for n in nodes:
            n.resume() if n.alive() else None
            n.stop()
        for ns in made:
            delete_namespace(ns)
        sh("ip", "link", "del", hostif, check=False)


ECHO_PORT = 7077
# a UDP echo server per namespace and a probe that times round trips (no ping on this machine)
ECHO = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"s.bind(('0.0.0.0', {ECHO_PORT}))\n"
        "while True:\n    d, a = s.recvfrom(64)\n    s.sendto(d, a)\n")
PROBE = f"""
import socket, sys, time
ip, n, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(wait)
rtts = []
for i in range(n):
    t = time.monotonic()
    try:
        s.sendto(str(i).encode(), (ip, {ECHO_PORT}))
        while s.recv(64) != str(i).encode():
            pass
        rtts.append((time.monotonic() - t) * 1000)
    except OSError:  # timeout, or EPERM from an OUTPUT DROP
        pass
    time.sleep(0.05)
print(" ".join("%.2f" % r for r in rtts))
"""


def rtts(node, ip, count=1, wait=0.5) -> list[float]:
    res = node.run([sys.executable, "-c", PROBE, ip, str(count), str(wait)], check=True,
                   timeout=count * (wait + 0.1) + 10)
    return [float(x) for x in res.stdout.split()]


def reach(node, ip, wait=0.5) -> bool:
    return bool(rtts(node, ip, 2, wait))


def rtt_ms(node, ip, count=5) -> float:
    got = rtts(node, ip, count, 3.0)
    assert got, f"{node.name} got no echo from {ip}"
    return sorted(got)[len(got) // 2]


def test_partition_one_isolates_a_node_but_keeps_the_host(bare):
    n1, n2, n3 = bare.nodes
    fault = nemesis.FAULTS["partition-one"]()
    value = fault.start(bare, random.Random(1))
    lone = next(n for n in bare.nodes if n.name in value["grudge"] and len(value["grudge"][n.name]) == 2)
    rest = [n for n in bare.nodes if n is not lone]
    assert not reach(lone, rest[0].ip) and not reach(rest[1], lone.ip)
    assert reach(rest[0], rest[1].ip)
    for n in bare.nodes:
        assert reach(n, bare.host_ip), f"{n.name} lost the host"
    assert net.leftover_rules(lone)
    healed = fault.stop(bare)
    assert healed["fault"] == "partition-one"
    assert reach(lone, rest[0].ip) and reach(rest[1], lone.ip)
    assert all(net.leftover_rules(n) == [] for n in bare.nodes)


def test_partition_bridge_cuts_the_halves_only(bare):
    fault = nemesis.FAULTS["partition-bridge"]()
    grudge = fault.start(bare, random.Random(3))["grudge"]
    try:
        by = {n.name: n for n in bare.nodes}
        (a, peers_a), (b, _) = sorted(grudge.items())
        bridge = next(n for n in by if n not in grudge)
        assert peers_a == [b]
        assert not reach(by[a], by[b].ip)
        assert reach(by[a], by[bridge].ip) and reach(by[b], by[bridge].ip)
    finally:
        fault.heal(bare)


def test_total_loss_drops_everything_and_heals(bare):
    n1, n2, _ = bare.nodes
    fault = nemesis.Loss(probability=1.0, targets=["n1"])
    assert fault.start(bare, random.Random(0))["nodes"] == ["n1"]
    assert not reach(n2, n1.ip) and not reach(n1, bare.host_ip)
    assert reach(n1, "127.0.0.1"), "loopback must stay untouched"
    fault.stop(bare)
    assert reach(n2, n1.ip)


def test_lag_delays_links_of_the_chosen_node_and_heals(bare):
    n1, n2, n3 = bare.nodes
    base = rtt_ms(n2, n1.ip)
    fault = nemesis.Lag(delay_ms=100, jitter_ms=5, targets=["n1"])
    value = fault.start(bare, random.Random(0))
    assert value["method"] == lag.method(bare) == "nfqueue"  # this kernel has no netem
    assert net.bound_queues(n1), "the delayer must have bound its queue before the rule went in"
    lagged = rtt_ms(n2, n1.ip)
    untouched = rtt_ms(n2, n3.ip)
    fault.stop(bare)
    healed = rtt_ms(n2, n1.ip)
    assert 180 <= lagged <= 600, (base, lagged)  # one delay each way
    assert untouched < 80 and healed < 80, (untouched, healed)
    assert net.bound_queues(n1) == [] and procs.delayers_in(net.netns_id(n1)) == []


def test_delayer_exits_on_sigterm_and_releases_its_queue(bare):
    n1 = bare.nodes[0]
    proc = lag.start_delayer(n1, delay_ms=50, jitter_ms=0)
    assert net.bound_queues(n1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    proc.stdout.close(); proc.stderr.close()
    procs.forget(proc.pid)
    assert net.bound_queues(n1) == []


def test_delayer_reports_a_queue_it_cannot_bind(bare):
    n1 = bare.nodes[0]
    first = lag.start_delayer(n1, delay_ms=10, jitter_ms=0)
    try:
        with pytest.raises(net.NetError, match="did not bind"):
            lag.start_delayer(n1, delay_ms=10, jitter_ms=0)
    finally:
        lag.stop_delayer(first)


def test_cleanup_removes_what_a_crashed_harness_left(bare):
    n1, n2, _ = bare.nodes
    # simulate a harness killed mid-fault: rules, a delayer and a paused server, no bookkeeping
    nemesis.FAULTS["partition-primary"]().start(bare, random.Random(0))
    nemesis.Lag(delay_ms=50, targets=["n2"]).start(bare, random.Random(0))
    n1.pause()
    assert len(nemesis.verify_clean(bare)) >= 4
    done = [line for n in bare.nodes for line in cleanup_node(n)]
    assert any("delayer" in d for d in done) and any("paused" in d for d in done)
    assert nemesis.verify_clean(bare) == []
    assert reach(n1, n2.ip)


def test_schedule_cycles_faults_records_them_and_heals_on_stop(bare):
    ops = []
    sched = Schedule(bare, ["partition", "loss", "pause", "kill"], 0.3, random.Random(7), ops.append)
    sched.start()
    time.sleep(2.5)
    errors = sched.stop()
    assert errors == []
    assert sched.active() == []
    assert sched.stop() == []  # idempotent
    assert nemesis.verify_clean(bare) == []
    assert all(op["process"] == "nemesis" for op in ops)
    starts = [op for op in ops if op["type"] == "info" and op["f"].startswith("start-")]
    stops = [op for op in ops if op["type"] == "info" and op["f"].startswith("stop-")]
    assert len(starts) >= 2 and len(starts) == len(stops), ops
    assert all("error" not in op for op in ops), ops
    assert [op["type"] for op in ops[:2]] == ["invoke", "info"]


def test_schedule_heals_after_an_interrupt(bare):
    """Ctrl-C in the middle of a fault: the runner's finally calls stop(), which heals."""
    ops = []
    sched = Schedule(bare, ["partition-one"], 0.2, random.Random(1), ops.append)
    sched.start()
    try:
        deadline = time.monotonic() + 5
        while not sched.active() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sched.active() == ["partition-one"]
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    finally:
        sched.stop()
    assert nemesis.verify_clean(bare) == []
    assert ops[-1]["f"] == "stop-partition" and ops[-1]["type"] == "info"


CTRL_C_SCRIPT = """
import random, sys, time
from tests.integration.test_nemesis_netns import Bare, SleepNode
from nemesis.schedule import Schedule
nodes = [SleepNode(ns, name, ip) for ns, name, ip in
         zip(sys.argv[1].split(","), ("n1", "n2", "n3"), sys.argv[2].split(","))]
s = Schedule(Bare(nodes, None, "x"), ["partition", "lag", "pause"], 0.2, random.Random(3), lambda op: None)
try:
    s.start()
    print("running", flush=True)
    while True:
        time.sleep(0.1)
finally:
    try:
        try:
            errors = s.stop()
        except KeyboardInterrupt:
            print("second interrupt held back until healed", flush=True)
            raise
        print("healed" if errors == [] else errors, flush=True)
    finally:
        for n in nodes:
            n.stop()
"""


def test_ctrl_c_of_a_running_harness_heals_everything(bare):
    """A real SIGINT (twice, as an impatient user would) to a process running a schedule."""
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT, ",".join(n.ns for n in bare.nodes),
                             ",".join(n.ip for n in bare.nodes)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__)))))
    try:
        assert proc.stdout.readline().strip() == b"running"
        time.sleep(1.1)  # somewhere inside a fault or between two
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"healed" in out, (out, err.decode()[-2000:])
    assert proc.returncode != 0 and b"KeyboardInterrupt" in err  # Ctrl-C still ends it, after healing
    assert nemesis.verify_clean(bare) == []
