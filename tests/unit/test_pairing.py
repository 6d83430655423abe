"""checkers.pairing: each rule case, and the streaming and whole-list faces agreeing."""
import random

import pytest

from checkers.history import HistoryError
from checkers.pairing import Pairer, never_pairs, pair


def op(i, t, p, f="txn", v=None):
    return {"index": i, "type": t, "process": p, "f": f, "value": v}


def shape(pairs):
    """Each pair as (invoke index, completion index), None where absent."""
    return [(pr.invoke and pr.invoke["index"], pr.done and pr.done["index"]) for pr in pairs]


def stream(ops):
    """The streaming face driven by hand, as a checker's loop drives it: the same shape as pair()."""
    pairer, out = Pairer(), []
    for i, o in enumerate(ops):
        p = o["process"]
        if o["type"] == "invoke":
            if never_pairs(p):
                continue
            row = [o["index"], None]
            pairer.invoke(p, row, i + 1, lambda r: r[0] + 1)
            out.append(row)
        elif p != "nemesis":
            row = pairer.complete(p)
            if row is None:
                out.append([None, o["index"]])
            else:
                row[1] = o["index"]
    assert [r for r in out if r[1] is None] == pairer.leftovers()
    return [tuple(r) for r in out]


def test_a_completion_closes_its_process_pending_invoke():
    ops = [op(0, "invoke", 1), op(1, "invoke", 2), op(2, "ok", 2), op(3, "fail", 1)]
    assert shape(pair(ops)) == [(0, 3), (1, 2)]
    assert [pr.type for pr in pair(ops)] == ["fail", "ok"]


def test_info_closes_the_invoke_and_the_op_is_indeterminate():
    ops = [op(0, "invoke", 1), op(1, "info", 1)]
    (pr,) = pair(ops)
    assert (pr.invoke["index"], pr.done["index"], pr.type) == (0, 1, "info")


def test_an_invoke_never_completed_is_indeterminate():
    ops = [op(0, "invoke", 1), op(1, "invoke", 2), op(2, "ok", 1)]
    prs = pair(ops)
    assert shape(prs) == [(0, 2), (1, None)]
    assert prs[1].type == "info"


def test_a_completion_without_invoke_stands_alone():
    ops = [op(0, "ok", 1), op(1, "invoke", 1), op(2, "ok", 1)]
    assert shape(pair(ops)) == [(None, 0), (1, 2)]


def test_a_second_invoke_while_one_is_pending_names_both_lines():
    ops = [op(0, "invoke", 1), op(1, "invoke", 2), op(2, "invoke", 1)]
    with pytest.raises(HistoryError, match=r"^h.jsonl:12: process 1 invokes again before its op \(line 10\)"):
        pair(ops, "h.jsonl", [10, 11, 12].__getitem__)
    with pytest.raises(HistoryError, match=r"^<history>:3: .*\(line 1\)"):
        pair(ops)


def test_the_report_reading_replaces_the_pending_invoke():
    pairer = Pairer(replace=True)
    pairer.invoke(1, "first")
    pairer.invoke(1, "second")
    assert pairer.complete(1) == "second" and pairer.complete(1) is None


def test_nemesis_and_processless_ops_never_pair():
    ops = [op(0, "invoke", "nemesis", "start-kill"), op(1, "info", "nemesis", "start-kill"),
           op(2, "invoke", None), op(3, "ok", None)]
    assert shape(pair(ops)) == [(None, 3)]      # the process-less completion stands alone
    assert never_pairs("nemesis") and never_pairs(None) and not never_pairs(0) and not never_pairs("c1")


def test_a_completion_of_another_f_still_closes_the_invoke():
    ops = [op(0, "invoke", 1, "read"), op(1, "ok", 1, "write")]
    assert shape(pair(ops)) == [(0, 1)]


def test_leftovers_come_in_invoke_order_and_empty_the_pairer():
    pairer = Pairer()
    for p in (3, 1, 2):
        pairer.invoke(p, p)
    pairer.complete(1)
    assert pairer.leftovers() == [3, 2]
    assert pairer.leftovers() == [] and pairer.open == {}


@pytest.mark.parametrize("seed", range(20))
def test_both_faces_agree(seed):
    rng = random.Random(seed)
    ops, busy = [], set()
    for i in range(200):
        p = rng.choice([0, 1, 2, 3, "nemesis", None])
        if p in busy:
            ops.append(op(i, rng.choice(["ok", "fail", "info"]), p))
            busy.discard(p)
        elif rng.random() < 0.1:        # a lone completion
            ops.append(op(i, "ok", p))
        else:
            ops.append(op(i, "invoke", p))
            if not never_pairs(p):
                busy.add(p)
    assert shape(pair(ops)) == stream(ops)


@pytest.mark.parametrize("workload,f,value", [
    ("list-append", "txn", [["append", 1, 1]]),
    ("rw-register", "txn", [["w", 1, 1]]),
    ("cas-register", "write", 1),
    ("save-resume", "save", {"key": 1, "sid": 1}),
])
def test_every_checker_refuses_a_double_invoke_in_the_same_words(tmp_path, workload, f, value):
    from checkers.api import check_file
    from checkers.history import write_history
    path = tmp_path / "h.jsonl"
    write_history(path, [dict(op(0, "invoke", 3, f, value), time=0), dict(op(1, "invoke", 3, f, value), time=1)])
    with pytest.raises(HistoryError, match=r"h.jsonl:2: process 3 invokes again before its op \(line 1\) completed$"):
        check_file(path, workload)


def test_the_report_pairs_as_the_checkers_do():
    from harness.report.ops import pair_ops
    ops = [dict(o, time=10 * o["index"]) for o in
           [op(0, "ok", 1), op(1, "invoke", 1), op(2, "invoke", None), op(3, "invoke", "nemesis", "kill"),
            op(4, "ok", None), op(5, "info", 1), op(6, "invoke", 2)]]
    prs = pair_ops(ops)
    # lone completions are no row of the report; the rest as pair() has them
    want = [(i, d if d is not None else -1) for i, d in shape(pair(ops)) if i is not None]
    assert sorted(zip(prs.inv_index.tolist(), prs.comp_index.tolist())) == sorted(want) == [(1, 5), (6, -1)]
