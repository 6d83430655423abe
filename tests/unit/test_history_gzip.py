"""Compressed histories (issue 20): GzipAppender writes history.jsonl.gz as a run goes, and every reader
opens it through checkers.history.open_history as if it were the plain file, a stream cut short by a
crash included (the whole lines before the cut, and a note)."""
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from checkers.api import check_file
from checkers.history import (GzipAppender, dumps_op, is_edn, iter_history, open_history, read_history,
                              truncation_note, write_history)
from harness import store

from testing import list_append_sim

ROOT = Path(__file__).resolve().parent.parent.parent


def harness(*argv):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, argv)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def write_gz(path, ops, flush_every=50):
    w = GzipAppender(path)
    for i, op in enumerate(ops):
        w.write(dumps_op(op))
        if i % flush_every == 0:
            w.flush()
    w.close()


@pytest.fixture(scope="module")
def la_ops():
    return list_append_sim.simulate(3000, seed=11, fault="stale")[0]


def test_a_gzip_history_reads_as_the_plain_one(tmp_path, la_ops):
    plain, gz = tmp_path / "h.jsonl", tmp_path / "h.jsonl.gz"
    write_history(plain, la_ops)
    write_gz(gz, la_ops)
    assert gz.stat().st_size < plain.stat().st_size / 3
    assert gzip.decompress(gz.read_bytes()) == plain.read_bytes()    # a standard gzip file
    with open_history(gz) as f:
        assert f.read() == plain.read_bytes()
    assert list(iter_history(gz)) == list(iter_history(plain))
    assert not is_edn(gz) and truncation_note(gz) is None
    a, b = check_file(plain, "list-append"), check_file(gz, "list-append")
    assert a["valid"] is False and "history_note" not in b
    for r in (a, b):
        r["stats"] = {k: v for k, v in r["stats"].items() if not k.endswith("seconds")}
        r["anomalies"] = json.loads(json.dumps(r["anomalies"]).replace(str(gz), "P").replace(str(plain), "P"))
    assert a == b


def test_seeks_land_where_the_plain_file_would(tmp_path, monkeypatch):
    import checkers.history as h
    monkeypatch.setattr(h, "CHECKPOINT_BYTES", 20_000)   # many snapshots in a small file
    monkeypatch.setattr(h, "_IN_BLOCK", 2048)
    ops = list_append_sim.simulate(4000, seed=2)[0]
    gz = tmp_path / "h.jsonl.gz"
    write_gz(gz, ops, flush_every=7)
    data = gzip.decompress(gz.read_bytes())
    rng = random.Random(5)
    with open_history(gz) as f:
        for offset in [0, len(data) - 1, len(data), 5] + [rng.randrange(len(data)) for _ in range(300)]:
            f.seek(offset)
            assert f.tell() == offset
            assert f.readline() == data[offset:data.find(b"\n", offset) + 1 or len(data)]
        assert len(f.raw._points) > 10


def test_two_members_read_as_one_file(tmp_path, la_ops):
    gz = tmp_path / "h.jsonl.gz"
    write_gz(gz, la_ops[:100])
    write_gz(gz, la_ops[100:200])    # appending adds a second gzip member
    assert [op for _, op in iter_history(gz)] == la_ops[:200]


@pytest.mark.parametrize("cut", [3, 10, 11, 200, 0.25, 0.5, 0.9, -1])
def test_a_stream_cut_short_reads_as_its_whole_lines_with_a_note(tmp_path, la_ops, cut):
    full = tmp_path / "full.jsonl.gz"
    write_gz(full, la_ops)
    raw = full.read_bytes()
    n = cut if isinstance(cut, int) and cut > 0 else int(len(raw) * cut) if cut > 0 else len(raw) - 1
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(raw[:n])
    got = [op for _, op in iter_history(gz)]
    assert got == la_ops[:len(got)]                 # a prefix of whole ops, nothing half
    if cut in (0.5, 0.9, -1):
        assert len(got) > 100
    note = truncation_note(gz)
    assert note and f"read the {len(got)} whole lines" in note and "\n" not in note
    r = check_file(gz, "list-append")
    assert r["history_note"] == note
    p = harness("check", gz, "--workload", "list-append", "--json")
    assert p.returncode in (0, 1, 2) and "Traceback" not in p.stderr
    assert f"note: {gz}: the gzip stream ends early" in p.stderr and len(p.stderr.strip().splitlines()) <= 2
    if got:
        assert json.loads(p.stdout)["stats"]["txns"] == r["stats"]["txns"]


