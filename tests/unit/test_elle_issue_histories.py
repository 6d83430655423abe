"""The histories issue 18 names (what Elle finds and the checker missed), each with its exact anomaly
types and a near twin that is valid; the shortest-cycle search; `harness check --assume`."""
import json
import subprocess
import sys

import pytest

from checkers import list_append as la
from checkers import rw_register as rr
from testing.histories import hist

SS, SER, SI, RC = "strict-serializable", "serializable", "snapshot-isolation", "read-committed"


def conc(*txns):
    """Transactions all concurrent, one process each: (type, micro-ops) pairs."""
    return hist(*[(i, 0, 10, typ, v) for i, (typ, v) in enumerate(txns)])


def after(first, *txns):
    """`first` completes before the others start; the others are concurrent."""
    return hist((0, 0, 5, *first), *[(i + 1, 10, 20, typ, v) for i, (typ, v) in enumerate(txns)])


def types(checker, ops, model):
    r = checker.check(ops, model)
    for kind, insts in r["anomalies"].items():
        assert insts and all(i["explanation"] for i in insts), kind
    return r["valid"], r["anomaly_types"]


def ap(k, v):
    return ["append", k, v]


def r(k, v):
    return ["r", k, v]


def w(k, v):
    return ["w", k, v]


# --- list-append ------------------------------------------------------------------------------

def test_g1a_is_reported_on_a_key_whose_reads_disagree():
    ops = conc(("fail", [ap("x", 1)]), ("ok", [r("x", [1])]), ("ok", [ap("x", 2)]), ("ok", [r("x", [2])]))
    assert types(la, ops, RC) == (False, ["G1a", "incompatible-order"])


def test_g1a_twin_committed_and_agreeing_is_valid():
    ops = conc(("ok", [ap("x", 1)]), ("ok", [r("x", [1])]), ("ok", [ap("x", 2)]), ("ok", [r("x", [1, 2])]))
    assert types(la, ops, SER) == (True, [])


def test_edges_of_a_key_whose_reads_disagree_are_kept():
    # Elle's "contradictory read orders": x's order is its longest read [1 2 3], so T1 -ww-> T2
    # -ww-> T3 -wr(y)-> T1 is G1c although another read of x disagrees
    ops = conc(("ok", [ap("x", 1), r("y", [1])]), ("ok", [ap("x", 2)]), ("ok", [ap("x", 3), ap("y", 1)]),
               ("ok", [r("x", [1, 3])]), ("ok", [r("x", [1, 2, 3])]))
    valid, kinds = types(la, ops, RC)
    assert (valid, kinds) == (False, ["G1c", "incompatible-order"])
    cyc = la.check(ops, RC)["anomalies"]["G1c"][0]
    assert sorted(s["type"] for s in cyc["steps"]) == ["wr", "ww", "ww"]


def test_edges_of_a_key_whose_reads_disagree_twin_is_valid():
    ops = conc(("ok", [ap("x", 1), r("y", [])]), ("ok", [ap("x", 2)]), ("ok", [ap("x", 3), ap("y", 1)]),
               ("ok", [r("x", [1, 2])]), ("ok", [r("x", [1, 2, 3])]))
    assert types(la, ops, SS) == (True, [])


def test_edges_of_a_key_with_duplicate_elements_are_kept():
    # Elle's "duplicated elements": x = [1 2 1] orders x as [1 2] (duplicates dropped): G1c with y
    ops = conc(("ok", [ap("x", 1), r("y", [1])]), ("ok", [ap("x", 2), ap("y", 1)]), ("ok", [r("x", [1, 2, 1])]))
    assert types(la, ops, RC) == (False, ["G-single", "G1c", "duplicate-elements"])


def test_edges_of_a_key_with_duplicate_elements_twin_is_valid():
    ops = conc(("ok", [ap("x", 1), r("y", [])]), ("ok", [ap("x", 2), ap("y", 1)]), ("ok", [r("x", [1, 2])]))
    assert types(la, ops, SS) == (True, [])


