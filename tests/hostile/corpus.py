"""A hostile corpus for `harness check` and `harness analyze`, generated (nothing large is committed).

    build(dir) -> (history_cases, run_dir_cases)

Each history case is (name, path, garbage_for): `garbage_for` is the set of workloads for which
exit 0 would be a wrong verdict (the input is malformed, or its verdict must not be "valid").
Every history is a small, valid base with ONE thing broken, so a refusal is about that thing.
Each run-dir case is (name, path): a stored run whose test.json / results.json is broken.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ALL = frozenset(("list-append", "rw-register", "bank", "set", "save-resume"))


def _op(i, typ, p, f, value, **extra):
    return {"index": i, "time": 1000 * (i + 1), "type": typ, "process": p, "f": f, "value": value, **extra}


def list_append_base():
    return [_op(0, "invoke", 0, "txn", [["append", "x", 1], ["r", "y", None]]),
            _op(1, "ok", 0, "txn", [["append", "x", 1], ["r", "y", []]]),
            _op(2, "invoke", 1, "txn", [["r", "x", None], ["append", "y", 2]]),
            _op(3, "ok", 1, "txn", [["r", "x", [1]], ["append", "y", 2]])]


def rw_base():
    return [_op(0, "invoke", 0, "txn", [["w", 1, 1]]), _op(1, "ok", 0, "txn", [["w", 1, 1]]),
            _op(2, "invoke", 1, "txn", [["r", 1, None]]), _op(3, "ok", 1, "txn", [["r", 1, 1]])]


def bank_base(balances=None):
    b = balances if balances is not None else {"0": 50, "1": 50}
    return [_op(0, "invoke", 0, "read", None), _op(1, "ok", 0, "read", b, total=100)]


def set_base(read=(1, 2)):
    return [_op(0, "invoke", 0, "add", 1), _op(1, "ok", 0, "add", 1),
            _op(2, "invoke", 1, "add", 2), _op(3, "ok", 1, "add", 2),
            _op(4, "invoke", 0, "read", None), _op(5, "ok", 0, "read", list(read), final=True)]


def save_resume_base(hist=((0, 1),)):
    state = {"exec": "pi-1-1", "rev": 1, "seq": 0, "act": "step-0-1", "var": "0:1", "tasks": ["t-1"],
             "jobs": [], "hist": [list(h) for h in hist], "n_exec": 1}
    return [_op(0, "invoke", 0, "start", {"key": 1, "sid": 1, "unique": True}),
            _op(1, "ok", 0, "start", {"key": 1, "sid": 1, "unique": True, "exec": "pi-1-1"}),
            _op(2, "invoke", 1, "resume", {"key": 1}),
            _op(3, "ok", 1, "resume", {"key": 1, "state": state})]


def _lines(ops):
    return "".join(json.dumps(op) + "\n" for op in ops)


def _mutate(base, line, **fields):
    ops = [dict(op) for op in base]
    ops[line].update(fields)
    return ops


# raw JSON fragments that json.dumps cannot produce (numbers beyond doubles / int64)
RAW_LA = _lines(list_append_base())


def _raw_time(t):
    return RAW_LA.replace('"time": 2000', f'"time": {t}', 1)


def _la_value(v):
    return _mutate(list_append_base(), 1, value=v)


def history_cases(d: Path):
    """(name, text or bytes, garbage_for) for every file case."""
    la, rw = list_append_base(), rw_base()
    cases = []

    def add(name, content, garbage=ALL):
        cases.append((name, content, frozenset(garbage)))

    # --- the op envelope ------------------------------------------------------------------------
    for field in ("f", "type", "process", "time", "index"):
        for bad in (["txn"], {"a": 1}):
            add(f"{field}-{type(bad).__name__}.jsonl", _lines(_mutate(la, 1, **{field: bad})))
    add("process-true.jsonl", _lines(_mutate(la, 1, process=True)))
    add("process-float.jsonl", _lines(_mutate(la, 1, process=0.5)))
    add("type-bogus.jsonl", _lines(_mutate(la, 1, type="done")))
    add("time-string.jsonl", _lines(_mutate(la, 1, time="soon")))
    add("time-true.jsonl", _lines(_mutate(la, 1, time=True)))
    for t in ("9223372036854775808", "18446744073709551615", "-9223372036854775809",
              "99999999999999999999999", "1e300", "-1e300", "1e999", "NaN", "Infinity"):
        add(f"time-{t}.jsonl", _raw_time(t))
    # --- micro-ops ------------------------------------------------------------------------------
    add("value-dict.jsonl", _lines(_la_value({"append": 1})))
    add("value-string.jsonl", _lines(_la_value("append x 1")))
    add("mop-short.jsonl", _lines(_la_value([["append", "x"]])))
    add("mop-fn-list.jsonl", _lines(_la_value([[["append"], "x", 1]])))
    add("mop-key-list.jsonl", _lines(_la_value([["append", ["x"], 1]])))
    add("mop-key-dict.jsonl", _lines(_la_value([["append", {"x": 1}, 1]])))
    add("mop-key-float.jsonl", _lines(_la_value([["append", 1.5, 1]])))
    add("mop-key-true.jsonl", _lines(_la_value([["append", True, 1]])))
    add("append-float.jsonl", _lines(_la_value([["append", "x", 1.0], ["r", "y", []]])))
    add("append-true.jsonl", _lines(_la_value([["append", "x", True], ["r", "y", []]])))
    add("append-list.jsonl", _lines(_la_value([["append", "x", [1]], ["r", "y", []]])))
    add("read-float-elem.jsonl", _lines(_mutate(la, 3, value=[["r", "x", [1.0]], ["append", "y", 2]])))
    add("read-true-elem.jsonl", _lines(_mutate(la, 3, value=[["r", "x", [True]], ["append", "y", 2]])))
    add("read-dict.jsonl", _lines(_mutate(la, 3, value=[["r", "x", {"a": 1}], ["append", "y", 2]])))
    # 2^64 and 2^64+1 both become the same double in a lax reader: a false duplicate
    big = RAW_LA.replace('["append", "x", 1], ["r", "y", []]', '["append", "x", 18446744073709551616]', 1)
    big = big.replace('["r", "x", None], ["append", "y", 2]', '["r", "x", None]', 1)
    add("append-beyond-int64.jsonl", big)
    add("rw-write-float.jsonl", _lines(_mutate(rw, 1, value=[["w", 1, 1.0]])))
    add("rw-key-true.jsonl", _lines(_mutate(rw, 3, value=[["r", True, 1]])))
    add("rw-read-list.jsonl", _lines(_mutate(rw, 3, value=[["r", 1, [1]]])))
    # --- JSON / bytes ---------------------------------------------------------------------------
    add("empty.jsonl", "")
    add("blank-lines.jsonl", "\n\n  \n")
    add("truncated-line.jsonl", RAW_LA[:-20])
    add("not-json.jsonl", "hello world\n")
    add("json-array.jsonl", json.dumps(la) + "\n")
    add("json-number-lines.jsonl", "1\n2\n3\n")
    add("json-null.jsonl", "null\n")
    add("nul-bytes.jsonl", b"\x00" * 64 + b"\n")
    add("invalid-utf8.jsonl", RAW_LA.encode().replace(b'"x"', b'"\xff\xfe"', 1))
    add("bom.jsonl", "\ufeff" + RAW_LA)
    add("deep-json.jsonl", RAW_LA.replace('"value": [["append", "x", 1], ["r", "y", []]]',
                                          '"value": ' + "[" * 3000 + "]" * 3000, 1))
    add("escaped-type.jsonl", RAW_LA.replace('"type": "ok"', '"\\u0074ype": ["ok"]', 1))
    add("random-bytes.jsonl", bytes(range(256)) * 16)
    # --- EDN ------------------------------------------------------------------------------------
    edn_ok = ('{:index 0 :type :invoke :process 0 :f :txn :time 1 :value [[:append :x 1]]}\n'
              '{:index 1 :type :ok :process 0 :f :txn :time 2 :value [[:append :x 1]]}\n')
    add("edn-time-1e999.edn", edn_ok.replace(":time 2", ":time 1e999"))
    add("edn-time-bigN.edn", edn_ok.replace(":time 2", ":time 99999999999999999999999N"))
    add("edn-time-float-big.edn", edn_ok.replace(":time 2", ":time 1e300"))
    add("edn-deep.edn", edn_ok.replace("[[:append :x 1]]}\n{:index 1", "[" * 5000 + "]" * 5000 + "}\n{:index 1", 1))
    add("edn-deep-unclosed.edn", "[" * 100000)
    add("edn-map-key-map.edn", "{{:a 1} 2 :type :ok :f :txn :process 0 :value []}\n")
    add("edn-map-key-vector.edn", "{[:a] 2 :type :ok :f :txn :process 0 :value []}\n")
    add("edn-bad-unicode.edn", edn_ok.replace(":x 1]]}\n{", ':x 1] [:r "\\uZZZZ" nil]]}\n{', 1))
    add("edn-short-unicode.edn", '{:type :ok :f :txn :process 0 :value [[:r "\\u12" nil]]}\n')
    add("edn-unterminated-string.edn", '{:type :ok :f "txn}\n')
    add("edn-unclosed-map.edn", "{:type :ok :f :txn\n")
    add("edn-odd-map.edn", "{:type :ok :f}\n")
    add("edn-stray-close.edn", "}\n")
    add("edn-empty-keyword.edn", "{: 1}\n")
    add("edn-process-vector.edn", edn_ok.replace(":process 0 :f :txn :time 2", ":process [0] :f :txn :time 2"))
    add("edn-f-map.edn", edn_ok.replace(":f :txn :time 2", ":f {:a 1} :time 2"))
    add("edn-key-float.edn", edn_ok.replace("[[:append :x 1]]}\n", "[[:append 1.5 1]]}\n"))
    add("edn-append-bigN.edn", edn_ok.replace(":x 1]", ":x 99999999999999999999N]"))
    add("edn-discard-at-end.edn", edn_ok + "#_")
    add("edn-tag-at-end.edn", edn_ok + "#inst")
    add("edn-vector-of-junk.edn", "[1 2 3]\n")
    add("edn-not-utf8.edn", b'{:type :ok :f :txn :value "\xff"}\n')
    # --- bank -----------------------------------------------------------------------------------
    add("bank-pairs-string-account.jsonl", _lines(bank_base([["a", 50], ["b", 50]])), {"bank"})
    add("bank-pairs-null-account.jsonl", _lines(bank_base([[None, 50], [1, 50]])), {"bank"})
    add("bank-balance-1e308.jsonl", _lines(bank_base({"0": 1e308, "1": 50})), {"bank"})
    add("bank-balance-float.jsonl", _lines(bank_base({"0": 49.5, "1": 50.5})), {"bank"})
    add("bank-balance-true.jsonl", _lines(bank_base({"0": True, "1": 99})), {"bank"})
    add("bank-balance-string.jsonl", _lines(bank_base({"0": "50", "1": 50})), {"bank"})
    add("bank-account-word.jsonl", _lines(bank_base({"zero": 50, "1": 50})), {"bank"})
    add("bank-total-float.jsonl", _lines(_mutate(bank_base(), 1, total=100.0)), {"bank"})
    add("bank-total-string.jsonl", _lines(_mutate(bank_base(), 1, total="100")), {"bank"})
    # --- set ------------------------------------------------------------------------------------
    s = set_base()
    add("set-add-list.jsonl", _lines(_mutate(_mutate(s, 0, value=[1]), 1, value=[1])), {"set"})
    add("set-add-dict.jsonl", _lines(_mutate(_mutate(s, 0, value={"a": 1}), 1, value={"a": 1})), {"set"})
    add("set-mixed-missing.jsonl", _lines(_mutate(_mutate(_mutate(s, 2, value="b"), 3, value="b"), 5,
                                                   value=[])), {"set"})
    add("set-true-for-1.jsonl", _lines(_mutate(s, 5, value=[True, 2])), {"set"})
    add("set-float-for-1.jsonl", _lines(_mutate(s, 5, value=[1.0, 2])), {"set"})
    add("set-read-nested.jsonl", _lines(_mutate(s, 5, value=[[1], 2])), {"set"})
    # --- save-resume ----------------------------------------------------------------------------
    add("sr-hist-strings.jsonl", _lines(save_resume_base(hist=(("a", "b"),))), {"save-resume"})
    add("sr-hist-nested.jsonl", _lines(save_resume_base(hist=(([0], {"a": 1}),))), {"save-resume"})
    return cases


def run_dir_cases(d: Path):
    """(name, files) for stored runs with broken test.json / results.json."""
    spec = {"db": "mariadb", "workload": "list-append", "seed": 1, "isolation": "serializable"}
    res = {"valid": True, "anomaly_types": [], "db": "mariadb", "errors": []}
    cases = []

    def add(name, test=spec, results=res):
        cases.append((name, test, results))

    for bad_test in ([], 5, "x", {"db": "mariadb"}, {**spec, "isolation": "bogus"},
                     {**spec, "workload": ["x"]}, {**spec, "workload": "nope"},
                     {**spec, "workload_opts": [1]}, {**spec, "nemesis": 5}, {**spec, "nemesis": [1]},
                     {**spec, "knobs": [1]}, {**spec, "model": ["x"]}, {**spec, "model": "bogus"},
                     {**spec, "seed": "x"}, {**spec, "time_limit": "x"}, {**spec, "db": {"a": 1}},
                     {**spec, "name": 5}, {**spec, "bogus_field": 1}):
        add(f"test-{json.dumps(bad_test)[:40]}", test=bad_test)
    for bad_res in ([], 5, {**res, "errors": 5}, {**res, "errors": [1]}, {**res, "versions": [1]},
                    {**res, "nemesis": [1]}, {**res, "db": {}}, {**res, "anomaly_types": [1]},
                    {**res, "error": [1]}):
        add(f"results-{json.dumps(bad_res)[:40]}", results=bad_res)
    add("test-is-dir", test="<dir>")
    add("results-is-dir", results="<dir>")
    add("test-not-json", test="<garbage>")
    return cases


def build(d):
    """Write the corpus under d; return (history cases, run-dir cases) with paths."""
    d = Path(d)
    (d / "h").mkdir(parents=True, exist_ok=True)
    out = []
    for name, content, garbage in history_cases(d):
        p = d / "h" / name
        if isinstance(content, str):
            p.write_text(content)
        else:
            p.write_bytes(content)
        out.append((name, str(p), garbage))
    # files that are not regular files, or not there
    fifo = d / "h" / "fifo.jsonl"
    os.mkfifo(fifo)
    out.append(("fifo.jsonl", str(fifo), ALL))
    fifo2 = d / "h" / "fifo-noext"
    os.mkfifo(fifo2)
    out.append(("fifo-noext", str(fifo2), ALL))
    (d / "h" / "dir-noext").mkdir()
    out.append(("dir-noext", str(d / "h" / "dir-noext"), ALL))
    (d / "h" / "dir.jsonl").mkdir()
    out.append(("dir.jsonl", str(d / "h" / "dir.jsonl"), ALL))
    out.append(("missing.jsonl", str(d / "h" / "missing.jsonl"), ALL))
    out.append(("dev-null", "/dev/null", ALL))
    runs = []
    for i, (name, test, results) in enumerate(run_dir_cases(d)):
        r = d / "runs" / f"r{i:02d}"
        r.mkdir(parents=True)
        (r / "history.jsonl").write_text(RAW_LA)
        for fname, content in (("test.json", test), ("results.json", results)):
            if content == "<dir>":
                (r / fname).mkdir()
            elif content == "<garbage>":
                (r / fname).write_text("{not json")
            else:
                (r / fname).write_text(json.dumps(content))
        runs.append((name, str(r)))
    return out, runs
