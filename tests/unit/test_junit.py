"""JUnit XML: parses, one test case per checker and per engine invariant, failures carry the why."""
import xml.etree.ElementTree as ET

from checkers.anomalies import ENGINE_ANOMALIES

from harness.junit import engine_invariants, write_junit

INVARIANTS = list(ENGINE_ANOMALIES)  # every engine invariant gets its own test case


def engine_results(**kw):
    r = {"valid": False, "anomaly_types": ["G1a", "lost-save"], "not": ["read-committed"],
         "anomalies": {"lost-save": [{"explanation": "instance 7: save #12 acknowledged at 3.2 s on n1 vanished",
                                      "ops": [11, 12]}],
                       "G1a": [{"explanation": "T2 read a value a failed T1 wrote", "cycle": []}]},
         "stats": {"txns": 100, "seconds": 12.5, "anomaly_counts": {"lost-save": 3, "G1a": 1}},
         "db": "galera", "workload": "save-resume", "model": "read-committed", "routing": "sticky",
         "nemesis": ["partition"], "seed": 4, "test": "galera-save-resume-sticky-partition",
         "report": "store/x/index.html"}
    r.update(kw)
    return r


def cases(root):
    return {c.get("name"): c for c in root.iter("testcase")}


def test_engine_run_names_each_invariant_and_fails_the_broken_one(tmp_path):
    path = write_junit(engine_results(), tmp_path / "out" / "junit.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.get("tests") == str(2 + len(ENGINE_ANOMALIES)) and root.get("failures") == "3"
    got = cases(root)
    assert set(engine_invariants()) == set(INVARIANTS)
    for inv in INVARIANTS:
        assert f"invariant {inv}" in got, inv
    failure = got["invariant lost-save"].find("failure")
    assert "lost-save broken (3 found)" in failure.get("message")
    assert "save #12 acknowledged at 3.2 s on n1 vanished" in failure.text
    assert all(got[f"invariant {i}"].find("failure") is None for i in INVARIANTS if i != "lost-save")
    checker = got["checker save-resume (read-committed)"].find("failure")
    assert checker.get("message").startswith("INVALID galera/save-resume (partition)")
    assert "G1a" in got["checker list-append (the instances' step lists)"].find("failure").get("message")
    suite = root.find("testsuite")
    assert suite.get("name") == "galera-save-resume-sticky-partition" and suite.get("time") == "12.500"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["report"] == "store/x/index.html" and props["nemesis"] == "partition"


def test_valid_list_append_run_is_one_passing_case(tmp_path):
    r = {"valid": True, "anomaly_types": [], "anomalies": {}, "db": "postgres", "workload": "list-append",
         "model": "strict-serializable", "stats": {"seconds": 3}}
    root = ET.parse(write_junit(r, tmp_path / "j.xml")).getroot()
    got = cases(root)
    assert list(got) == ["checker list-append (strict-serializable)"]
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert list(got["checker list-append (strict-serializable)"]) == []


def test_unknown_verdict_is_an_error_never_a_pass(tmp_path):
    r = engine_results(valid="unknown", anomaly_types=[], anomalies={}, unknown_reason="no acknowledged save")
    root = ET.parse(write_junit(r, tmp_path / "j.xml")).getroot()
    got = cases(root)
    err = got["checker save-resume (read-committed)"].find("error")
    assert err is not None and "no acknowledged save" in err.get("message")
    assert got["invariant divergence"].find("skipped") is not None
    assert root.get("errors") == "1"


def test_several_runs_become_several_suites_and_odd_text_stays_valid_xml(tmp_path):
    bad = engine_results(anomalies={"lost-save": [{"explanation": "value \x00\x07 <&> " + "x" * 9000}]})
    path = write_junit([bad, {"valid": True, "workload": "bank", "db": "mariadb"}], tmp_path / "j.xml")
    root = ET.parse(path).getroot()
    assert [s.get("name") for s in root.findall("testsuite")] == ["galera-save-resume-sticky-partition",
                                                                    "mariadb-bank"]
    text = cases(root)["invariant lost-save"].find("failure").text
    assert "value ?? <&>" in text and len(text) <= 4000