def test_an_intermediate_read_is_g1b_and_g_single():
    ops = conc(("ok", [ap("x", 1), ap("x", 2)]), ("ok", [r("x", [1])]))
    assert types(la, ops, SS) == (False, ["G-single", "G1b"])
    assert types(la, ops, "read-uncommitted") == (True, ["G-single", "G1b"])


def test_an_intermediate_read_twin_is_valid():
    assert types(la, conc(("ok", [ap("x", 1), ap("x", 2)]), ("ok", [r("x", [1, 2])])), SS) == (True, [])


def test_lost_update_is_keyed_on_the_first_read():
    # T1's last read before its append shows [0 2], its first [0], as T2's: Elle's lost update
    ops = after(("ok", [ap("x", 0)]), ("ok", [r("x", [0]), r("x", [0, 2]), ap("x", 1)]),
                ("ok", [r("x", [0]), ap("x", 2)]))
    assert types(la, ops, SER) == (False, ["G-single", "internal", "lost-update"])
    assert types(la, ops, "cursor-stability")[0] is False      # lost update alone rules it out


def test_lost_update_twin_reading_the_other_append_first_is_valid():
    ops = after(("ok", [ap("x", 0)]), ("ok", [r("x", [0, 2]), ap("x", 1)]), ("ok", [r("x", [0]), ap("x", 2)]))
    assert types(la, ops, SS) == (True, [])


def test_internal_nil_then_a_value_without_an_own_append():
    # both reads count, as in Elle: nil anti-depends on T1's append, [1] reads from it (G-single)
    ops = conc(("ok", [ap("x", 1)]), ("ok", [r("x", None), r("x", [1])]))
    assert types(la, ops, SER) == (False, ["G-single", "internal"])
    assert types(la, ops, RC) == (True, ["G-single", "internal"])   # non-repeatable reads: allowed


def test_internal_prefix_contradicting_the_own_earlier_read():
    ops = conc(("ok", [ap("x", 1), ap("x", 2)]), ("ok", [ap("x", 0)]),
               ("ok", [r("x", [1, 2]), ap("x", 3), r("x", [0, 2, 3])]))
    valid, kinds = types(la, ops, SER)
    assert not valid and "internal" in kinds


def test_internal_twins_are_valid():
    assert types(la, conc(("ok", [ap("x", 1)]), ("ok", [r("x", [1]), r("x", [1])])), SS) == (True, [])
    assert types(la, conc(("ok", [ap("x", 1), ap("x", 2)]),
                          ("ok", [r("x", [1, 2]), ap("x", 3), r("x", [1, 2, 3])])), SS) == (True, [])


def test_list_element_no_txn_appended_is_garbage_read():
    assert types(la, conc(("ok", [ap("x", 1)]), ("ok", [r("x", [1, 7])])), "read-uncommitted") == \
        (False, ["garbage-read"])
    # also on a key whose reads disagree
    ops = conc(("ok", [ap("x", 1)]), ("ok", [ap("x", 2)]), ("ok", [r("x", [1, 2])]), ("ok", [r("x", [9])]))
    assert "garbage-read" in types(la, ops, "read-uncommitted")[1]


def test_list_element_twin_appended_is_valid():
    assert types(la, conc(("ok", [ap("x", 1)]), ("ok", [ap("x", 7)]), ("ok", [r("x", [1, 7])])), SS) == (True, [])


# --- rw-register ------------------------------------------------------------------------------

def test_register_g1a_from_a_later_read():
    ops = conc(("fail", [w("x", 2)]), ("ok", [r("x", None), r("x", 2)]))
    assert types(rr, ops, RC) == (False, ["G1a", "internal"])


def test_register_g1a_twin_committed_is_valid_under_read_committed():
    assert types(rr, conc(("ok", [w("x", 2)]), ("ok", [r("x", None), r("x", 2)])), RC) == \
        (True, ["G-single", "internal"])


def test_register_g1b_from_a_later_read():
    ops = conc(("ok", [w("x", 1), w("x", 2)]), ("ok", [r("x", None), r("x", 1)]))
    assert types(rr, ops, RC) == (False, ["G-single", "G1b", "internal"])


