"""History I/O: JSONL and Jepsen EDN reading, writing, and one-line errors for bad input."""
import pytest

from checkers.edn import parse_edn
from checkers import history
from checkers.history import HistoryError, HistoryWriter, iter_history, read_history, write_history

OPS = [
    {"index": 0, "time": 10, "type": "invoke", "process": 3, "f": "txn",
     "value": [["append", 5, 12], ["r", 7, None]], "node": "n2"},
    {"index": 1, "time": 20, "type": "ok", "process": 3, "f": "txn",
     "value": [["append", 5, 12], ["r", 7, [1, 4]]], "node": "n2"},
    {"index": 2, "time": 25, "type": "info", "process": "nemesis", "f": "partition", "value": ["n1"]},
]


def test_jsonl_round_trip(tmp_path):
    p = tmp_path / "h.jsonl"
    write_history(p, OPS)
    h = read_history(p)
    assert list(h) == OPS
    assert list(h.lines) == [1, 2, 3] and h.path == str(p)


def test_writer_appends_and_flushes_each_op(tmp_path):
    p = tmp_path / "h.jsonl"
    with HistoryWriter(p) as w:
        w.write(OPS[0])
        # flushed: a reader sees it before the writer is closed (a crash leaves this prefix)
        assert [op for _, op in iter_history(p)] == [OPS[0]]
        w.write(OPS[1])
    assert list(read_history(p)) == OPS[:2]


def test_blank_lines_are_skipped_and_lines_kept(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"type":"invoke","f":"txn","value":[],"process":1}\n\n'
                 '{"type":"ok","f":"txn","value":[],"process":1}\n')
    assert list(read_history(p).lines) == [1, 3]


def test_edn_jepsen_lines(tmp_path):
    p = tmp_path / "history.edn"
    p.write_text(
        '{:type :invoke, :f :txn, :value [[:append 5 12] [:r 7 nil]], :process 3, :time 10, :index 0, :node "n2"}\n'
        '{:type :ok, :f :txn, :value [[:append 5 12] [:r 7 [1 4]]], :process 3, :time 20, :index 1, :node "n2"}\n'
        '; a comment\n'
        '{:type :info, :f :partition, :value ["n1"], :process :nemesis, :time 25, :index 2}\n')
    h = read_history(p)
    assert list(h) == OPS
    assert list(h.lines) == [1, 2, 4]


def test_edn_single_vector_and_literals(tmp_path):
    p = tmp_path / "h.edn"
    p.write_text('[{:type :invoke :f :txn :value [[:r :k nil]] :process 0 :extra #{1} :t #inst "2020"}\n'
                 ' {:type :ok :f :txn :value [[:r :k [1 2]]] :process 0 :x -1.5e3 :y \\a :z true}]\n')
    h = read_history(p)
    assert h[0]["value"] == [["r", "k", None]] and h[0]["extra"] == [1] and h[0]["t"] == "2020"
    assert h[1]["x"] == -1500.0 and h[1]["y"] == "a" and h[1]["z"] is True
    assert list(h.lines) == [1, 2]


def test_edn_values():
    forms = parse_edn('{:a "s\\"q\\n" :b [1 -2 3N] :c {:d nil} :e (1 2) #_ :skipped :f :ns/kw}')
    assert forms[0][0] == {"a": 's"q\n', "b": [1, -2, 3], "c": {"d": None}, "e": [1, 2], "f": "ns/kw"}


@pytest.mark.parametrize("text, line, message", [
    ('{"type":"invoke","f":"txn","value":[]}\n{"type": "ok",\n', 2, "malformed JSON"),
    ('{"type":"invoke","f":"txn","value":[]}\n{"f":"txn","value":[]}\n', 2, "missing field 'type'"),
    ('{"type":"invoke","f":["txn"],"value":[]}\n', 1, "field 'f' must be a string"),
    ('{"type":"done","f":"txn"}\n', 1, "unknown op type"),
    ('[1, 2]\n', 1, "expected an op object"),
    ('{"type":"ok","f":"txn","time":"soon"}\n', 1, "field 'time' must be a number"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, text, line, message):
    p = tmp_path / "bad.jsonl"
    p.write_text(text)
    with pytest.raises(HistoryError) as e:
        read_history(p)
    assert str(e.value).startswith(f"{p}:{line}: ")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("text, line, message", [
    ('{:type :invoke :f :txn}\n{:type :ok :f :txn :value [1 2}\n', 2, "expected ']'"),
    ('{:type :invoke :f :txn}\n{:type :ok :f\n', 2, "unclosed"),
    ('{:type :invoke :f :txn}\n{:f :txn}\n', 2, "missing field 'type'"),
])
def test_bad_edn_names_file_and_line(tmp_path, text, line, message):
    p = tmp_path / "bad.edn"
    p.write_text(text)
    with pytest.raises(HistoryError) as e:
        read_history(p)
    assert str(e.value).startswith(f"{p}:{line}: "), str(e.value)
    assert message in str(e.value)


def test_missing_file_is_one_line_error(tmp_path):
    with pytest.raises(HistoryError, match="no such file"):
        read_history(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("line", [
    b'{"type":"ok","f":"txn","value":[["r",1,1.5]]}',          # a float
    b'{"type":"ok","f":"txn","value":[["r",1,1e5]]}',          # an exponent without a dot
    b'{"type":"ok","f":"txn","value":[["r",1,2E3]]}',
    b'{"type":"ok","f":"txn","value":[["r",true,1]]}',         # a bool after ','
    b'{"type":"ok","f":"txn","process":false}',                # after ':'
    b'{"type":"ok","f":"txn","value":[false]}',                # after '['
    b'{"type":"ok","f":"txn","value": true}',                  # after a space
    b'{"type":"ok","f":"txn","value":\ttrue}',                 # after a tab
    b'{"type":"ok","f":"txn","value":[["r",1,9223372036854775808]]}',   # 19 digits
    b'{"type":"ok","\\u0066":"txn"}',                           # an escaped key
    b'{"type":"ok","f":"txn","value":[[[[1]]]]}',              # deep nesting
])
def test_a_chunk_with_anything_odd_is_read_carefully(line):
    plain = b'{"index":0,"time":64,"type":"invoke","process":5,"f":"txn","value":[["r",12,null],["append",18,1]]}\n'
    assert not history._suspect(plain * 100)
    assert history._suspect(plain * 50 + line + b"\n" + plain * 50)
