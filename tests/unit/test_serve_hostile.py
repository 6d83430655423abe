"""`harness serve` under hostile input, over real HTTP against a served temp store: a damaged run
marks its own row and never costs the list, a bad path or a failing page gets a short 4xx/5xx, the
Host header must name this server (DNS rebinding), and the number of request threads is bounded."""
import http.client
import json
import re
import socket
import threading
import time

import pytest

from testing.synthetic import make_run_dir
from harness.serve_cmd import make_server

TIMEOUT = 20
GOOD = "postgres-list-append-primary/20261126T100000"
# run dir -> what its results.json holds (a JSON text); each is damaged in one way
BAD = {
    "bad-nemesis/20261126T080001": {"valid": False, "nemesis": [1], "anomaly_types": ["G0"]},
    "bad-db/20261126T080002": {"valid": True, "db": {}, "workload": {"x": 1}},
    "bad-types/20261126T080003": {"valid": False, "anomaly_types": [1], "not": "x"},
    "bad-valid/20261126T080004": {"valid": "x", "stats": []},
    "bad-list/20261126T080005": [1, 2, 3],
    "bad-json/20261126T080006": "{not json",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    make_run_dir(root / GOOD, n_ops=300, valid=True, db="postgres", nemesis=())
    for rel, results in BAD.items():
        run = make_run_dir(root / rel, n_ops=300)
        (run / "results.json").write_text(results if isinstance(results, str) else json.dumps(results))
    spec = root / "bad-spec" / "20261126T080007"
    make_run_dir(spec, n_ops=300, valid=True)
    results = json.loads((spec / "results.json").read_text())
    for k in ("db", "nemesis"):  # the list takes these from test.json then
        del results[k]
    (spec / "results.json").write_text(json.dumps(results))
    (spec / "test.json").write_text(json.dumps({"db": ["x"], "workload": "set", "nemesis": {"a": 1}}))
    return root


def serving(root):
    """A server of `root` on a free loopback port, in a thread, until the generator is closed."""
    srv = make_server(root, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(TIMEOUT)


@pytest.fixture(scope="module")
def server(store):
    yield from serving(store)


@pytest.fixture(scope="module")
def clean_server(tmp_path_factory):
    """A store holding only the good run (so a failure below is the request's own)."""
    root = tmp_path_factory.mktemp("clean")
    make_run_dir(root / GOOD, n_ops=300, valid=True, db="postgres", nemesis=())
    yield from serving(root)


def request(port, path, host=None, method="GET"):
    """(status, body text) of one real request; host=None sends the usual 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host != "":
            conn.putheader("Host", host or f"127.0.0.1:{port}")
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def rows(html: str) -> dict:
    """run dir -> (row class, row html) of the listing."""
    out = {}
    for cls, row in re.findall(r'<tr class="(run[^"]*)">(.*?)</tr>', html):
        link = re.search(r'href="/run/([^"]+)/"', row).group(1)
        out[link] = (cls, row)
    return out


def test_damaged_runs_are_marked_and_the_others_still_listed(server):
    port = server.server_address[1]
    status, html = request(port, "/")
    assert status == 200
    got = rows(html)
    assert set(got) == {GOOD, "bad-spec/20261126T080007", *BAD}
    cls, row = got[GOOD]
    assert cls == "run" and ">valid<" in row and "postgres" in row
    for rel in [*BAD, "bad-spec/20261126T080007"]:
        cls, row = got[rel]
        assert cls == "run bad" and "damaged:" in row, rel
    assert "nemesis is not a list of fault names" in got["bad-nemesis/20261126T080001"][1]
    assert ">invalid<" in got["bad-nemesis/20261126T080001"][1]  # the rest of the file still counts
    assert "db is not a string" in got["bad-db/20261126T080002"][1]
    assert "anomaly_types is not a list of names" in got["bad-types/20261126T080003"][1]
    assert "valid is neither" in got["bad-valid/20261126T080004"][1] and ">unknown<" in got["bad-valid/20261126T080004"][1]
    assert "a JSON list, not an object" in got["bad-list/20261126T080005"][1]
    assert "malformed JSON" in got["bad-json/20261126T080006"][1]
    assert "test.json: db is not a string" in got["bad-spec/20261126T080007"][1]
    assert "test.json: nemesis is not a list" in got["bad-spec/20261126T080007"][1]
    status, html = request(port, "/?verdict=invalid")
    assert status == 200 and "bad-nemesis/20261126T080001" in rows(html)


def test_every_damaged_run_page_answers_and_the_connection_survives(server):
    port = server.server_address[1]
    for rel in [*BAD, "bad-spec/20261126T080007"]:
        status, body = request(port, f"/run/{rel}/")
        assert status in (200, 500), rel  # a report, or a short page saying why there is none
        assert "</html>" in body and "Traceback" not in body
        if status == 500:
            assert "the report of this run failed" in body and len(body) < 4000
    assert request(port, "/")[0] == 200


@pytest.mark.parametrize("path, status", [
    ("/run/%00/x/", 400), (f"/run/{GOOD}/%00", 400), (f"/run/{GOOD}/index.html%00.txt", 400),
    ("/%00", 400), ("/run/" + "a" * 300 + "/x/", 400), (f"/run/{GOOD}/" + "b" * 5000, 400),
    ("/run/%ff%fe/x/", 404), ("/run/a/" + "c/" * 200, 404)])
def test_bad_paths_get_a_short_answer_not_a_dropped_connection(clean_server, path, status):
    port = clean_server.server_address[1]
    got, body = request(port, path)
    assert got == status and len(body) < 4000
    assert request(port, "/")[0] == 200


@pytest.mark.parametrize("host, ok", [
    (None, True), ("localhost:{port}", True), ("LOCALHOST:{port}", True), ("[::1]:{port}", True),
    ("127.0.0.1:{port}", True), ("evil.example:{port}", False), ("evil.example", False),
    ("127.0.0.1:1", False), ("localhost", False), ("127.0.0.1.evil.example:{port}", False),
    ("", False), ("localhost:{port}@evil", False)])
def test_host_header_must_name_this_server(clean_server, host, ok):
    port = clean_server.server_address[1]
    status, body = request(port, "/", host=None if host is None else host.format(port=port))
    if ok:
        assert status == 200 and "<tr" in body
    else:
        assert status in (400, 421) and "<tr" not in body and GOOD not in body
    status, _ = request(port, f"/run/{GOOD}/results.json",
                        host=None if host is None else host.format(port=port))
    assert (status == 200) == ok


def test_a_server_bound_elsewhere_accepts_its_own_address(store):
    srv = make_server(store, "127.0.0.2", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    port = srv.server_address[1]
    try:
        conn = http.client.HTTPConnection("127.0.0.2", port, timeout=TIMEOUT)
        for host, want in ((f"127.0.0.2:{port}", 200), (f"evil.example:{port}", 421)):
            conn.request("GET", "/", headers={"Host": host})
            r = conn.getresponse()
            r.read()
            assert r.status == want, host
            conn.close()
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(TIMEOUT)


def test_request_threads_are_bounded_and_the_excess_gets_503(store):
    srv = make_server(store, "127.0.0.1", 0, max_threads=2)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    port = srv.server_address[1]
    idle = []
    try:
        for _ in range(2):  # two clients that connect and send nothing hold both threads
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT))
        time.sleep(0.3)
        t0 = time.monotonic()
        status, body = request(port, "/")
        assert status == 503 and "busy" in body
        assert time.monotonic() - t0 < 5
        assert threading.active_count() < 20
        for s in idle:
            s.close()
        deadline = time.monotonic() + 10
        while request(port, "/")[0] != 200:  # the threads are free again once the idle clients left
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        for s in idle:
            s.close()
        srv.shutdown()
        srv.server_close()
        thread.join(TIMEOUT)


def test_files_planted_in_a_run_dir_are_served_under_a_policy_that_runs_no_script(store, server):
    port = server.server_address[1]
    run = store / GOOD
    (run / "planted.html").write_text("<script>alert(1)</script>")
    (run / "planted.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
    for name in ("planted.html", "planted.svg", "", "results.json"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        conn.request("GET", f"/run/{GOOD}/{name}")
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.status == 200, name
        csp = r.getheader("Content-Security-Policy") or ""
        assert "default-src 'none'" in csp and "script-src" not in csp, name
        assert r.getheader("X-Content-Type-Options") == "nosniff"
