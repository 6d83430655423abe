"""checkers/linearizable.py on hand-made histories: each non-linearizable one has a linearizable
twin that differs in one event, for both register models, both deciders, and every input form."""
import json

import pytest

from checkers.history import HistoryError, read_history, write_history
from checkers.linearizable import check, check_ops, collect, search, zone_check, zones_apply
from testing.histories import to_edn


def h(*events):
    """Events (process, type, f, value) in real-time order -> op dicts."""
    return [{"index": i, "time": i * 10, "type": t, "process": p, "f": f, "value": v}
            for i, (p, t, f, v) in enumerate(events)]


def verdict(history, model="cas-register", **kw):
    return check_ops(history, model, **kw)["valid"]


# --- register (read / write) --------------------------------------------------------------------

STALE = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
          (1, "invoke", "read", None), (1, "ok", "read", None))      # read after the write: nil
STALE_TWIN = h((0, "invoke", "write", 1), (1, "invoke", "read", None),
               (0, "ok", "write", 1), (1, "ok", "read", None))       # concurrent: may go first

NEW_OLD = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
            (0, "invoke", "write", 2), (1, "invoke", "read", None), (1, "ok", "read", 2),
            (2, "invoke", "read", None), (2, "ok", "read", 1), (0, "ok", "write", 2))
NEW_OLD_TWIN = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
                 (0, "invoke", "write", 2), (2, "invoke", "read", None), (2, "ok", "read", 1),
                 (1, "invoke", "read", None), (1, "ok", "read", 2), (0, "ok", "write", 2))

PHANTOM = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
            (1, "invoke", "read", None), (1, "ok", "read", 7))
PHANTOM_TWIN = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
                 (1, "invoke", "read", None), (1, "ok", "read", 1))

# an indeterminate write may take effect any time after its invoke (here: after a later read)
INFO_LATE = h((0, "invoke", "write", 1), (0, "info", "write", 1),
              (1, "invoke", "read", None), (1, "ok", "read", None),
              (2, "invoke", "read", None), (2, "ok", "read", 1))
INFO_BEFORE_INVOKE = h((2, "invoke", "read", None), (2, "ok", "read", 1),
                       (0, "invoke", "write", 1), (0, "info", "write", 1))


@pytest.mark.parametrize("bad,twin", [(STALE, STALE_TWIN), (NEW_OLD, NEW_OLD_TWIN),
                                      (PHANTOM, PHANTOM_TWIN), (INFO_BEFORE_INVOKE, INFO_LATE)])
@pytest.mark.parametrize("model", ["register", "cas-register"])
def test_register_histories_and_their_twins(bad, twin, model):
    assert verdict(bad, model) is False
    assert verdict(twin, model) is True


@pytest.mark.parametrize("history", [STALE, STALE_TWIN, NEW_OLD, NEW_OLD_TWIN, PHANTOM,
                                     PHANTOM_TWIN, INFO_LATE, INFO_BEFORE_INVOKE])
def test_zone_test_and_search_agree(history):
    (ops,) = collect(history).values()
    assert zones_apply(ops)
    assert (zone_check(ops) is None) == search(ops)[0]


def test_unique_valued_read_write_keys_use_the_zone_test_and_cas_keys_search():
    r = check_ops(NEW_OLD_TWIN)
    assert r["stats"]["zone_keys"] == 1 and r["stats"]["searched_keys"] == 0
    cas = h((0, "invoke", "cas", [None, 1]), (0, "ok", "cas", [None, 1]))
    r = check_ops(cas)
    assert r["valid"] is True and r["stats"]["zone_keys"] == 0 and r["stats"]["searched_keys"] == 1


def test_repeated_written_values_are_searched():
    twice = h((0, "invoke", "write", 1), (0, "ok", "write", 1), (0, "invoke", "write", 2),
              (0, "ok", "write", 2), (0, "invoke", "write", 1), (0, "ok", "write", 1),
              (1, "invoke", "read", None), (1, "ok", "read", 1))
    r = check_ops(twice, "register")
    assert r["valid"] is True and r["stats"]["searched_keys"] == 1
    twice[-1]["value"] = 2
    assert verdict(twice, "register") is False


# --- cas-register --------------------------------------------------------------------------------

CAS_FROM_WRONG = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
                   (1, "invoke", "cas", [2, 3]), (1, "ok", "cas", [2, 3]))
CAS_FROM_WRONG_TWIN = h((0, "invoke", "write", 2), (0, "ok", "write", 2),
                        (1, "invoke", "cas", [2, 3]), (1, "ok", "cas", [2, 3]))

CAS_FAILED_BUT_MATCHED = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
                           (1, "invoke", "cas", [1, 3]), (1, "fail", "cas", [1, 3]))