def test_register_g1b_twin_final_version_is_valid_under_read_committed():
    assert types(rr, conc(("ok", [w("x", 1), w("x", 2)]), ("ok", [r("x", None), r("x", 2)])), RC) == \
        (True, ["G-single", "internal"])


def test_register_two_versions_in_one_txn_is_internal():
    ops = conc(("ok", [w("x", 1)]), ("ok", [w("x", 2)]), ("ok", [r("x", 1), r("x", 2)]))
    assert types(rr, ops, SER) == (False, ["internal"])


def test_register_two_versions_twin_is_valid():
    assert types(rr, conc(("ok", [w("x", 1)]), ("ok", [w("x", 2)]), ("ok", [r("x", 1), r("x", 1)])), SS) == \
        (True, [])


def test_register_lost_update_is_keyed_on_the_first_read():
    ops = after(("ok", [w("x", 0)]), ("ok", [r("x", 0), w("x", 1)]), ("ok", [r("x", 0), r("x", 0), w("x", 2)]))
    assert types(rr, ops, "cursor-stability") == (False, ["lost-update"])


def test_register_lost_update_twin_is_valid():
    ops = hist((0, 0, 5, "ok", [w("x", 0)]), (1, 10, 15, "ok", [r("x", 0), w("x", 1)]),
               (2, 20, 25, "ok", [r("x", 1), w("x", 2)]))
    assert types(rr, ops, SS) == (True, [])


def test_register_value_no_txn_wrote_is_garbage_read():
    assert types(rr, conc(("ok", [w("x", 1)]), ("ok", [r("x", 2)])), "read-uncommitted") == (False, ["garbage-read"])
    assert types(rr, conc(("ok", [w("x", 1)]), ("ok", [r("x", 1)])), SS) == (True, [])


def test_register_writes_follow_reads_assumption():
    # Elle's wfr case (with y = 1 written, so it is no garbage read): T1 read y = 1, then wrote
    # y = 2; T2 read T1's x = 1 and y = 1: only the assumption orders 1 before 2 on y
    ops = conc(("ok", [w("y", 1)]), ("ok", [r("y", 1), w("x", 1), w("y", 2)]), ("ok", [r("x", 1), r("y", 1)]))
    assert types(rr, ops, SER) == (True, [])
    res = rr.check(ops, SER, wfr_keys=True)
    assert (res["valid"], res["anomaly_types"]) == (False, ["G-single"])
    assert "writes-follow-reads" in res["anomalies"]["G-single"][0]["explanation"]


# --- no committed transaction ----------------------------------------------------------------

@pytest.mark.parametrize("checker, f", [(la, "append"), (rr, "w")])
def test_no_committed_transaction_is_unknown(checker, f):
    res = checker.check(conc(("fail", [[f, "x", 1]]), ("info", [[f, "x", 2]])), RC)
    assert res["valid"] == "unknown" and res["anomaly_types"] == []
    assert checker.check(conc(("ok", [[f, "x", 1]]), ("info", [[f, "x", 2]])), RC)["valid"] is True


def _write(tmp_path, ops):
    p = tmp_path / "h.jsonl"
    p.write_text("".join(json.dumps(o) + "\n" for o in ops))
    return str(p)


def harness_check(*args):
    return subprocess.run([sys.executable, "-m", "harness", "check", *args], capture_output=True, text=True,
                          timeout=60)


def test_cli_no_committed_transaction_exits_2(tmp_path):
    p = _write(tmp_path, conc(("fail", [ap("x", 1)])))
    out = harness_check(p)
    assert out.returncode == 2 and "no committed transactions" in out.stderr
    assert harness_check(_write(tmp_path, conc(("ok", [ap("x", 1)])))).returncode == 0


