"""The report reads the history as a stream (issue 20): ops fetched back by position and index, the
envelope scan agreeing with the whole-op scan, and memory that does not hold the history."""
import tracemalloc

import numpy as np
import orjson
import pytest

from harness.report import write_report
from harness.report import stream
from harness.report.ops import Scan, pair_ops
from harness.report.stream import HistoryFile, op_at
from testing.synthetic import make_run_dir


def _write(path, ops, extra_lines=()):
    with open(path, "wb") as f:
        for k, op in enumerate(ops):
            f.write(orjson.dumps(op) + b"\n")
            for at, raw in extra_lines:
                if at == k:
                    f.write(raw)


def _history():
    """Clients over many chunks, a completion without f, ops without time, nemesis periods, an op
    invoked in one chunk and completed several chunks later, one never completed."""
    ops, t = [], 0
    for k in range(3000):
        p = k % 7
        ops.append({"index": len(ops), "time": t, "type": "invoke", "process": p, "f": "txn" if p else "read",
                    "value": [["append", k % 13, k]]})
        t += 1000
        done = {"index": len(ops), "time": t, "type": ("ok", "fail", "info")[k % 3], "process": p,
                "value": [["append", k % 13, k]], "node": f"n{k % 3}"}
        if k % 5:
            done["f"] = "txn" if p else "read"
        if k == 40:
            del done["time"]
        ops.append(done)
        if k == 100:
            ops.append({"index": len(ops), "time": t, "type": "info", "process": "nemesis", "f": "start-kill",
                        "value": ["n2"]})
        if k == 2000:
            ops.append({"index": len(ops), "time": t, "type": "info", "process": "nemesis", "f": "stop-kill"})
        if k == 10:
            ops.append({"index": len(ops), "time": t, "type": "invoke", "process": 99, "f": "slow", "value": 1})
        if k == 2500:
            ops.append({"index": len(ops), "time": t, "type": "ok", "process": 99, "f": "slow", "value": 1})
        if k == 2900:
            ops.append({"index": len(ops), "time": t, "type": "invoke", "process": 98, "f": "txn", "value": []})
        t += 500
    return ops


def _scan(hf, envelopes):
    scan = Scan()
    for chunk in hf.chunks(envelopes=envelopes):
        assert (chunk._envs is not None) == envelopes    # msgspec is installed: every clean chunk
        scan.feed(chunk)
    return scan.finish()


def test_envelope_scan_whole_op_scan_and_list_pairing_agree(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "CHUNK_BYTES", 8000)   # dozens of chunks: pairs span chunk borders
    ops = _history()
    _write(tmp_path / "h.jsonl", ops)
    whole = _scan(HistoryFile(tmp_path / "h.jsonl", []), envelopes=False)
    env = _scan(HistoryFile(tmp_path / "h.jsonl", []), envelopes=True)
    listed = pair_ops(ops)
    for got in (env[0], listed):
        for field in ("start", "end", "inv_index", "comp_index"):
            assert np.array_equal(getattr(got, field), getattr(whole[0], field), equal_nan=True), field
        for field in ("f", "type", "process"):
            assert list(getattr(got, field)) == list(getattr(whole[0], field)), field
    pairs = env[0]
    assert len(pairs) == 3002 and set(pairs.f_names) == {"read", "txn", "slow"}
    slow = int(np.flatnonzero(pairs.f == "slow")[0])       # invoked near the start, completed near the end
    assert pairs.comp_index[slow] - pairs.inv_index[slow] > 4000
    assert list(pairs.comp_index).count(-1) == 1            # the one never completed
    assert pairs.invoke_of[int(pairs.comp_index[slow])] == int(pairs.inv_index[slow])
    assert int(pairs.inv_index[slow]) in pairs.completion_of and 4 not in pairs.invoke_of
    assert [(p.fault, p.healed) for p in env[1]] == [(p.fault, p.healed) for p in whole[1]] == [("kill", True)]


def test_history_file_reads_ops_back_by_position_and_index(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "CHUNK_BYTES", 500)
    ops = [{"index": 100 + 2 * k, "time": k, "type": "ok", "process": 0, "f": "txn", "value": k} for k in range(200)]
    ops[150]["index"] = 7                                    # not in order either
    _write(tmp_path / "h.jsonl", ops, extra_lines=[(20, b"\n"), (60, b'{"index": 3, "cut off\n')])
    problems = []
    hf = HistoryFile(tmp_path / "h.jsonl", problems)
    assert len(hf) == 0
    n = sum(len(c) for c in hf.chunks(envelopes=True))
    assert n == len(hf) == 200
    assert problems == ["h.jsonl:63: not a JSON object, skipped"]  # line 63: after op 60 and the blank line
    assert hf[0] == ops[0] and hf[199] == ops[199] and hf[150]["index"] == 7
    assert hf.position(100 + 2 * 120) == 120 and op_at(hf, 7) == ops[150]
    assert hf.position(101) is None and op_at(hf, 3) is None and hf.position("100") is None
    with pytest.raises(IndexError):
        hf[200]
    hf.close()


def test_dense_history_keeps_no_index_array(tmp_path):
    ops = [{"index": k, "time": k, "type": "ok", "process": 0, "f": "txn"} for k in range(50)]
    _write(tmp_path / "h.jsonl", ops)
    hf = HistoryFile(tmp_path / "h.jsonl", [])
    for _ in hf.chunks(envelopes=True):
        pass
    assert hf._indexes is None and hf.position(49) == 49 and hf.position(50) is None


def test_report_memory_does_not_hold_the_history(tmp_path):
    """An 80,000-op history (14 MB): the report used to peak at ~150 MB of Python objects (every op
    a dict); streamed, it keeps a chunk in flight and ~40 bytes a pair."""
    run = make_run_dir(tmp_path / "run", n_ops=80_000, workload="list-append", duration=120.0)
    tracemalloc.start()
    try:
        write_report(run)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64e6, f"{peak / 1e6:.0f} MB"
    assert "Not safe" in (run / "index.html").read_text()