CAS_FAILED_TWIN = h((0, "invoke", "write", 1), (1, "invoke", "cas", [1, 3]),
                    (1, "fail", "cas", [1, 3]), (0, "ok", "write", 1))   # before the write: nil

CAS_THEN_OLD = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
                 (1, "invoke", "cas", [1, 2]), (1, "ok", "cas", [1, 2]),
                 (2, "invoke", "read", None), (2, "ok", "read", 1))
CAS_INFO_MAY_NOT_HAVE_HAPPENED = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
                                   (1, "invoke", "cas", [1, 2]), (1, "info", "cas", [1, 2]),
                                   (2, "invoke", "read", None), (2, "ok", "read", 1),
                                   (3, "invoke", "read", None), (3, "ok", "read", 2))
# a failed cas whose error the runner recorded (a deadlock...) did not happen at all
CAS_ABORTED = h((0, "invoke", "write", 1), (0, "ok", "write", 1),
                (1, "invoke", "cas", [1, 3]), (1, "fail", "cas", [1, 3]))
CAS_ABORTED[-1]["error"] = "Deadlock found when trying to get lock"


@pytest.mark.parametrize("bad,twin", [(CAS_FROM_WRONG, CAS_FROM_WRONG_TWIN),
                                      (CAS_FAILED_BUT_MATCHED, CAS_FAILED_TWIN),
                                      (CAS_FAILED_BUT_MATCHED, CAS_ABORTED),
                                      (CAS_THEN_OLD, CAS_INFO_MAY_NOT_HAVE_HAPPENED)])
def test_cas_register_histories_and_their_twins(bad, twin):
    assert verdict(bad) is False
    assert verdict(twin) is True


def test_register_model_rejects_cas_with_the_line():
    with pytest.raises(HistoryError, match=r"<history>:3: a cas op, but the register model"):
        check_ops(CAS_FROM_WRONG, "register")


def test_cas_after_info_may_still_take_effect_later():
    # the info cas can only take effect after the read of 1; then a read of 2 is fine
    hist = h((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "cas", [1, 2]),
             (1, "info", "cas", [1, 2]), (2, "invoke", "read", None), (2, "ok", "read", 2))
    assert verdict(hist) is True
    hist[-1]["value"] = 3
    assert verdict(hist) is False


# --- keys, explanation, result shape, budget -----------------------------------------------------

def _keyed(history, key):
    out = []
    for op in history:
        op = dict(op)
        op["value"] = [key, op["value"]]
        out.append(op)
    return out


def test_each_key_alone_and_the_failure_names_its_key():
    good = _keyed(CAS_FROM_WRONG_TWIN, "a")
    bad = [dict(op, process=op["process"] + 10) for op in _keyed(CAS_FROM_WRONG, "b")]
    mixed = [o for pair in zip(good, bad) for o in pair]
    for i, op in enumerate(mixed):
        op["index"] = i
    r = check_ops(mixed)
    assert r["valid"] is False and r["stats"]["keys"] == 2
    (anomaly,) = r["anomalies"]["nonlinearizable"]
    assert anomaly["key"] == "b"
    assert verdict(good + [dict(o, process=o["process"] + 10) for o in _keyed(CAS_FROM_WRONG_TWIN, "b")]) is True


def test_failure_explains_prefix_blocked_op_and_candidate_states():
    r = check_ops(CAS_FROM_WRONG)
    assert r["anomaly_types"] == ["nonlinearizable"] and r["not"] == ["strict-serializable"]
    (a,) = r["anomalies"]["nonlinearizable"]
    assert a["prefix_length"] == 1 and a["linearized"] == [0]
    assert a["blocked"]["index"] == 3 and a["states"] == [1]
    assert "process 1 cas 2 -> 3" in a["explanation"]
    assert "needs the register to hold 2" in a["explanation"]
    assert "held 1" in a["explanation"]
    assert a["ops"][0] is a["blocked"]


def test_result_follows_the_design_json_shape():
    r = check(STALE_TWIN, model="strict-serializable")
    assert set(r) >= {"valid", "anomaly_types", "anomalies", "not", "also_not", "stats"}
    assert r["valid"] is True and r["anomaly_types"] == [] and r["not"] == []
    assert r["stats"]["ok"] == 2 and r["stats"]["txns"] == 2
    json.dumps(r)


def test_empty_history_is_unknown():
    r = check_ops([])
    assert r["valid"] == "unknown" and "no read, write or cas" in r["unknown_reason"]