def test_the_note_goes_once_the_file_is_complete_again(tmp_path, la_ops):
    gz = tmp_path / "h.jsonl.gz"
    write_gz(gz, la_ops)
    raw = gz.read_bytes()
    gz.write_bytes(raw[:len(raw) // 2])
    list(iter_history(gz))
    assert truncation_note(gz)
    gz.write_bytes(raw)
    assert truncation_note(gz) is None


def test_a_sigkilled_writer_leaves_a_readable_prefix(tmp_path):
    """The runner's Recorder on a .gz path, killed with SIGKILL mid-run: whole lines, indexes 0..n-1."""
    gz = tmp_path / "history.jsonl.gz"
    code = textwrap.dedent(f"""
        import time, sys
        from harness.runner import Recorder
        r = Recorder({str(gz)!r}, time.monotonic_ns())
        i = 0
        while True:
            r.record({{"type": "invoke", "process": i % 5, "f": "txn", "value": [["append", i % 9, i]]}})
            r.record({{"type": "ok", "process": i % 5, "f": "txn", "value": [["append", i % 9, i]]}})
            i += 1
            if i == 2000:
                print("going", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert proc.stdout.readline() == b"going\n"
        time.sleep(0.4)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ops = [op for _, op in iter_history(gz)]
    assert len(ops) > 2000 and [op["index"] for op in ops] == list(range(len(ops)))
    assert truncation_note(gz)                       # no Z_FINISH: the stream was cut
    assert check_file(gz, "list-append")["valid"] is True


@pytest.mark.parametrize("junk", [b"\x1f\x8b" + bytes(random.Random(1).randrange(256) for _ in range(5000)),
                                  b"\x1f\x8b\x08\x00garbage-after-a-header" * 40])
def test_a_gzip_file_that_is_garbage_is_one_line_exit_2(tmp_path, junk):
    gz = tmp_path / "h.jsonl.gz"
    gz.write_bytes(junk)
    p = harness("check", gz, "--workload", "list-append")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a readable gzip stream" in lines[0] and str(gz) in lines[0]
    p = harness("check", gz)                         # workload guessed: the same one line
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1


def test_gzipped_json_that_is_not_a_history_names_the_line(tmp_path):
    gz = tmp_path / "h.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"index": 0, "type": "ok", "f": "txn", "value": []}\nnot json\n'))
    for workload in ("list-append", "rw-register"):
        p = harness("check", gz, "--workload", workload)
        assert p.returncode == 2 and p.stderr.strip().splitlines() == [
            f"harness check: {gz}:2: malformed JSON: invalid literal: line 1 column 1 (char 0)"]


def test_gzipped_edn_is_edn(tmp_path):
    edn = ROOT / "tests/data/elle/paper-example.edn"
    gz = tmp_path / "history.edn.gz"
    gz.write_bytes(gzip.compress(edn.read_bytes()))
    assert is_edn(gz)
    assert read_history(gz) == read_history(edn)
    assert check_file(gz, "list-append")["anomaly_types"] == check_file(edn, "list-append")["anomaly_types"]


def test_the_store_finds_a_compressed_history(tmp_path):
    assert store.history_path(tmp_path) == tmp_path / store.HISTORY    # neither: the plain name
    (tmp_path / store.HISTORY_GZ).write_bytes(gzip.compress(b""))
    assert store.history_path(tmp_path) == tmp_path / store.HISTORY_GZ
    (tmp_path / store.HISTORY).write_bytes(b"")
    assert store.history_path(tmp_path) == tmp_path / store.HISTORY


def test_history_compress_is_a_spec_field_and_a_run_flag():
    from harness.errors import UsageError
    from harness.spec import TestSpec
    spec = TestSpec.from_dict({"db": "mariadb", "workload": "list-append", "history_compress": True})
    assert spec.history_compress is True and TestSpec.from_dict(spec.to_dict()).history_compress is True
    with pytest.raises(UsageError, match="history_compress"):
        TestSpec.from_dict({"db": "mariadb", "workload": "list-append", "history_compress": "yes"})
    from harness.cli import build_parser
    args = build_parser().parse_args(["run", "--db", "mariadb", "--workload", "list-append", "--history-compress"])
    from harness.run_cmd import spec_from_args
    assert spec_from_args(args).history_compress is True


def test_analyze_and_the_report_read_a_compressed_run(tmp_path):
    from testing.synthetic import make_run_dir
    from harness.runner import analyze
    runs = {}
    for kind in ("plain", "gz"):
        run = make_run_dir(tmp_path / kind, n_ops=4000, workload="list-append", duration=60.0)
        if kind == "gz":
            hist = run / store.HISTORY
            write_gz(run / store.HISTORY_GZ, [op for _, op in iter_history(hist)])
            hist.unlink()
        runs[kind] = (run, analyze(run))
    (pr, a), (gr, b) = runs["plain"], runs["gz"]
    assert a["valid"] == b["valid"] and a["anomaly_types"] == b["anomaly_types"]
    assert a["stats"]["txns"] == b["stats"]["txns"] > 1000 and not b.get("errors")
    html = (gr / "index.html").read_text()
    assert 'href="history.jsonl.gz"' in html
    sa, sb = (json.loads((r / "summary.json").read_text()) for r in (pr, gr))
    assert sa == sb


def test_serve_lists_a_compressed_run_reports_it_and_hands_out_the_gz(tmp_path):
    import threading
    import urllib.request
    from testing.synthetic import make_run_dir
    from harness.serve_cmd import make_server
    run = make_run_dir(tmp_path / "mariadb-list-append-primary" / "20261203T120000", n_ops=600, db="mariadb")
    hist = run / store.HISTORY
    write_gz(run / store.HISTORY_GZ, [op for _, op in iter_history(hist)])
    hist.unlink()
    (run / "results.json").unlink()     # a crashed run: only the history and test.json
    server = make_server(tmp_path, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(base + "/", timeout=20) as r:
            assert "mariadb-list-append-primary" in r.read().decode()
        with urllib.request.urlopen(base + "/run/mariadb-list-append-primary/20261203T120000/", timeout=60) as r:
            page = r.read().decode()
        assert r.status == 200 and 'href="history.jsonl.gz"' in page and "not a JSON object" not in page
        with urllib.request.urlopen(base + "/run/mariadb-list-append-primary/20261203T120000/history.jsonl.gz",
                                    timeout=20) as r:
            assert r.headers["Content-Type"] == "application/gzip"
            assert r.read() == (run / store.HISTORY_GZ).read_bytes()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(20)
