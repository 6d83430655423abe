"""Hostile checker input: one line `FILE:LINE: what`, exit 2, never a traceback, a hang or a verdict
on garbage; and the near-twin well-formed inputs still load and judge as before."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from checkers import bank, set_check
from checkers.api import check_file
from checkers.history import HistoryError, read_history
from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]


def ops_file(tmp_path, ops, name="h.jsonl"):
    p = tmp_path / name
    p.write_text("".join((op if isinstance(op, str) else json.dumps(op)) + "\n" for op in ops))
    return p


def la_pair(p=0, t=1, key="x", v=1, **over):
    inv = {"index": 0, "time": t, "type": "invoke", "process": p, "f": "txn", "value": [["append", key, v]]}
    ok = {**inv, "index": 1, "time": t + 1, "type": "ok", **over}
    return [inv, ok]


def refused(path, workload="list-append", match=None):
    with pytest.raises(HistoryError) as e:
        check_file(str(path), workload)
    msg = str(e.value)
    assert msg.startswith(f"{path}:") and "\n" not in msg
    if match:
        assert match in msg, msg
    return msg


# --- the op envelope: exact types ------------------------------------------------------------

@pytest.mark.parametrize("field, bad, match", [
    ("f", ["txn"], "field 'f' must be a string"),
    ("f", {"a": 1}, "field 'f' must be a string"),
    ("type", ["ok"], "unknown op type"),
    ("type", {"ok": 1}, "unknown op type"),
    ("process", [0], "field 'process'"),
    ("process", {"p": 0}, "field 'process'"),
    ("process", True, "field 'process'"),
    ("process", 0.5, "field 'process'"),
    ("index", [1], "field 'index'"),
    ("time", 1e300, "field 'time'"),
])
@pytest.mark.parametrize("workload", ["list-append", "rw-register"])
def test_envelope_fields_of_the_wrong_type_are_one_line_errors(tmp_path, field, bad, match, workload):
    p = ops_file(tmp_path, la_pair(**{field: bad}))
    assert refused(p, workload, match).startswith(f"{p}:2:")


@pytest.mark.parametrize("raw", ["9223372036854775808", "18446744073709551615", "99999999999999999999999",
                                 "1e300"])
def test_time_beyond_int64_is_refused_not_a_struct_error(tmp_path, raw):
    inv, ok = la_pair()
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(inv) + "\n" + json.dumps(ok).replace('"time": 2', f'"time": {raw}') + "\n")
    refused(p, match="field 'time'")


def test_process_true_and_1_are_not_one_process(tmp_path):
    # a lax reader pairs the invoke of process true with the ok of process 1
    p = ops_file(tmp_path, [la_pair(p=True)[0], la_pair(p=1)[1]])
    refused(p, match="field 'process'")


@pytest.mark.parametrize("mop", [["append", "x", 1.0], ["append", "x", True], ["append", 1.5, 1],
                                 ["append", True, 1], ["r", "x", [1.0]], ["r", "x", [False]]])
def test_float_and_bool_keys_and_values_are_refused(tmp_path, mop):
    inv, ok = la_pair()
    ok["value"] = [mop]
    refused(ops_file(tmp_path, [inv, ok]), match="micro-op")


def test_integers_beyond_64_bits_are_refused_not_rounded_into_one_value(tmp_path):
    # 2^64 and 2^64 + 1 are one double: a lax reader sees a duplicate append
    lines = [json.dumps({"index": 0, "time": 1, "type": "invoke", "process": 0, "f": "txn", "value": []}),
             '{"index": 1, "time": 2, "type": "ok", "process": 0, "f": "txn", "value": '
             '[["append", "x", 18446744073709551616], ["append", "x", 18446744073709551617]]}']
    p = tmp_path / "h.jsonl"
    p.write_text("\n".join(lines) + "\n")
    refused(p)


def test_the_near_twin_with_exact_types_is_judged(tmp_path):
    inv, ok = la_pair()
    ok["value"] = [["append", "x", 1], ["append", "s", "v"], ["r", "x", [1]], ["r", "s", ["v"]]]
    assert check_file(str(ops_file(tmp_path, [inv, ok])), "list-append")["valid"] is True


def test_float_times_within_int64_still_load(tmp_path):
    # the checker truncates fractional nanoseconds (tests/unit/test_checker_list_append.py)
    assert check_file(str(ops_file(tmp_path, la_pair(t=1.5))), "list-append")["valid"] is True


def test_deep_json_nesting_is_a_one_line_error(tmp_path):
    inv, ok = la_pair()
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(inv) + "\n" + json.dumps(ok).replace('"value": [["append", "x", 1]]',
                                                                  '"value": ' + "[" * 900 + "]" * 900) + "\n")
    refused(p, match="nested deeper")


# --- files that are not regular files ---------------------------------------------------------

@pytest.mark.parametrize("name", ["fifo.jsonl", "fifo", "fifo.edn"])
@pytest.mark.parametrize("workload", ["list-append", "rw-register", "bank", "set", "save-resume"])
def test_a_fifo_is_refused_at_once(tmp_path, name, workload):
    p = tmp_path / name
    os.mkfifo(p)   # opening it for reading would block until a writer comes: never here
    refused(p, workload, "not a regular file")


def test_a_directory_without_extension_is_refused(tmp_path):
    d = tmp_path / "hist"
    d.mkdir()
    refused(d, "list-append", "is a directory")


# --- EDN --------------------------------------------------------------------------------------

EDN_OK = ('{:index 0 :type :invoke :process 0 :f :txn :time 1 :value [[:append :x 1]]}\n'
          '{:index 1 :type :ok :process 0 :f :txn :time 2 :value [[:append :x 1]]}\n')


@pytest.mark.parametrize("old, new, match", [
    (":time 2", ":time 1e999", "out of range"),
    (":time 2", ":time 99999999999999999999999N", "64-bit range"),
    ("[[:append :x 1]]}\n{:index 1", "[" * 5000 + "]" * 5000 + "}\n{:index 1", "nested deeper"),
    ("{:index 1", "{{:a 1} 2 :index 1", "map key"),
    (":x 1]]}\n{", ':x 1] [:r "\\uZZZZ" nil]]}\n{', "unicode escape"),
    (":x 1]]}\n{", ':x 1] [:r "\\u12" nil]]}\n{', "unicode escape"),
    (":process 0 :f :txn :time 2", ":process [0] :f :txn :time 2", "field 'process'"),
    ("[[:append :x 1]]}\n", "[[:append 1.5 1]]}\n", "micro-op"),
])
def test_hostile_edn_is_a_one_line_error(tmp_path, old, new, match):
    p = tmp_path / "h.edn"
    p.write_text(EDN_OK.replace(old, new, 1))
    refused(p, match=match)


def test_deeply_unclosed_edn_is_a_one_line_error(tmp_path):
    p = tmp_path / "h.edn"
    p.write_text("[" * 100000)
    refused(p, match="nested deeper")


def test_edn_sets_trailing_discard_and_pretty_printed_maps_load(tmp_path):
    p = tmp_path / "h.edn"
    p.write_text('{:type :invoke, :f :txn, :process 0,\n :value [[:append :x 1] [:r :y nil]]}\n'
                 '{:type :ok\n :f :txn\n :process 0\n :value [[:append :x 1] [:r :y #{}]]}\n#_ {:type :ok}\n')
    h = read_history(p)
    assert [op["type"] for op in h] == ["invoke", "ok"] and h.lines[1] == 3
    assert h[1]["value"][1] == ["r", "y", []]
    assert check_file(str(p), "list-append")["valid"] is True


PAPER = ROOT / "tests" / "data" / "elle" / "paper-example.edn"


def test_elles_paper_example_loads_as_elle_loads_it():
    # no :f and no :process: ops without f are transactions (DESIGN.md)
    h = read_history(PAPER)
    assert len(h) == 8 and all(op["f"] == "txn" for op in h)
    r = check_file(str(PAPER), "list-append")
    assert r["valid"] is False and r["anomaly_types"] == ["G-single"]


# --- bank and set -----------------------------------------------------------------------------

def bank_read(balances, **extra):
    return [{"index": 0, "time": 1, "type": "invoke", "process": 0, "f": "read", "value": None},
            {"index": 1, "time": 2, "type": "ok", "process": 0, "f": "read", "value": balances, **extra}]


@pytest.mark.parametrize("balances, extra, match", [
    ([["a", 50], ["b", 50]], {}, "account 'a'"),
    ([[None, 50], [1, 50]], {}, "account None"),
    ({"0": 1e308, "1": 50}, {}, "must be an integer"),
    ({"0": 49.5, "1": 50.5}, {}, "must be an integer"),
    ({"0": True, "1": 99}, {}, "must be an integer"),
    ({"0": "50", "1": 50}, {}, "must be an integer"),
    ({"zero": 50, "1": 50}, {}, "account 'zero'"),
    ({"0": 50, "1": 50}, {"total": 100.0}, "field 'total'"),
    ({"0": 2 ** 62, "1": 2 ** 62, "2": 2 ** 62}, {}, "64-bit range"),
    ("50,50", {}, "map accounts to balances"),
])
def test_bank_refuses_what_is_not_integer_balances(tmp_path, balances, extra, match):
    p = ops_file(tmp_path, bank_read(balances, **extra))
    assert refused(p, "bank", match).startswith(f"{p}:2:")


def test_bank_float_balances_are_not_truncated_into_a_violation():
    # 49.5 + 50.5 = 100, but truncated 49 + 50 = 99 would be a wrong total: refuse instead
    with pytest.raises(HistoryError):
        bank.check(bank_read({"0": 49.5, "1": 50.5}, total=100))
    assert bank.check(bank_read({"0": 49, "1": 51}, total=100))["valid"] is True
    assert bank.check(bank_read([[0, 49], [1, 51]], total=100))["valid"] is True
    assert bank.check(bank_read({"0": 48, "1": 51}, total=100))["anomaly_types"] == ["wrong-total"]


def set_history(adds, final):
    ops = []
    for i, v in enumerate(adds):
        ops += [{"index": 2 * i, "type": "invoke", "process": i, "f": "add", "value": v},
                {"index": 2 * i + 1, "type": "ok", "process": i, "f": "add", "value": v}]
    ops += [{"type": "invoke", "process": 99, "f": "read", "value": None},
            {"type": "ok", "process": 99, "f": "read", "value": final, "final": True}]
    return ops


@pytest.mark.parametrize("adds, final", [([[1]], [[1]]), ([{"a": 1}], []), ([1, 2], [True, 2]),
                                         ([1, 2], [1.0, 2]), ([1], [[1]])])
def test_set_refuses_elements_that_are_not_int_or_str(adds, final):
    with pytest.raises(HistoryError, match="integers or strings|integer or a string"):
        set_check.check(set_history(adds, final))


def test_set_lists_mixed_int_and_str_missing_elements():
    r = set_check.check(set_history([2, "b", 1, "a"], []))
    assert r["lost_elements"] == [1, 2, "a", "b"] and r["anomaly_types"] == ["lost"]
    assert set_check.check(set_history([2, "b"], [2, "b"]))["valid"] is True


# --- the command: exit 2 with one line --------------------------------------------------------

def test_harness_check_says_one_line_and_exits_2(tmp_path, capsys):
    p = ops_file(tmp_path, la_pair(f=["txn"]))
    assert main(["check", str(p), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{p}:2:" in err[0]


@pytest.mark.slow
def test_the_hostile_corpus_has_no_traceback_hang_or_exit_0_on_garbage():
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "hostile" / "run_corpus.py"), "--verbose"],
                         capture_output=True, text=True, timeout=600)
    counts = json.loads(run.stdout.strip().splitlines()[-1])
    assert counts["runs"] > 1000
    assert (counts["tracebacks"], counts["hangs"], counts["exit-0-on-garbage"]) == (0, 0, 0), run.stdout