def test_cli_assume_options(tmp_path):
    ops = conc(("ok", [w("y", 1)]), ("ok", [r("y", 1), w("x", 1), w("y", 2)]), ("ok", [r("x", 1), r("y", 1)]))
    p = _write(tmp_path, ops)
    assert harness_check(p, "--model", SER).returncode == 0
    assert harness_check(p, "--model", SER, "--assume", "wfr-keys").returncode == 1
    assert harness_check(p, "--model", SER, "--assume", "sequential-keys,linearizable-keys").returncode == 0
    bad = harness_check(p, "--assume", "wfr-keys,psychic-keys")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "psychic-keys" in bad.stderr
    other = harness_check(p, "--assume", "wfr-keys", "--workload", "list-append")
    assert other.returncode == 2 and "rw-register" in other.stderr


# --- shortest cycle ----------------------------------------------------------------------------

def ring_with_short_cycle(k=200, short=2):
    """A G0 ring through k txns (each appends after its predecessor on key r<i>) whose first
    search start edges lie on the ring only, and, later in the file, a cycle of `short` txns
    through the ring's middle txn, in the same strongly connected component."""
    mops = [[] for _ in range(k)]
    for i in range(k):
        mops[i].append(ap(f"r{i}", 1))
        mops[(i + 1) % k].append(ap(f"r{i}", 2))
    extra = [[] for _ in range(short - 1)]
    members = [mops[k // 2]] + extra
    for j in range(short):             # member j appends 1, member j+1 appends 2 to key q<j>
        members[j].append(ap(f"q{j}", 1))
        members[(j + 1) % short].append(ap(f"q{j}", 2))
    reads = [r(f"r{i}", [1, 2]) for i in range(k)] + [r(f"q{j}", [1, 2]) for j in range(short)]
    return hist(*[(i, 0, 10, "ok", m) for i, m in enumerate(mops + extra + [reads])])


@pytest.mark.parametrize("short", [2, 3])
def test_shortest_cycle_is_reported_in_a_large_component(short):
    res = la.check(ring_with_short_cycle(200, short), "read-uncommitted")
    assert res["anomaly_types"] == ["G0"]
    assert res["search"]["largest_scc"] >= 200
    assert len(res["anomalies"]["G0"][0]["cycle"]) == short


def test_shortest_cycle_twin_without_the_short_cycle_reports_the_ring():
    res = la.check(ring_with_short_cycle(200, 2)[:0] or _ring_only(200), "read-uncommitted")
    assert len(res["anomalies"]["G0"][0]["cycle"]) == 200


def _ring_only(k):
    mops = [[] for _ in range(k)]
    for i in range(k):
        mops[i].append(ap(f"r{i}", 1))
        mops[(i + 1) % k].append(ap(f"r{i}", 2))
    return hist(*[(i, 0, 10, "ok", m) for i, m in enumerate(mops + [[r(f"r{i}", [1, 2]) for i in range(k)]])])


def test_shortest_cycle_search_never_changes_the_verdict_and_keeps_the_budget():
    ops = ring_with_short_cycle(200, 3)
    for budget in (50, 300, 2_000_000):
        res = la.check(ops, "read-uncommitted", budget=budget)
        assert res["search"]["states_visited"] <= budget
        assert res["valid"] in (False, "unknown")
        if res["valid"] is False:
            assert res["anomaly_types"] == ["G0"]


def test_two_txn_realtime_cycle_inside_a_large_component():
    # like Elle's huge-scc.edn: a stale read (rw) of a txn that completed before the reader began
    # sits in a big component; the explanation is the two-txn cycle, not a long one
    ops = ring_with_short_cycle(60, 3)
    n = len(ops)
    ops += [{"index": n, "time": 100, "type": "invoke", "process": 90, "f": "txn", "value": [ap("z", 1)]},
            {"index": n + 1, "time": 105, "type": "ok", "process": 90, "f": "txn", "value": [ap("z", 1)]},
            {"index": n + 2, "time": 110, "type": "invoke", "process": 91, "f": "txn", "value": [r("z", None)]},
            {"index": n + 3, "time": 115, "type": "ok", "process": 91, "f": "txn", "value": [r("z", [])]}]
    res = la.check(ops, SS)
    assert "G-single-realtime" in res["anomaly_types"]
    assert len(res["anomalies"]["G-single-realtime"][0]["cycle"]) == 2