def test_exhausted_budget_is_unknown_never_a_verdict():
    import random

    from checkers.register_sim import simulate
    hist = simulate(3000, random.Random(3), processes=10, datatype="cas-register", unique=False,
                    values=3, info_rate=0.05)
    assert verdict(hist) is True
    r = check_ops(hist, budget=1)
    assert r["valid"] == "unknown" and "budget" in r["unknown_reason"]
    r = check_ops(hist, time_limit=1e-9)
    assert r["valid"] == "unknown"


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("events,line,message", [
    ([(0, "ok", "read", 1)], 1, "with no invoke"),
    ([(0, "invoke", "read", None), (0, "invoke", "read", None)], 2, "invokes again"),
    ([(0, "invoke", "txn", None)], 1, "not read, write or cas"),
    ([(0, "invoke", "cas", 5)], 1, r"\[expected, new\]"),
    ([(0, "invoke", "read", None), (0, "ok", "write", 1)], 2, "does not match"),
])
def test_bad_histories_name_the_line(tmp_path, events, line, message):
    p = tmp_path / "bad.jsonl"
    write_history(p, h(*events))
    with pytest.raises(HistoryError, match=rf"bad.jsonl:{line}: .*{message}"):
        check(read_history(p))


# --- the same verdicts from JSONL, EDN and Jepsen's log lines --------------------------------------

def to_log(history):
    def v(x):
        if x is None:
            return "nil"
        if isinstance(x, list):
            return "[" + " ".join(v(y) for y in x) + "]"
        return str(x)
    return "".join(f"INFO  jepsen.util - {op['process']}\t:{op['type']}\t:{op['f']}\t{v(op['value'])}\n"
                   for op in history)


FORMS = [STALE, STALE_TWIN, NEW_OLD, NEW_OLD_TWIN, CAS_FROM_WRONG, CAS_FROM_WRONG_TWIN,
         CAS_FAILED_BUT_MATCHED, CAS_FAILED_TWIN, CAS_THEN_OLD, CAS_INFO_MAY_NOT_HAVE_HAPPENED]


@pytest.mark.parametrize("n", range(len(FORMS)))
def test_same_verdict_from_jsonl_edn_and_log(tmp_path, n):
    hist = FORMS[n]
    jsonl, edn, log = tmp_path / "h.jsonl", tmp_path / "h.edn", tmp_path / "jepsen.log"
    write_history(jsonl, hist)
    edn.write_text(to_edn(hist))
    log.write_text("INFO  jepsen.core - Running test\n" + to_log(hist))   # chatter is skipped
    verdicts = {p.name: check(read_history(p))["valid"] for p in (jsonl, edn, log)}
    assert set(verdicts.values()) == {verdict(hist)}, verdicts
    keyed = tmp_path / "keyed.edn"
    keyed.write_text(to_edn(_keyed(hist, 4)))
    assert check(read_history(keyed))["valid"] is verdict(hist)


def test_log_reader_fields_and_errors(tmp_path):
    log = tmp_path / "jepsen.log"
    log.write_text("2017-01-01 INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]\n"
                   "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"
                   "INFO  jepsen.util - 3\t:info\t:cas\t:timed-out\n")
    ops = read_history(log)
    assert [(o["process"], o["type"], o["f"], o["value"]) for o in ops] == [
        (3, "invoke", "cas", [1, 4]), ("nemesis", "info", "start", None), (3, "info", "cas", "timed-out")]
    assert ops.lines[2] == 3 and ops[1]["time"] == 2
    log.write_text("INFO  jepsen.util - 3 :invoke :cas [1 4]\nINFO  jepsen.util - x :ok :cas [1 4]\n")
    with pytest.raises(HistoryError, match=r"jepsen.log:2: process must be an integer"):
        read_history(log)
    log.write_text("INFO  jepsen.util - 3 :invoke :cas [1 4\n")
    with pytest.raises(HistoryError, match=r"jepsen.log:1: unreadable value"):
        read_history(log)


def test_harness_check_reads_a_log_and_guesses_the_workload(tmp_path, capsys):
    from harness.cli import main
    bad, good = tmp_path / "bad.log", tmp_path / "good.log"
    bad.write_text(to_log(CAS_FROM_WRONG))
    good.write_text(to_log(CAS_FROM_WRONG_TWIN))
    assert main(["check", str(good), "--workload", "cas-register", "--model", "linearizable"]) == 0
    assert main(["check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "cas-register" in out and "nonlinearizable" in out and "cannot be placed" in out
    assert main(["check", str(bad), "--json"]) == 1
    r = json.loads(capsys.readouterr().out)
    assert r["valid"] is False and r["anomalies"]["nonlinearizable"][0]["states"] == [1]
    broken = tmp_path / "broken.log"
    broken.write_text(to_log(CAS_FROM_WRONG)[:-1] + "\nINFO  jepsen.util - 9 :ok :read 1\n")
    assert main(["check", str(broken), "--workload", "cas-register"]) == 2
    assert "broken.log:5: a ok of process 9 with no invoke" in capsys.readouterr().err
