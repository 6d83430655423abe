"""`harness serve`: lists the store's runs over real HTTP on 127.0.0.1, filters, serves reports."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from testing.synthetic import make_run_dir
from harness.serve_cmd import make_server

TIMEOUT = 20


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    make_run_dir(root / "galera-save-resume-sticky-partition" / "20261126T090000", n_ops=800, workload="save-resume")
    make_run_dir(root / "postgres-list-append-primary" / "20261126T100000", n_ops=400, valid=True, db="postgres",
                 nemesis=())
    crashed = make_run_dir(root / "mariadb-mm-list-append-round-robin" / "20261126T110000", n_ops=400, db="mariadb-mm")
    (crashed / "results.json").unlink()
    (root / "latest").symlink_to("postgres-list-append-primary/20261126T100000")
    (root / "notes.txt").write_text("not a run")
    return root


@pytest.fixture(scope="module")
def base_url(store):
    server = make_server(store, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(TIMEOUT)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def rows(html: bytes):
    return re.findall(r'<tr class="run">(.*?)</tr>', html.decode())


def test_lists_every_run_newest_first_with_its_verdict(base_url):
    status, ctype, body = get(base_url + "/")
    assert status == 200 and ctype.startswith("text/html")
    got = rows(body)
    assert len(got) == 3
    assert "mariadb-mm" in got[0] and ">unknown<" in got[0] and "no results.json" in got[0]
    assert "postgres" in got[1] and ">valid<" in got[1] and "2026-11-26 10:00:00 UTC" in got[1]
    assert "galera" in got[2] and ">invalid<" in got[2] and "lost-save" in got[2] and "partition-one, kill" in got[2]
    assert 'title="Not safe: on galera (round-robin routing) under partition-one and kill faults' in got[2]
    assert "all (3)" in body.decode() and "invalid (1)" in body.decode()


def test_filters_by_verdict(base_url):
    _, _, body = get(base_url + "/?verdict=invalid")
    assert len(rows(body)) == 1 and "galera" in rows(body)[0]
    _, _, body = get(base_url + "/?verdict=valid")
    assert len(rows(body)) == 1 and "postgres" in rows(body)[0]
    status, _, _ = get(base_url + "/?verdict=maybe")
    assert status == 400


def test_opens_a_report_writing_it_on_first_view(base_url, store):
    run = store / "galera-save-resume-sticky-partition" / "20261126T090000"
    assert not (run / "index.html").exists()
    status, ctype, body = get(base_url + "/run/galera-save-resume-sticky-partition/20261126T090000/")
    assert status == 200 and ctype.startswith("text/html")
    assert b"Not safe: on galera" in body and (run / "index.html").exists()
    status, ctype, png = get(base_url + "/run/galera-save-resume-sticky-partition/20261126T090000/rate.png")
    assert status == 200 and ctype == "image/png" and png[:4] == b"\x89PNG"
    status, ctype, hist = get(base_url + "/run/galera-save-resume-sticky-partition/20261126T090000/history.jsonl")
    assert status == 200 and ctype.startswith("text/plain") and json.loads(hist.splitlines()[0])["index"] == 0


def test_latest_redirects_to_the_newest_run(base_url):
    req = urllib.request.Request(base_url + "/latest")
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:   # follows the redirect
        assert r.url.endswith("/run/postgres-list-append-primary/20261126T100000/")
        assert b"Valid: the list-append workload on postgres" in r.read()


def test_nothing_outside_the_store_is_served(base_url):
    for path in ("/run/../../../etc/passwd", "/run/%2e%2e/%2e%2e/etc/passwd", "/run/galera-save-resume-sticky-partition/"
                 "20261126T090000/../../../../etc/passwd", "/etc/passwd", "/run/nope/nope/"):
        status, _, body = get(base_url + path)
        assert status == 404, path
        assert b"root:" not in body


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_on_loopback_and_stops_cleanly(store, stop_signal):
    proc = subprocess.Popen([sys.executable, "-m", "harness", "serve", "--store", str(store), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()  # the first line names the URL
        m = re.search(r"at http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        assert "3 runs in" in line
        status, _, body = get(f"http://127.0.0.1:{m.group(1)}/")
        assert status == 200 and len(rows(body)) == 3
    finally:
        os.kill(proc.pid, stop_signal)
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(TIMEOUT)
    assert proc.returncode == 0 and "harness serve: stopped" in proc.stderr.read()


def test_cli_bad_store_is_one_line_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "harness", "serve", "--store", str(tmp_path / "none")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2 and "no such store directory" in r.stderr and r.stderr.count("\n") == 1
    r = subprocess.run([sys.executable, "-m", "harness", "serve", "--store", str(tmp_path), "--port", "70000"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2 and "--port must be from 0 to 65535" in r.stderr


def test_a_runs_history_is_sent_in_blocks_not_read_whole(tmp_path):
    """A long run's history.jsonl (gigabytes for an hour at full rate) is streamed: the server's
    memory while sending a 24 MB file stays a few blocks (it read the file whole before)."""
    import tracemalloc
    run = make_run_dir(tmp_path / "store" / "t" / "20261203T100000", n_ops=200, valid=True)
    line = b'{"index":0,"time":0,"type":"invoke","process":0,"f":"txn","value":[["append",1,2]]}\n'
    with open(run / "history.jsonl", "ab") as f:
        f.write(line * (24_000_000 // len(line)))
    size = (run / "history.jsonl").stat().st_size
    server = make_server(tmp_path / "store", "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    tracemalloc.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/run/t/20261203T100000/history.jsonl"
        got = 0
        with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
            assert r.status == 200 and int(r.headers["Content-Length"]) == size
            while block := r.read(1 << 16):
                got += len(block)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)
    assert got == size
    assert peak < 8e6, f"{peak / 1e6:.0f} MB"
